//! `POST /v1/validate`: checks an uploaded manifest (`application/toml`: the manifest
//! alone, against the server's catalog; migrations and hooks it names are not there to
//! check) or a path of the server's modules folder (`application/json`
//! `{"path": "finance"}`: manifests, migrations applied to scratch databases, hooks).
//! 200 when valid; 422 with the diagnostics when not. Nothing is written.

use std::path::{Component, PathBuf};
use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;

use crate::domain::Error;
use crate::ops::validate::ValidateReport;
use crate::server::auth::Caller;
use crate::server::extract::media_type;
use crate::server::problem::Problem;
use crate::server::routes::Answer;
use crate::server::state::AppState;
use crate::store::module_source;

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogPath {
    /// A manifest, module folder or catalog under the server's modules folder, relative to it.
    pub path: String,
}

/// Validates a manifest or a part of the catalog.
#[utoipa::path(post, path = "/v1/validate", tag = "modules",
    request_body(description = "A manifest, or a path of the modules folder", content(
        (String = "application/toml"),
        (CatalogPath = "application/json"),
    )),
    responses((status = 200, body = ValidateReport, description = "Valid (warnings may be listed)")))]
pub async fn validate(
    State(state): State<Arc<AppState>>,
    Extension(_caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer<ValidateReport> {
    let body = body.map_err(Problem::from)?;
    let target = match media_type(&headers).as_str() {
        "application/toml" | "text/toml" => {
            Target::Manifest(String::from_utf8(body.to_vec()).map_err(|_| Problem::malformed("the manifest is not UTF-8 text"))?)
        }
        "application/json" => {
            let request: CatalogPath = crate::server::extract::parse(&body)?;
            Target::Path(catalog_path(&request.path)?)
        }
        _ => return Err(Problem::unsupported("application/toml or application/json")),
    };
    let report = state.blocking(move |state| run(state, target)).await?;
    match report.valid {
        true => Ok(Json(report)),
        false => {
            let errors = report.diagnostics.iter().filter(|d| d.severity == crate::domain::diagnostic::Severity::Error).count();
            let details = serde_json::to_value(&report).map_err(|e| Problem::internal(e.to_string()))?;
            Err(Problem::from(
                Error::invalid(format!("{errors} error(s) in {} module version(s)", report.modules))
                    .with_hint("each diagnostic names its file and line")
                    .with_details(details),
            ))
        }
    }
}

enum Target {
    Manifest(String),
    Path(PathBuf),
}

/// A path under the modules folder: relative, without `..`; not found otherwise.
fn catalog_path(path: &str) -> Result<PathBuf, Problem> {
    let relative = PathBuf::from(path);
    let inside = !path.is_empty() && relative.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    match inside {
        true => Ok(relative),
        // Nothing outside the modules folder is looked at, or said to exist.
        false => Err(Problem::from(
            Error::not_found(format!("`{path}` is not a path inside the modules folder"))
                .with_hint("give a path relative to the server's modules folder, without `..`, e.g. `finance`"),
        )),
    }
}

fn run(state: &AppState, target: Target) -> crate::domain::Result<ValidateReport> {
    let ctx = state.base();
    // What is validated, and the folder its diagnostics name files relative to.
    let scratch;
    let (path, root) = match target {
        Target::Path(relative) => {
            let path = ctx.settings.modules_dir.join(&relative);
            if !path.exists() {
                return Err(Error::not_found(format!("`{}` is not in the modules folder", relative.display()))
                    .with_hint("`GET /v1/modules` lists the catalog; each version's `folder` is its path"));
            }
            (path, ctx.settings.modules_dir.clone())
        }
        Target::Manifest(text) => {
            scratch = tempfile::tempdir().map_err(|e| Error::internal(format!("cannot make a scratch folder: {e}")))?;
            let manifest = scratch.path().join("module.toml");
            std::fs::write(&manifest, text).map_err(|e| Error::internal(format!("cannot write the manifest: {e}")))?;
            (manifest, scratch.path().to_path_buf())
        }
    };
    let mut report = crate::ops::validate::validate(ctx, module_source(vec![path]).as_ref());
    for d in &mut report.diagnostics {
        if let Ok(inner) = d.file.strip_prefix(&root) {
            d.file = inner.to_path_buf();
        }
    }
    Ok(report)
}
