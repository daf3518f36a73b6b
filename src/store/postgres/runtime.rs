//! What applications read and set at run time on the PostgreSQL landlord: feature flags
//! and the built-in subscription store. The event log is in `events`.

use time::Date;

use super::{PostgresLandlord, text, text_opt, time};
use crate::domain::{Error, Result};
use crate::store::{FlagRecord, FlagStore, SubscriptionRecord, SubscriptionStore};

/// A last day, `YYYY-MM-DD`.
fn day(text: &str) -> Result<Date> {
    Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|e| Error::invalid(format!("`{text}` is not a date (YYYY-MM-DD): {e}")))
}

impl FlagStore for PostgresLandlord {
    fn flags(&self, tenant: &str, module: Option<&str>) -> Result<Vec<FlagRecord>> {
        self.rows(
            "SELECT module, flag, value, updated_at FROM flags WHERE tenant = $1 AND ($2::text IS NULL OR module = $2) ORDER BY module, flag",
            &[&tenant, &module],
            |r| Ok(FlagRecord { module: r.get(0), flag: r.get(1), value: r.get(2), updated_at: text(r.get(3)) }),
        )
    }
}

impl SubscriptionStore for PostgresLandlord {
    fn grant(&self, tenant: &str, module: &str, until: Option<&str>, now: &str) -> Result<()> {
        let (until, now) = (until.map(day).transpose()?, time(now)?);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO subscriptions (tenant, module, granted_at, until, revoked_at) VALUES ($1, $2, $3, $4, NULL)
                 ON CONFLICT (tenant, module) DO UPDATE SET granted_at = excluded.granted_at, until = excluded.until, revoked_at = NULL",
                &[&tenant, &module, &now, &until],
            )?;
            Ok(())
        })
    }

    fn revoke(&self, tenant: &str, module: &str, now: &str) -> Result<bool> {
        let now = time(now)?;
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE subscriptions SET revoked_at = $3 WHERE tenant = $1 AND module = $2 AND revoked_at IS NULL",
                &[&tenant, &module, &now],
            )? > 0)
        })
    }

    fn subscriptions(&self, tenant: &str) -> Result<Vec<SubscriptionRecord>> {
        self.rows(
            "SELECT tenant, module, granted_at, until, revoked_at FROM subscriptions WHERE tenant = $1 ORDER BY module",
            &[&tenant],
            |r| {
                Ok(SubscriptionRecord {
                    tenant: r.get(0),
                    module: r.get(1),
                    granted_at: text(r.get(2)),
                    until: r.get::<_, Option<Date>>(3).map(|d| d.to_string()),
                    revoked_at: text_opt(r.get(4)),
                })
            },
        )
    }
}
