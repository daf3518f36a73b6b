//! Bearer tokens: every route but `/healthz` needs one (`modreg token create`), and what
//! it may see and do is checked here, before a handler touches anything. A token scoped
//! to tenants sees nothing of the others: a tenant outside its scope is 403 whether it
//! exists or not, and a job of one is not found.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use crate::server::problem::Problem;
use crate::server::state::AppState;
use crate::store::TokenRecord;

/// Who is calling: the token's name (the actor recorded on its jobs) and its rights.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    /// The tenants it may see and touch; `None`: all of them.
    pub tenants: Option<BTreeSet<String>>,
    pub read_only: bool,
}

impl From<TokenRecord> for Caller {
    fn from(token: TokenRecord) -> Caller {
        Caller {
            name: token.name,
            tenants: (!token.tenants.is_empty()).then(|| token.tenants.into_iter().collect()),
            read_only: token.read_only,
        }
    }
}

impl Caller {
    /// Whether it may see this tenant.
    pub fn sees(&self, tenant: &str) -> bool {
        self.tenants.as_ref().is_none_or(|scope| scope.contains(tenant))
    }

    /// 403 unless it may see this tenant.
    pub fn see(&self, tenant: &str) -> Result<(), Problem> {
        match self.sees(tenant) {
            true => Ok(()),
            false => Err(Problem::forbidden(
                format!("token `{}` may not see tenant `{tenant}`", self.name),
                "use a token whose scope includes the tenant (`modreg token create NAME --tenant T`)",
            )),
        }
    }

    /// 403 unless it may change this tenant.
    pub fn change(&self, tenant: &str) -> Result<(), Problem> {
        self.see(tenant)?;
        self.write()
    }

    /// 403 for a read-only token.
    pub fn write(&self) -> Result<(), Problem> {
        match self.read_only {
            false => Ok(()),
            true => Err(Problem::forbidden(format!("token `{}` is read-only", self.name), "use a token created without `--read-only`")),
        }
    }

    /// 403 for a token scoped to tenants: what every tenant shares (the whole fleet's
    /// statistics).
    pub fn see_everything(&self) -> Result<(), Problem> {
        match self.tenants {
            None => Ok(()),
            Some(_) => Err(Problem::forbidden(
                format!("token `{}` is scoped to tenants, and this covers every tenant", self.name),
                "use a token created without `--tenant`",
            )),
        }
    }
}

/// The bearer token of a request, if it has one.
fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Middleware: finds the token's caller, or answers 401.
pub async fn authenticate(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Result<Response, Problem> {
    let Some(token) = bearer(&request).map(str::to_string) else {
        return Err(Problem::unauthorized("this route needs a bearer token"));
    };
    let found = state.blocking(move |state| crate::ops::token::authenticate(state.base(), &token)).await?;
    let Some(record) = found else {
        return Err(Problem::unauthorized("the bearer token is not known, or was revoked"));
    };
    request.extensions_mut().insert(Caller::from(record));
    Ok(next.run(request).await)
}
