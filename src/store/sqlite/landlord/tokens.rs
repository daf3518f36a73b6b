//! API tokens on the landlord: kept by their digests, looked up on every request of
//! `modreg serve` through the unique index on `sha256`.

use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteLandlord, bad_row, to_json};
use crate::domain::Result;
use crate::store::{TokenRecord, TokenStore, token_not_created};

const TOKEN_COLUMNS: &str = "name, tenants, read_only, created_at, revoked_at";

/// The lookup of every request: one row by the unique index on `sha256`.
const BY_DIGEST: &str = "SELECT name, tenants, read_only, created_at, revoked_at FROM tokens WHERE sha256 = ?1 AND revoked_at IS NULL";

fn token_from_row(r: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    let tenants: String = r.get(1)?;
    Ok(TokenRecord {
        name: r.get(0)?,
        tenants: serde_json::from_str(&tenants).map_err(bad_row)?,
        read_only: r.get(2)?,
        created_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

impl TokenStore for SqliteLandlord {
    fn create_token(&self, token: &TokenRecord, sha256: &str) -> Result<()> {
        let name_taken = self.write(|tx| {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO tokens (name, sha256, tenants, read_only, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![token.name, sha256, to_json(&token.tenants), token.read_only, token.created_at, token.revoked_at])?;
            if inserted == 1 {
                return Ok(None);
            }
            let taken = tx
                .prepare_cached("SELECT 1 FROM tokens WHERE name = ?1 AND revoked_at IS NULL")?
                .query_row([&token.name], |_| Ok(()))
                .optional()?
                .is_some();
            Ok(Some(taken))
        })?;
        match name_taken {
            None => Ok(()),
            Some(taken) => Err(token_not_created(&token.name, taken)),
        }
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.rows(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY name, id"), [], token_from_row)
    }

    fn token_by_digest(&self, sha256: &str) -> Result<Option<TokenRecord>> {
        let conn = self.conn();
        conn.prepare_cached(BY_DIGEST).and_then(|mut s| s.query_row([sha256], token_from_row).optional()).map_err(|e| self.err(e))
    }

    fn revoke_token(&self, name: &str, now: &str) -> Result<bool> {
        self.write(|tx| {
            Ok(tx
                .prepare_cached("UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL")?
                .execute(params![name, now])?
                > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_looked_up_by_its_index_not_by_a_scan() {
        let landlord = SqliteLandlord::open_in_memory().unwrap();
        let conn = landlord.conn();
        let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {BY_DIGEST}")).unwrap();
        let steps: Vec<String> = plan.query_map(["00"], |r| r.get(3)).unwrap().map(Result::unwrap).collect();
        assert!(BY_DIGEST.starts_with(&format!("SELECT {TOKEN_COLUMNS} ")));
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert!(steps[0].starts_with("SEARCH tokens USING INDEX") && steps[0].contains("(sha256=?)"), "{steps:?}");
    }
}
