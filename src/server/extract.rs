//! What handlers take from a request, with every rejection a problem body: a JSON body
//! (required, or optional with its defaults), the query string, and `Prefer: wait=N`.
//! Unknown fields are refused (the structs deny them), as unknown manifest keys are.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use crate::server::problem::Problem;

/// A JSON body, required.
pub struct Body<T>(pub T);

/// A JSON body that may be left out (empty, or `null`), meaning its defaults.
pub struct OptionalBody<T>(pub T);

/// The body's media type without its parameters, lowercase (`application/json`); empty
/// without a `Content-Type`.
pub fn media_type(headers: &HeaderMap) -> String {
    let value = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    value.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

fn is_json(headers: &HeaderMap) -> bool {
    let essence = media_type(headers);
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A body: a JSON object (or `null`, where `T` takes it), as the document declares;
/// never an array read as the struct's fields in order.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let malformed = |e: serde_json::Error| Problem::malformed(format!("the JSON body cannot be read: {e}"));
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(malformed)?;
    if !(value.is_object() || value.is_null()) {
        return Err(Problem::malformed("the JSON body must be an object"));
    }
    serde_json::from_value(value).map_err(malformed)
}

/// The body, and whether it says it is JSON.
async fn bytes<S: Send + Sync>(req: Request, state: &S) -> Result<(bool, Bytes), Problem> {
    let json = is_json(req.headers());
    let bytes = Bytes::from_request(req, state).await.map_err(Problem::from)?;
    Ok((json, bytes))
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let (json, bytes) = bytes(req, state).await?;
        if !json {
            return Err(Problem::unsupported("application/json"));
        }
        Ok(Body(parse(&bytes)?))
    }
}

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let (json, bytes) = bytes(req, state).await?;
        if bytes.is_empty() {
            return Ok(OptionalBody(T::default()));
        }
        if !json {
            return Err(Problem::unsupported("application/json"));
        }
        // `null` is a body left out, as the document says (`Option<…>`).
        Ok(OptionalBody(parse::<Option<T>>(&bytes)?.unwrap_or_default()))
    }
}

/// The query string.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let axum::extract::Query(value) = axum::extract::Query::<T>::from_request_parts(parts, state).await.map_err(Problem::from)?;
        Ok(Query(value))
    }
}

/// The path's parameters.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let axum::extract::Path(value) = axum::extract::Path::<T>::from_request_parts(parts, state).await.map_err(Problem::from)?;
        Ok(Path(value))
    }
}

/// The most a request may ask to wait for a busy tenant (`Prefer: wait=N`).
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// `Prefer: wait=N` (RFC 7240): how long to wait for a tenant another job holds before
/// answering 409; none without it. Capped at [`MAX_WAIT`]; unreadable preferences are
/// ignored, as the RFC says.
pub fn preferred_wait(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix("wait="))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .map(|n| Duration::from_secs(n).min(MAX_WAIT))
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_preferences() {
        let mut headers = HeaderMap::new();
        assert_eq!(preferred_wait(&headers), None);
        headers.insert("prefer", "respond-async, wait=5".parse().unwrap());
        assert_eq!(preferred_wait(&headers), Some(Duration::from_secs(5)));
        headers.insert("prefer", "wait=100000".parse().unwrap());
        assert_eq!(preferred_wait(&headers), Some(MAX_WAIT));
        headers.insert("prefer", "wait=soon".parse().unwrap());
        assert_eq!(preferred_wait(&headers), None);
    }

    #[test]
    fn json_media_types() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        headers.insert(header::CONTENT_TYPE, "application/json; charset=utf-8".parse().unwrap());
        assert!(is_json(&headers));
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&headers));
    }
}
