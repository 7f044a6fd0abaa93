//! Reads of the REST API.

use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// `GET path` on the origin that served the page, decoded from JSON.
pub async fn get_json<T: DeserializeOwned>(path: &str) -> Result<T, String> {
    let js = |e: wasm_bindgen::JsValue| format!("{e:?}");
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(path))
        .await
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let text = JsFuture::from(response.text().map_err(js)?)
        .await
        .map_err(js)?;
    let text = text.as_string().ok_or("the answer is not text")?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}
