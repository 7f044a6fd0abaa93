//! The REST API: thin handlers over the store, JSON in and out, 4xx with a JSON body for bad
//! requests.

mod error;
mod routes;

pub use error::ApiError;
pub use routes::{configure, ApiState};
