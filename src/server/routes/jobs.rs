//! The audit trail: `GET /v1/jobs` with the CLI's filters, newest first, and
//! `GET /v1/jobs/{id}` with its steps. A token scoped to tenants sees their jobs only;
//! another tenant's job is not found.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;

use crate::domain::Error;
use crate::domain::job::{JobKind, JobStatus};
use crate::ops::jobs::{JobShowReport, JobsListReport};
use crate::server::auth::Caller;
use crate::server::extract::{Path, Query};
use crate::server::routes::{Answer, limit, module_name, tenant_name};
use crate::server::state::AppState;
use crate::store::JobFilter;

/// The most jobs one answer lists.
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Only this tenant's jobs.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    tenant: Option<String>,
    /// Only this module's jobs.
    #[param(pattern = r"^[a-z][a-z0-9_]{0,62}$")]
    module: Option<String>,
    /// Only jobs in this status.
    #[param(inline)]
    status: Option<JobStatus>,
    /// Only jobs of this kind.
    #[param(inline)]
    kind: Option<JobKind>,
    /// Only the jobs of one batch.
    batch: Option<String>,
    /// At most this many (default 50, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// Recent jobs, newest first.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(JobsQuery), responses((status = 200, body = JobsListReport)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<JobsQuery>,
) -> Answer<JobsListReport> {
    let tenant = query.tenant.as_deref().map(tenant_name).transpose()?;
    if let Some(tenant) = &tenant {
        caller.see(tenant.as_str())?;
    }
    let limit = limit(query.limit, 50, MAX_LIMIT)?;
    let filter = JobFilter {
        tenant: tenant.map(|t| t.to_string()),
        module: query.module.as_deref().map(module_name).transpose()?.map(|m| m.to_string()),
        status: query.status,
        kind: query.kind,
        batch: query.batch,
        limit: Some(limit),
        ..JobFilter::default()
    };
    state
        .blocking(move |state| {
            // A scoped token asking for every tenant: each of its tenants, merged.
            let (Some(scope), None) = (&caller.tenants, &filter.tenant) else {
                return crate::ops::jobs::list(state.base(), &filter);
            };
            let mut jobs = Vec::new();
            for tenant in scope {
                let one = JobFilter { tenant: Some(tenant.clone()), ..filter.clone() };
                jobs.extend(crate::ops::jobs::list(state.base(), &one)?.jobs);
            }
            jobs.sort_by_key(|j| std::cmp::Reverse(j.id));
            jobs.truncate(limit);
            Ok(JobsListReport { jobs })
        })
        .await
        .map(Json)
}

/// A job id in the path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct JobPath {
    /// A job id.
    #[param(minimum = 1)]
    id: i64,
}

/// One job with its steps, durations, error and hook output.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", params(JobPath), responses((status = 200, body = JobShowReport)))]
pub async fn show(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Answer<JobShowReport> {
    let Some(id) = id.parse::<i64>().ok().filter(|id| *id >= 1) else {
        let error = Error::not_found(format!("job `{id}` does not exist: job ids are whole numbers from 1"))
            .with_hint("`GET /v1/jobs` lists recent jobs with their ids");
        return Err(error.into());
    };
    state
        .blocking(move |state| {
            let report = crate::ops::jobs::show(state.base(), id)?;
            match caller.sees(&report.job.job.tenant) {
                true => Ok(report),
                false => Err(Error::not_found(format!("job {id} does not exist"))),
            }
        })
        .await
        .map(Json)
}
