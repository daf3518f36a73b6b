//! `modreg token create NAME [--tenant T…] [--read-only]`, `token list`, `token revoke NAME`:
//! the API tokens of `modreg serve` (SPEC §10), and how the server tells whose token a
//! request bears ([`authenticate`]). The landlord keeps a token's SHA-256 digest, never
//! the secret: `create` returns it once, and nothing can show it again.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::domain::name::{TenantName, TokenName};
use crate::domain::suggest::similar;
use crate::domain::{Error, Result};
use crate::ops::Context;
use crate::store::{self, TokenRecord};

/// What every secret starts with, so that one is recognisable in a configuration file
/// or a leaked log, and a scanner can look for it.
pub const PREFIX: &str = "modreg_";

/// Random bytes in a secret: 256 bits, written as 64 hex digits after [`PREFIX`].
const SECRET_BYTES: usize = 32;

/// A token just created: the secret, shown this once, and what the landlord keeps of it.
#[derive(Clone, serde::Serialize)]
pub struct CreatedToken {
    pub token: String,
    #[serde(flatten)]
    pub record: TokenRecord,
}

/// Without the secret: a debug print or a log line must not leak it.
impl fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken").field("token", &format_args!("{PREFIX}…")).field("record", &self.record).finish()
    }
}

/// The hex SHA-256 of a secret: what the landlord keeps and looks tokens up by.
pub fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Shaped as `create` makes secrets: the prefix, then 64 lowercase hex digits.
fn well_formed(secret: &str) -> bool {
    secret
        .strip_prefix(PREFIX)
        .is_some_and(|digits| digits.len() == 2 * SECRET_BYTES && digits.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Creates a token that may see and touch `tenants` (every tenant when empty), or only
/// read when `read_only`. Each named tenant must be registered; a name taken by a token
/// that is not revoked is refused.
pub fn create(ctx: &Context, name: &TokenName, tenants: &[TenantName], read_only: bool) -> Result<CreatedToken> {
    let mut scope: Vec<String> = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        ctx.require_tenant(tenant)?;
        if !scope.iter().any(|t| t == tenant.as_str()) {
            scope.push(tenant.to_string());
        }
    }
    let token = format!("{PREFIX}{}", hex(&store::random_bytes(SECRET_BYTES)?));
    let record = TokenRecord { name: name.to_string(), tenants: scope, read_only, created_at: ctx.now(), revoked_at: None };
    ctx.landlord.create_token(&record, &digest(&token))?;
    Ok(CreatedToken { token, record })
}

/// Every token, revoked ones included, by name: never a secret or a digest.
pub fn list(ctx: &Context) -> Result<Vec<TokenRecord>> {
    ctx.landlord.tokens()
}

/// What `revoke` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenRevokeReport {
    pub name: String,
    /// False: the token was revoked already.
    pub changed: bool,
    /// When it was revoked: now, or before.
    pub revoked_at: String,
}

/// Revokes the active token of that name: from now on no request is accepted with it.
/// A name whose tokens are all revoked already is not an error (nothing to do); a name
/// no token ever had is not found.
pub fn revoke(ctx: &Context, name: &TokenName) -> Result<TokenRevokeReport> {
    let now = ctx.now();
    if ctx.landlord.revoke_token(name.as_str(), &now)? {
        return Ok(TokenRevokeReport { name: name.to_string(), changed: true, revoked_at: now });
    }
    let tokens = ctx.landlord.tokens()?;
    let revoked_at = tokens.iter().filter(|t| t.name == name.as_str()).filter_map(|t| t.revoked_at.clone()).max();
    match revoked_at {
        Some(revoked_at) => Ok(TokenRevokeReport { name: name.to_string(), changed: false, revoked_at }),
        None => {
            let hint = similar("token", name.as_str(), tokens.iter().map(|t| t.name.as_str()))
                .unwrap_or_else(|| "run `modreg token list` to see the tokens".to_string());
            Err(Error::not_found(format!("token `{name}` does not exist")).with_hint(hint))
        }
    }
}

/// The active token whose secret is `bearer` (what follows `Bearer ` in a request's
/// `Authorization` header); `None` for a secret that is revoked, unknown or not shaped
/// as modreg makes them (which costs no query). Lookup is by digest, so comparing what
/// was presented with what is kept reveals nothing about any secret.
pub fn authenticate(ctx: &Context, bearer: &str) -> Result<Option<TokenRecord>> {
    if !well_formed(bearer) {
        return Ok(None);
    }
    ctx.landlord.token_by_digest(&digest(bearer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_sha256_in_lowercase_hex() {
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(digest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn only_secrets_shaped_as_created_are_looked_up() {
        let good = format!("{PREFIX}{}", "0123456789abcdef".repeat(4));
        assert!(well_formed(&good));
        for bad in [
            String::new(),
            PREFIX.to_string(),
            "0123456789abcdef".repeat(4),
            format!("{PREFIX}{}", "0123456789ABCDEF".repeat(4)),
            format!("{PREFIX}{}0", "0123456789abcdef".repeat(4)),
            format!("{PREFIX}{}", &"0123456789abcdef".repeat(4)[1..]),
            format!("Bearer {good}"),
            format!("{good} "),
            format!("{PREFIX}{}é", &"0123456789abcdef".repeat(4)[2..]),
        ] {
            assert!(!well_formed(&bad), "{bad:?}");
        }
    }

    #[test]
    fn a_created_token_does_not_show_its_secret_when_debug_printed() {
        let secret = format!("{PREFIX}{}", "ab".repeat(SECRET_BYTES));
        let record = TokenRecord { name: "ci".into(), tenants: vec![], read_only: true, created_at: "now".into(), revoked_at: None };
        let shown = format!("{:?}", CreatedToken { token: secret.clone(), record });
        assert!(!shown.contains(&secret) && shown.contains("ci"), "{shown}");
    }
}
