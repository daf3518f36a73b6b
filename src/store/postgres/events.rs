//! The event log on PostgreSQL, handed out in commit order. Event ids come from a
//! sequence, so a transaction that took a lower id can commit after one that took a
//! higher id: a reader following `id > cursor` would skip the late one. Instead each
//! event keeps the id of the transaction that wrote it (`xid`), and a reader takes only
//! events of transactions older than every transaction still running (below its
//! snapshot's `xmin`), in `(xid, id)` order. Nothing can ever come before an event so
//! handed out, so following the position of the last one seen never skips or repeats
//! one, and no writer waits for another.
//!
//! The xmin is the whole cluster's: a writing transaction open in another database
//! holds back every event newer than it. So a transaction that writes events first
//! takes [`WRITERS`] shared (writers never wait for each other, and take it before they
//! have a transaction id), and a reader that can take it exclusively at once knows that
//! no event writer of this database is in flight: then every committed event is final,
//! and it hands them all out. A command sees its own events at once whenever the
//! landlord is quiet, and the xmin rule bounds the wait when it is not.
//!
//! Every change set also announces the tenants it touched (`NOTIFY modreg_changes`) in
//! its own transaction, which listeners receive when it commits.

use std::time::{Duration, Instant};

use postgres::GenericClient;
use postgres::fallible_iterator::FallibleIterator;

use super::{PostgresLandlord, connect_error, pg_error, text, time};
use crate::domain::event::{Event, EventType};
use crate::domain::{Error, Result};
use crate::store::{EventStore, Exclusive};

/// The channel every change is announced on; the payload is the tenant's name.
pub(super) const CHANNEL: &str = "modreg_changes";

/// The advisory lock event writers hold shared to their commit: `events` in ASCII.
pub(super) const WRITERS: i64 = 0x6576_656e_7473;

/// The events after the event `$1` (or from the start for an id no event has had
/// before it), in commit order: those of transactions below the snapshot's xmin, or
/// all when `$3` (no event writer is in flight).
const EVENTS_AFTER: &str = "
    WITH cursor AS (
        SELECT coalesce((SELECT xid FROM events WHERE id <= $1 ORDER BY id DESC LIMIT 1), '0'::xid8) AS xid
    )
    SELECT e.id, e.at, e.type, e.tenant, e.module, e.version, e.job_id, e.data
    FROM events e, cursor c
    WHERE (e.xid, e.id) > (c.xid, $1) AND ($3 OR e.xid < pg_snapshot_xmin(pg_current_snapshot()))
    ORDER BY e.xid, e.id
    LIMIT $2";

/// The id of the last event handed out (0 when there is none): it moves exactly when
/// new events can be read.
const LAST_POSITION: &str = "
    SELECT id FROM events WHERE ($1 OR xid < pg_snapshot_xmin(pg_current_snapshot())) ORDER BY xid DESC, id DESC LIMIT 1";

