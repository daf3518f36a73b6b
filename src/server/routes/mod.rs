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

/// `?module=M`: only this module's part (of a tenant's flags, of its history).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModuleQuery {
    /// Only what concerns this module.
    #[param(pattern = r"^[a-z][a-z0-9_]{0,62}$")]
    module: Option<String>,
}

impl ModuleQuery {
    /// The module asked for, its name checked (422 otherwise).
    pub fn module(&self) -> Result<Option<ModuleName>, Problem> {
        self.module.as_deref().map(module_name).transpose()
    }
}

/// `?limit=N` of a list: `default` when left out, 422 outside 1 to `max`.
pub fn limit(asked: Option<usize>, default: usize, max: usize) -> Result<usize, Problem> {
    match asked.unwrap_or(default) {
        limit if (1..=max).contains(&limit) => Ok(limit),
        limit => Err(crate::domain::Error::invalid(format!("`limit` must be from 1 to {max}, not {limit}")).into()),
    }
}
