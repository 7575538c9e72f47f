//! Neutron's error body: `{"NeutronError": {"type", "message", "detail"}}` with the status
//! Neutron uses for each exception type.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use neutrino_ml2::Error;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl From<neutrino_ml2::store::StoreError> for ApiError {
    fn from(e: neutrino_ml2::store::StoreError) -> Self {
        ApiError(Error::Store(e))
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// A 400 `HTTPBadRequest`.
pub fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(Error::bad_request(message))
}

/// A 400 `InvalidInput`.
pub fn invalid_input(message: impl std::fmt::Display) -> ApiError {
    ApiError(Error::invalid_input(message))
}

/// A 404 for an unknown URL.
pub fn not_found_url() -> ApiError {
    ApiError(Error::neutron(
        "HTTPNotFound",
        404,
        "The resource could not be found.",
    ))
}

/// A 405 for a method a URL does not take, with Neutron's error body (axum's own 405 has
/// none).
pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError(Error::neutron(
        "HTTPMethodNotAllowed",
        405,
        format!("The method {method} is not allowed for this resource."),
    ))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (kind, message) = match &self.0 {
            Error::Store(e) => {
                tracing::error!(error = %e, "request failed in the store");
                (
                    "HTTPInternalServerError",
                    "Request Failed: internal server error while processing your request."
                        .to_string(),
                )
            }
            Error::Neutron { kind, message, .. } => (*kind, message.clone()),
        };
        let body = serde_json::json!({
            "NeutronError": {"type": kind, "message": message, "detail": ""}
        });
        (status, axum::Json(body)).into_response()
    }
}