/// Runs `read` in a transaction of its own, told whether no event writer is in flight
/// (the exclusive lock came at once; held to the end of the read, it keeps new writers
/// out until then, and the read's snapshot is taken after it).
fn read_events<T>(
    client: &mut impl GenericClient,
    shown: &str,
    read: impl FnOnce(&mut postgres::Transaction<'_>, bool) -> std::result::Result<T, postgres::Error>,
) -> Result<T> {
    let err = |e| pg_error(shown, e);
    let mut tx = client.transaction().map_err(err)?;
    let quiet: bool = tx.query_one("SELECT pg_try_advisory_xact_lock($1)", &[&WRITERS]).map_err(err)?.get(0);
    let value = read(&mut tx, quiet).map_err(err)?;
    tx.commit().map_err(err)?;
    Ok(value)
}

pub(super) fn events_after(client: &mut impl GenericClient, shown: &str, after: i64, limit: usize) -> Result<Vec<Event>> {
    let rows = read_events(client, shown, |tx, quiet| tx.query(EVENTS_AFTER, &[&after, &(limit as i64), &quiet]))?;
    rows.iter()
        .map(|r| {
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
        .collect()
}

pub(super) fn last_position(client: &mut impl GenericClient, shown: &str) -> Result<i64> {
    Ok(read_events(client, shown, |tx, quiet| tx.query_opt(LAST_POSITION, &[&quiet]))?.map_or(0, |r| r.get(0)))
}

/// A connection that listens on [`CHANNEL`].
pub(super) fn listening(config: &postgres::Config, shown: &str) -> Result<postgres::Client> {
    let mut client = config.connect(postgres::NoTls).map_err(|e| connect_error(shown, e))?;
    client.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(|e| pg_error(shown, e))?;
    Ok(client)
}

/// Waits up to `timeout` for a notification; the payloads of it and of the others that
/// arrived with it (empty when none came).
pub(super) fn notified(client: &mut postgres::Client, timeout: Duration) -> std::result::Result<Vec<String>, postgres::Error> {
    let mut notifications = client.notifications();
    let mut payloads = Vec::new();
    let first = notifications.timeout_iter(timeout).next()?;
    if let Some(first) = first {
        payloads.push(first.payload().to_string());
        let mut rest = notifications.iter();
        while let Some(more) = rest.next()? {
            payloads.push(more.payload().to_string());
        }
    }
    Ok(payloads)
}

/// The advisory lock key of an exclusive right: its name, hashed (FNV-1a), in a space
/// of modreg's own (the high bits say `mr`).
fn exclusive_key(name: &str) -> i64 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    ((0x6d72u64 << 48) | (hash & 0x0000_ffff_ffff_ffff)) as i64
}

/// A session-level advisory lock, held on a connection of its own until dropped (or
/// until the process dies and the server ends its session).
struct Held {
    client: super::Client,
    key: i64,
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.client.client().execute("SELECT pg_advisory_unlock($1)", &[&self.key]);
    }
}

impl EventStore for PostgresLandlord {
    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>> {
        events_after(self.client()?.client(), &self.shown, after, limit)
    }

    fn data_version(&self) -> Result<i64> {
        last_position(self.client()?.client(), &self.shown)
    }

    /// Sleeps on the notification channel rather than polling. A notification can
    /// arrive while an older transaction still holds back the new events (they are
    /// not below the xmin yet); then it looks again shortly.
    fn wait_for_change(&self, seen: i64, timeout: Duration) -> Result<i64> {
        let deadline = Instant::now() + timeout;
        let mut listener = self.listener.lock().unwrap_or_else(|p| p.into_inner());
        let mut was_notified = false;
        loop {
            if listener.is_none() {
                *listener = Some(listening(&self.config, &self.shown)?);
            }
            let now = self.data_version()?;
            let left = deadline.saturating_duration_since(Instant::now());
            if now != seen || left.is_zero() {
                return Ok(now);
            }
            let wait = if was_notified { left.min(Duration::from_millis(10)) } else { left };
            let Some(client) = listener.as_mut() else { continue };
            match notified(client, wait) {
                Ok(got) => was_notified |= !got.is_empty(),
                // Listen again on a new connection; what was announced meanwhile is
                // found by the version check.
                Err(_) => *listener = None,
            }
        }
    }

    fn cursor(&self, name: &str) -> Result<i64> {
        Ok(self.rows("SELECT last_id FROM event_cursors WHERE name = $1", &[&name], |r| Ok(r.get(0)))?.into_iter().next().unwrap_or(0))
    }

    fn set_cursor(&self, name: &str, last_id: i64, now: &str) -> Result<()> {
        let now = time(now)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO event_cursors (name, last_id, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id, updated_at = excluded.updated_at",
                &[&name, &last_id, &now],
            )?;
            Ok(())
        })
    }

    fn try_exclusive(&self, name: &str) -> Result<Option<Exclusive>> {
        let key = exclusive_key(name);
        let mut client = self.client()?;
        let got: bool = client.client().query_one("SELECT pg_try_advisory_lock($1)", &[&key]).map_err(|e| self.err(e))?.get(0);
        Ok(got.then(|| Box::new(Held { client, key }) as Exclusive))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_keys_differ_by_name_and_stay_in_modregs_space() {
        let (a, b) = (exclusive_key("event-delivery"), exclusive_key("other"));
        assert_ne!(a, b);
        assert_eq!((a as u64) >> 48, 0x6d72);
        assert_eq!(exclusive_key("event-delivery"), a);
    }
}
