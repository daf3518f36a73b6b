//! What applications read and set at run time on the landlord: feature flags, the
//! built-in subscription store, and the event log with its delivery cursors.

use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, params};

use super::{SqliteLandlord, bad_row};
use crate::domain::Result;
use crate::domain::event::{Event, EventType};
use crate::store::lock::FileLock;
use crate::store::{EventStore, Exclusive, FlagRecord, FlagStore, SubscriptionRecord, SubscriptionStore};

impl FlagStore for SqliteLandlord {
    fn flags(&self, tenant: &str, module: Option<&str>) -> Result<Vec<FlagRecord>> {
        self.rows(
            "SELECT module, flag, value, updated_at FROM flags WHERE tenant = ?1 AND (?2 IS NULL OR module = ?2) ORDER BY module, flag",
            params![tenant, module],
            |r| Ok(FlagRecord { module: r.get(0)?, flag: r.get(1)?, value: r.get(2)?, updated_at: r.get(3)? }),
        )
    }
}

impl SubscriptionStore for SqliteLandlord {
    fn grant(&self, tenant: &str, module: &str, until: Option<&str>, now: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO subscriptions (tenant, module, granted_at, until, revoked_at) VALUES (?1, ?2, ?3, ?4, NULL)",
            )?
            .execute(params![tenant, module, now, until])?;
            Ok(())
        })
    }

    fn revoke(&self, tenant: &str, module: &str, now: &str) -> Result<bool> {
        self.write(|tx| {
            Ok(tx
                .prepare_cached("UPDATE subscriptions SET revoked_at = ?3 WHERE tenant = ?1 AND module = ?2 AND revoked_at IS NULL")?
                .execute(params![tenant, module, now])?
                > 0)
        })
    }

    fn subscriptions(&self, tenant: &str) -> Result<Vec<SubscriptionRecord>> {
        self.rows(
            "SELECT tenant, module, granted_at, until, revoked_at FROM subscriptions WHERE tenant = ?1 ORDER BY module",
            [tenant],
            |r| {
                Ok(SubscriptionRecord {
                    tenant: r.get(0)?,
                    module: r.get(1)?,
                    granted_at: r.get(2)?,
                    until: r.get(3)?,
                    revoked_at: r.get(4)?,
                })
            },
        )
    }
}

impl EventStore for SqliteLandlord {
    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>> {
        self.rows(
            "SELECT id, at, type, tenant, module, version, job_id, data FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
            params![after, limit as i64],
            |r| {
                let kind: String = r.get(2)?;
                let data: Option<String> = r.get(7)?;
                Ok(Event {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    kind: EventType::parse(&kind).ok_or_else(|| bad_row(format!("unknown event type `{kind}`")))?,
                    tenant: r.get(3)?,
                    module: r.get(4)?,
                    version: r.get(5)?,
                    job_id: r.get(6)?,
                    data: data.and_then(|d| serde_json::from_str(&d).ok()),
                })
            },
        )
    }

    fn data_version(&self) -> Result<i64> {
        self.conn().pragma_query_value(None, "data_version", |r| r.get(0)).map_err(|e| self.err(e))
    }

    fn wait_for_change(&self, seen: i64, timeout: Duration) -> Result<i64> {
        // SQLite announces nothing to other processes: ask, cheaply, until it moves.
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.data_version()?;
            if now != seen || Instant::now() >= deadline {
                return Ok(now);
            }
            std::thread::sleep(Duration::from_millis(50).min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    fn try_exclusive(&self, name: &str) -> Result<Option<Exclusive>> {
        let dir = self.path.parent().map(|p| p.join("locks")).unwrap_or_default();
        match FileLock::acquire(&dir.join(format!("{name}.lock")), Duration::ZERO) {
            Ok(lock) => Ok(Some(Box::new(lock))),
            Err(None) => Ok(None),
            Err(Some(e)) => Err(e),
        }
    }

    fn cursor(&self, name: &str) -> Result<i64> {
        let conn = self.conn();
        conn.prepare_cached("SELECT last_id FROM event_cursors WHERE name = ?1")
            .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
            .map(|v| v.unwrap_or(0))
            .map_err(|e| self.err(e))
    }

    fn set_cursor(&self, name: &str, last_id: i64, now: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO event_cursors (name, last_id, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id, updated_at = excluded.updated_at",
            )?
            .execute(params![name, last_id, now])?;
            Ok(())
        })
    }
}
