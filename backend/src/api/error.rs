use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use layercast_shared::ApiErrorBody;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// No credentials, or ones that are not valid (401).
    #[error("{0}")]
    Unauthorized(String),
    /// A wrong user name or password at login (401, without saying which).
    #[error("wrong user name or password")]
    BadCredentials,
    /// Valid credentials without the role the route needs, or a request refused as unsafe (403).
    #[error("{0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The change contradicts what is stored (a name taken, the last admin removed).
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than {0} bytes (auth.max_body_bytes)")]
    TooLarge(usize),
    #[error("too many failed logins; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::BadCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut answer = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized(_) => {
                answer.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"layercast\""));
            }
            ApiError::TooManyAttempts { retry_after_secs } => {
                answer.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        answer.json(ApiErrorBody {
            error: self.to_string(),
        })
    }
}
