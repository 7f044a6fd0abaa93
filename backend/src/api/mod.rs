//! The REST API: thin handlers over the store, JSON in and out, 4xx with a JSON body for bad
//! requests. Every route is registered in [`configure`], which also builds the OpenAPI
//! document, and every request passes [`auth::guard`] first.

mod analysis;
mod audit;
pub mod auth;
mod error;
pub mod inputs;
pub mod openapi;
pub mod policy;
mod receivers;
mod routes;
mod session;
mod settings;
pub mod sources;
pub mod tokens;
pub mod users;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, HttpRequest, ResponseError};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::AppExt as _;

pub use error::ApiError;
pub use routes::ApiState;

/// Every route of the API (not `/ws` and the dashboard, which the server adds).
pub fn configure(max_body_bytes: usize) -> impl FnOnce(&mut ServiceConfig) {
    move |cfg| {
        cfg.app_data(
            web::QueryConfig::default().error_handler(|err: QueryPayloadError, _| {
                let message = err.to_string();
                rejected(message.clone(), ApiError::BadRequest(message))
            }),
        )
        .app_data(
            web::PathConfig::default().error_handler(|err: PathError, _| {
                let message = err.to_string();
                rejected(message.clone(), ApiError::BadRequest(message))
            }),
        )
        .app_data(
            web::JsonConfig::default()
                .limit(max_body_bytes)
                .error_handler(move |err: JsonPayloadError, _: &HttpRequest| {
                    let error = match &err {
                        JsonPayloadError::Overflow { .. }
                        | JsonPayloadError::OverflowKnownLength { .. } => {
                            ApiError::TooLarge(max_body_bytes)
                        }
                        JsonPayloadError::ContentType => ApiError::BadRequest(
                            "the body must be JSON (Content-Type: application/json)".into(),
                        ),
                        other => ApiError::BadRequest(format!("the body: {other}")),
                    };
                    rejected(err.to_string(), error)
                }),
        )
        .service(routes::health)
        .service(routes::windows)
        .service(routes::layers)
        .service(routes::ingest)
        .service(routes::partition_status)
        .service(routes::late)
        .service(routes::anomalies)
        .service(routes::metrics)
        .service(session::login)
        .service(session::logout)
        .service(session::me)
        .service(users::list_users)
        .service(users::create_user)
        .service(users::get_user)
        .service(users::update_user)
        .service(users::delete_user)
        .service(tokens::list_tokens)
        .service(tokens::create_token_route)
        .service(tokens::revoke_token)
        .service(audit::audit_log)
        .service(inputs::list_capacities)
        .service(inputs::get_capacities)
        .service(inputs::put_capacity)
        .service(inputs::delete_capacity)
        .service(inputs::list_rules)
        .service(inputs::create_rule)
        .service(inputs::get_rule)
        .service(inputs::put_rule)
        .service(inputs::delete_rule)
        .service(inputs::list_groups)
        .service(inputs::get_group)
        .service(inputs::put_group)
        .service(inputs::delete_group)
        .service(analysis::alerts)
        .service(analysis::history)
        .service(analysis::acknowledge)
        .service(analysis::silence)
        .service(analysis::trends)
        .service(analysis::forecast)
        .service(analysis::runway)
        .service(analysis::preview_rule)
        .service(receivers::list_receivers)
        .service(receivers::get_receiver)
        .service(receivers::put_receiver)
        .service(receivers::delete_receiver)
        .service(sources::list_sources)
        .service(sources::get_source)
        .service(sources::put_source)
        .service(sources::delete_source)
        .service(openapi::openapi_json)
        // Last: any other path under /api is a JSON 404, not the dashboard's page.
        .route("/api/{tail:.*}", web::route().to(routes::not_found));
    }
}

fn rejected(cause: String, error: ApiError) -> actix_web::Error {
    actix_web::error::InternalError::from_response(cause, error.error_response()).into()
}

/// The OpenAPI document of [`configure`]'s routes, with their access rules.
pub fn openapi_document(max_body_bytes: usize) -> serde_json::Value {
    let (_, doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(openapi::base_document())
        .configure(configure(max_body_bytes))
        .split_for_parts();
    openapi::finish(doc)
}

/// Adds [`configure`]'s routes to an app (the document is built once, by
/// [`openapi_document`]).
pub fn routes(max_body_bytes: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let mut config = ServiceConfig::new(cfg);
        configure(max_body_bytes)(&mut config);
    }
}
