//! The OpenAPI 3 document at `/api/openapi.json`: generated from the handlers' annotations and
//! their types, then given each operation's access rule from [`super::policy`] (the rule the
//! guard applies), the security schemes, the error answers, and `/ws`.

use actix_web::http::Method;
use actix_web::{get, web, HttpResponse};
use serde_json::{json, Value};
use utoipa::OpenApi;

use super::policy::{self, Access};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "LayerCast",
        description = "Real-time capacity planning for networks, layer by layer. Every operation \
names the role it needs in `x-required-role` (`none`, `viewer` or `admin`); a caller without \
credentials gets 401, one without the role 403, both with `{\"error\": \"...\"}`. Browser \
sessions send their CSRF token as `X-CSRF-Token` with every change."
    ),
    components(schemas(layercast_shared::ApiErrorBody)),
    tags(
        (name = "data", description = "Windows, layers, anomalies, ingest, partitions"),
        (name = "access", description = "Login, users, API tokens, the audit log"),
        (name = "analysis", description = "Capacities, alert rules and precursor groups (admins set them)"),
        (name = "operations", description = "Health, metrics, this document"),
    )
)]
struct Base;

pub fn base_document() -> utoipa::openapi::OpenApi {
    Base::openapi()
}

/// The served document (JSON text, built once at start).
#[derive(Clone)]
pub struct OpenApiJson(pub std::sync::Arc<String>);

const METHODS: [(&str, Method); 5] = [
    ("get", Method::GET),
    ("post", Method::POST),
    ("put", Method::PUT),
    ("delete", Method::DELETE),
    ("patch", Method::PATCH),
];

/// Adds what the annotations do not carry.
pub fn finish(doc: utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    doc["openapi"] = json!("3.1.0");
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "An API token (`layercast token create`, or POST /api/tokens)"},
        "session": {"type": "apiKey", "in": "cookie", "name": super::auth::SESSION_COOKIE,
                    "description": "A browser session (POST /api/login)"},
    });
    if doc["paths"].is_null() {
        doc["paths"] = json!({});
    }
    doc["paths"]["/ws"] = json!({"get": {
        "tags": ["data"],
        "summary": "The live feed (WebSocket)",
        "description": "Upgrades to a WebSocket: see docs/websocket.md. Credentials as for every \
    route, or `?token=`; a browser page's Origin must be the server's own or one of \
    auth.allowed_origins.",
        "operationId": "ws",
        "responses": {
            "101": {"description": "Switching protocols"},
            "400": {"description": "Not a WebSocket upgrade request"},
        },
    }});
    let error = json!({
        "description": "An error, as `{\"error\": \"...\"}`",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiErrorBody"}}},
    });
    let Some(paths) = doc["paths"].as_object_mut() else {
        return doc;
    };
    for (path, item) in paths.iter_mut() {
        for (name, method) in &METHODS {
            let Some(op) = item.get_mut(*name).and_then(Value::as_object_mut) else {
                continue;
            };
            let access = policy::access(method, path);
            op.insert("x-required-role".into(), json!(access.role_name()));
            let security = match access {
                Access::Open => json!([]),
                // Open unless the settings close them: say both.
                Access::Health | Access::Metrics => json!([{}, {"bearer": []}, {"session": []}]),
                Access::Viewer | Access::Admin => json!([{"bearer": []}, {"session": []}]),
            };
            op.insert("security".into(), security);
            let responses = op.entry("responses").or_insert_with(|| json!({}));
            if access != Access::Open {
                responses["401"] = error.clone();
            }
            if access == Access::Admin {
                responses["403"] = error.clone();
            }
            if *name != "get" {
                responses["413"] = error.clone();
            }
            responses["default"] = error.clone();
        }
    }
    doc
}

/// This document.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3 document of this API", content_type = "application/json"))
)]
#[get("/api/openapi.json")]
pub async fn openapi_json(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.as_str().to_owned())
}
