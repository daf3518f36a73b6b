//! Every error the API answers with, as RFC 9457 `application/problem+json`, carrying
//! the same `kind`, `message` and `hint` as the CLI's `--json` error. The one table of
//! status codes is [`status_of`]; the HTTP-only failures (no token, a token that may
//! not, a malformed request, too large, the wrong content type) are built here too, and
//! [`problem_for_bare_errors`] gives the same body to the errors axum and tower answer
//! by themselves (no such route, method not allowed, time out, body too large).

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::{Error, ErrorKind};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error body (RFC 9457), with modreg's `kind`, `message` and `hint`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ProblemBody {
    /// `urn:modreg:problem:<kind>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The status code's reason phrase.
    pub title: String,
    pub status: u16,
    /// The message again, as RFC 9457 names it.
    pub detail: String,
    /// As the CLI's `--json` `error.kind`: `invalid`, `not_found`, `dependency`,
    /// `subscription`, `busy`, `failed`, `storage`, `interrupted`, `internal`, and for
    /// the API alone `unauthorized` and `forbidden`.
    pub kind: String,
    pub message: String,
    pub hint: Option<String>,
    /// Extra facts: the plan and jobs of a failed run, a manifest's diagnostics…
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub details: Option<serde_json::Value>,
}

/// An error answer: a status and its problem body.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
    pub hint: Option<String>,
    pub details: Option<serde_json::Value>,
    /// Headers the answer needs besides its content type (`WWW-Authenticate`).
    pub authenticate: bool,
}

/// The status code of each error kind: the one place that decides it.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Dependency => StatusCode::CONFLICT,
        ErrorKind::Busy => StatusCode::CONFLICT,
        ErrorKind::Subscription => StatusCode::PAYMENT_REQUIRED,
        // The work ran and was rolled back: nothing the request could change.
        ErrorKind::Failed => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Storage | ErrorKind::Interrupted => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Problem {
        Problem {
            status: status_of(e.kind),
            kind: e.kind.as_str(),
            message: e.message,
            hint: e.hint,
            details: e.details,
            authenticate: false,
        }
    }
}

impl Problem {
    fn http(status: StatusCode, kind: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Problem {
        Problem { status, kind, message: message.into(), hint: Some(hint.into()), details: None, authenticate: false }
    }

    /// 400: the request itself is malformed (its JSON, its query, its path).
    pub fn malformed(message: impl Into<String>) -> Problem {
        Problem::http(StatusCode::BAD_REQUEST, "invalid", message, "the API is described at `/v1/openapi.json`")
    }

    /// 401: no token, or one the landlord does not know (or revoked).
    pub fn unauthorized(message: impl Into<String>) -> Problem {
        Problem {
            authenticate: true,
            ..Problem::http(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                message,
                "send `Authorization: Bearer <token>`, with a token from `modreg token create NAME`",
            )
        }
    }

    /// 403: the token may not do this.
    pub fn forbidden(message: impl Into<String>, hint: impl Into<String>) -> Problem {
        Problem::http(StatusCode::FORBIDDEN, "forbidden", message, hint)
    }

    /// 413: the body is larger than `--body-limit`.
    pub fn too_large() -> Problem {
        Problem::http(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid",
            "the request body is larger than the server takes",
            "send a smaller body; the limit is the server's `--body-limit` (default 64 KiB)",
        )
    }

    /// 415: a body of a type this route does not take.
    pub fn unsupported(takes: &str) -> Problem {
        Problem::http(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid",
            format!("this route takes a body of type {takes}"),
            format!("send the body with `Content-Type: {takes}`"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Problem {
        Problem::from(
            Error::internal(message).with_hint("please report it with the request you sent; `modreg recover` cleans up after a job"),
        )
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Problem {
        self.hint = Some(hint.into());
        self
    }

    pub fn body(&self) -> ProblemBody {
        ProblemBody {
            problem_type: format!("urn:modreg:problem:{}", self.kind),
            title: self.status.canonical_reason().unwrap_or("Error").to_string(),
            status: self.status.as_u16(),
            detail: self.message.clone(),
            kind: self.kind.to_string(),
            message: self.message.clone(),
            hint: self.hint.clone(),
            details: self.details.clone(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (self.status, [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))], body).into_response();
        if self.authenticate {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"modreg\""));
        }
        response
    }
}

impl From<BytesRejection> for Problem {
    fn from(rejection: BytesRejection) -> Problem {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Problem::too_large(),
            _ => Problem::malformed(format!("the request body cannot be read: {}", rejection.body_text())),
        }
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Problem {
        Problem::malformed(format!("the query string cannot be read: {}", rejection.body_text()))
    }
}

/// A path whose parameters do not parse names nothing. Said in modreg's words: the
/// framework's ("Invalid URL: Cannot parse …") is no answer to a user.
impl From<PathRejection> for Problem {
    fn from(_: PathRejection) -> Problem {
        Problem::from(
            Error::not_found("there is no such resource: a part of the path is not of the form its route takes")
                .with_hint("the routes and their parameters are listed in `/v1/openapi.json`"),
        )
    }
}

/// Gives the errors answered below the handlers (no such route, method not allowed,
/// request time out, body too large) a problem body, keeping their status and headers
/// (`Allow`); a 408 or 413 closes the connection, and says so.
pub async fn problem_for_bare_errors(mut response: Response) -> Response {
    let status = response.status();
    if matches!(status, StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT) {
        // The request's body was not read to its end, so the connection ends with this
        // answer: said, so that a client does not send its next request on it.
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let typed = response.headers().get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || typed {
        return response;
    }
    let problem = match status {
        StatusCode::NOT_FOUND => {
            Problem::from(Error::not_found("there is no such route").with_hint("the routes are listed in `/v1/openapi.json`"))
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            Problem::http(status, "invalid", "this route does not take that method", "the `Allow` header lists the methods it takes")
        }
        StatusCode::REQUEST_TIMEOUT => Problem::http(
            status,
            "invalid",
            "the request took longer than the server waits for it",
            "send the whole request at once; the limit is `--request-timeout`",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => Problem::too_large(),
        other => Problem::http(other, "invalid", other.canonical_reason().unwrap_or("the request failed"), "see `/v1/openapi.json`"),
    };
    let (mut parts, _) = response.into_parts();
    let fresh = problem.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in fresh.headers() {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, fresh.into_body())
}
