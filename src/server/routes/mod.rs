//! The routes, one file per resource. Each handler checks the caller's rights, parses
//! names (422 before anything is touched, as the CLI's exit 2), runs the use-case on a
//! blocking thread and answers with its report, the JSON shape of SPEC §7.

pub mod events;
pub mod flags;
pub mod health;
pub mod jobs;
pub mod modules;
pub mod operations;
pub mod stats;
pub mod subscriptions;
pub mod tenants;
pub mod validate;

use axum::Json;

use crate::domain::name::{ModuleName, TenantName};
use crate::server::problem::Problem;

/// A handler's answer: its report as JSON, or a problem.
pub type Answer<T> = Result<Json<T>, Problem>;

pub fn tenant_name(name: &str) -> Result<TenantName, Problem> {
    TenantName::parse(name).map_err(|e| Problem::from(crate::domain::Error::from(e)))
}

pub fn module_name(name: &str) -> Result<ModuleName, Problem> {
    ModuleName::parse(name).map_err(|e| Problem::from(crate::domain::Error::from(e)))
}

/// The `Location` of a path under the API.
pub fn location(path: String) -> [(axum::http::HeaderName, String); 1] {
    [(axum::http::header::LOCATION, path)]
}

/// A `YYYY-MM-DD` date of a request's field or parameter `what`.
pub fn date(text: &str, what: &str) -> Result<time::Date, Problem> {
    crate::domain::manifest::parse_date(text).ok_or_else(|| {
        Problem::from(crate::domain::Error::invalid(format!("`{what}` is not a date: `{text}`")).with_hint("write it as YYYY-MM-DD"))
    })
}
