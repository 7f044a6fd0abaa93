//! Calls of the REST API, on the origin that served the page (the session cookie goes along).

use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// An answer that is not a success: its status and the server's `error` text.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The message of an error answer: the server's `{"error": ...}`, or the status when the
/// body is something else (a proxy's page).
pub fn error_message(status: u16, body: &str) -> String {
    serde_json::from_str::<layercast_shared::ApiErrorBody>(body)
        .map(|b| b.error)
        .unwrap_or_else(|_| format!("HTTP {status}"))
}

fn js(e: JsValue) -> ApiFailure {
    ApiFailure {
        status: 0,
        message: format!("{e:?}"),
    }
}

async fn send(request: web_sys::Request) -> Result<String, ApiFailure> {
    let window = web_sys::window().ok_or(ApiFailure {
        status: 0,
        message: "no window".into(),
    })?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    let text = JsFuture::from(response.text().map_err(js)?)
        .await
        .map_err(js)?
        .as_string()
        .unwrap_or_default();
    if response.ok() {
        Ok(text)
    } else {
        Err(ApiFailure {
            status: response.status(),
            message: error_message(response.status(), &text),
        })
    }
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, ApiFailure> {
    serde_json::from_str(text).map_err(|e| ApiFailure {
        status: 0,
        message: e.to_string(),
    })
}

/// `GET path`, decoded from JSON, keeping the status of a refusal (a page tells "not on this
/// server yet", a 404 of a route still to come, from a failure).
pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiFailure> {
    let request = web_sys::Request::new_with_str(path).map_err(js)?;
    decode(&send(request).await?)
}

/// `GET path`, decoded from JSON.
pub async fn get_json<T: DeserializeOwned>(path: &str) -> Result<T, String> {
    let request = web_sys::Request::new_with_str(path).map_err(|e| js(e).message)?;
    let text = send(request).await.map_err(|e| e.message)?;
    decode(&text).map_err(|e| e.message)
}

/// `method path` with a JSON body (or none), sending the session's CSRF token; the answer's
/// text (empty for 204).
pub async fn send_json<B: Serialize>(
    method: &str,
    path: &str,
    body: Option<&B>,
    csrf_token: Option<&str>,
) -> Result<String, ApiFailure> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(js)?;
    if let Some(token) = csrf_token {
        headers.set("X-CSRF-Token", token).map_err(js)?;
    }
    if let Some(body) = body {
        headers
            .set("Content-Type", "application/json")
            .map_err(js)?;
        let text = serde_json::to_string(body).map_err(|e| ApiFailure {
            status: 0,
            message: e.to_string(),
        })?;
        init.set_body(&JsValue::from_str(&text));
    }
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(path, &init).map_err(js)?;
    send(request).await
}

/// [`send_json`], decoding the answer.
pub async fn send_for<B: Serialize, T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<&B>,
    csrf_token: Option<&str>,
) -> Result<T, ApiFailure> {
    decode(&send_json(method, path, body, csrf_token).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_come_from_the_json_body_or_the_status() {
        assert_eq!(
            error_message(401, r#"{"error":"wrong user name or password"}"#),
            "wrong user name or password"
        );
        assert_eq!(error_message(502, "<html>Bad gateway</html>"), "HTTP 502");
    }
}
