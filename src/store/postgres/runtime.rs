//! What applications read and set at run time on the PostgreSQL landlord: feature flags,
//! the built-in subscription store, and the event log with its delivery cursors. Event
//! ids become visible in their order (see `changes`), so readers follow `id > cursor`.

use time::Date;

use super::{PostgresLandlord, text, text_opt, time};
use crate::domain::event::{Event, EventType};
use crate::domain::{Error, Result};
use crate::store::{EventStore, FlagRecord, FlagStore, SubscriptionRecord, SubscriptionStore};

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

impl EventStore for PostgresLandlord {
    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>> {
        let sql = "SELECT id, at, type, tenant, module, version, job_id, data FROM events WHERE id > $1 ORDER BY id LIMIT $2";
        self.rows(sql, &[&after, &(limit as i64)], |r| {
            let kind: String = r.get(2);
            Ok(Event {
                id: r.get(0),
                at: text(r.get(1)),
                kind: EventType::parse(&kind)
                    .ok_or_else(|| Error::internal(format!("the landlord holds an unknown event type `{kind}`")))?,
                tenant: r.get(3),
                module: r.get(4),
                version: r.get(5),
                job_id: r.get(6),
                data: r.get(7),
            })
        })
    }

    /// The last event's id: every change to what a tenant has appends one, and ids
    /// become visible in their order.
    fn data_version(&self) -> Result<i64> {
        Ok(self.rows("SELECT coalesce(max(id), 0) FROM events", &[], |r| Ok(r.get::<_, i64>(0)))?.into_iter().next().unwrap_or(0))
    }

    fn cursor(&self, name: &str) -> Result<i64> {
        Ok(self.rows("SELECT last_id FROM event_cursors WHERE name = $1", &[&name], |r| Ok(r.get(0)))?.into_iter().next().unwrap_or(0))
    }

    fn set_cursor(&self, name: &str, last_id: i64, now: &str) -> Result<()> {
        let now = time(now)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO event_cursors (name, last_id, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET last_id = greatest(event_cursors.last_id, excluded.last_id), updated_at = excluded.updated_at",
                &[&name, &last_id, &now],
            )?;
            Ok(())
        })
    }
}
