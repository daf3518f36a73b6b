//! API tokens on the PostgreSQL landlord: kept by their digests, looked up on every
//! request of `modreg serve` in one prepared statement on the unique index of `sha256`.

use super::{PostgresLandlord, bad_json, text, text_opt, time};
use crate::domain::Result;
use crate::store::{TokenRecord, TokenStore, token_not_created};

const TOKEN_COLUMNS: &str = "name, tenants, read_only, created_at, revoked_at";

fn token_from_row(r: &postgres::Row) -> Result<TokenRecord> {
    Ok(TokenRecord {
        name: r.get(0),
        tenants: serde_json::from_value(r.get(1)).map_err(|e| bad_json("a token's tenants", e))?,
        read_only: r.get(2),
        created_at: text(r.get(3)),
        revoked_at: text_opt(r.get(4)),
    })
}

impl TokenStore for PostgresLandlord {
    fn create_token(&self, token: &TokenRecord, sha256: &str) -> Result<()> {
        let (created_at, revoked_at) = (time(&token.created_at)?, token.revoked_at.as_deref().map(time).transpose()?);
        let tenants = serde_json::Value::from(token.tenants.clone());
        let name_taken = self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO tokens (name, sha256, tenants, read_only, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT DO NOTHING",
                &[&token.name, &sha256, &tenants, &token.read_only, &created_at, &revoked_at],
            )?;
            if inserted == 1 {
                return Ok(None);
            }
            let row = tx.query_one("SELECT EXISTS (SELECT 1 FROM tokens WHERE name = $1 AND revoked_at IS NULL)", &[&token.name])?;
            Ok(Some(row.get::<_, bool>(0)))
        })?;
        match name_taken {
            None => Ok(()),
            Some(taken) => Err(token_not_created(&token.name, taken)),
        }
    }

    /// Names in byte order, as SQLite sorts them, whatever the database's locale.
    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.rows(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY name COLLATE \"C\", id"), &[], token_from_row)
    }

    fn token_by_digest(&self, sha256: &str) -> Result<Option<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE sha256 = $1 AND revoked_at IS NULL");
        Ok(self.rows(&sql, &[&sha256], token_from_row)?.into_iter().next())
    }

    fn revoke_token(&self, name: &str, now: &str) -> Result<bool> {
        let now = time(now)?;
        self.write(|tx| Ok(tx.execute("UPDATE tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL", &[&name, &now])? > 0))
    }
}
