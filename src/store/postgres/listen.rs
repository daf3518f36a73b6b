//! Watching the PostgreSQL landlord for changes, for the library API: a thread of its
//! own on a direct connection that LISTENs for the tenants each change set announces and
//! reports them as they commit, so that reads need no round trip to stay fresh.
//!
//! NOTIFY is lost while a listener is disconnected, so on every (re)connect the thread
//! LISTENs first, then catches up from its cursor through the event log (every change
//! to what a tenant has appends an event, in the same transaction); and it catches up
//! at least every `staleness` besides, which bounds how stale a read can be should a
//! notification go missing for any other reason.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::events::{events_after, last_position, listening, notified};
use super::pg_error;
use crate::domain::Result;
use crate::store::Changed;

type OnChange = Arc<dyn Fn(Changed) + Send + Sync>;

/// The watching thread; dropping this stops it (within a second).
pub(super) struct Watcher {
    stop: Arc<AtomicBool>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Watcher {
    /// Starts watching; returns once the first connection listens (so that no change
    /// committed after this returns goes unheard), or with why it could not connect.
    pub(super) fn start(config: postgres::Config, shown: String, staleness: Duration, on_change: OnChange) -> Result<Watcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let first = listening(&config, &shown)?;
        let watch = Watch { config, shown, staleness: staleness.max(Duration::from_millis(1)), on_change, stop: stop.clone() };
        std::thread::Builder::new()
            .name("modreg-watch".into())
            .spawn(move || watch.run(first))
            .map_err(|e| crate::domain::Error::internal(format!("cannot start the landlord watcher: {e}")))?;
        Ok(Watcher { stop })
    }
}

struct Watch {
    config: postgres::Config,
    shown: String,
    staleness: Duration,
    on_change: OnChange,
    stop: Arc<AtomicBool>,
}

impl Watch {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn run(self, first: postgres::Client) {
        let mut cursor = None;
        let mut client = Some(first);
        while !self.stopped() {
            // The connection broke (or never came): what is cached may be stale, and
            // what changes until the next connect is found by its catch-up.
            let _ = self.connected(client.take(), &mut cursor);
            (self.on_change)(Changed::Everything);
            if !self.stopped() {
                std::thread::sleep(self.staleness.min(Duration::from_millis(250)));
            }
        }
    }

    /// One connection's life: LISTEN, catch up, then report notifications as they come,
    /// catching up at least every `staleness`. Returns when the connection breaks or the
    /// watcher is dropped.
    fn connected(&self, client: Option<postgres::Client>, cursor: &mut Option<i64>) -> Result<()> {
        let mut client = match client {
            Some(client) => client,
            None => listening(&self.config, &self.shown)?,
        };
        match cursor {
            // The first connection: nothing is cached yet, so nothing to catch up.
            None => *cursor = Some(last_position(&mut client, &self.shown)?),
            Some(_) => self.catch_up(&mut client, cursor)?,
        }
        let mut caught_up = Instant::now();
        while !self.stopped() {
            // Wakes at least every second to see whether the registry is gone.
            let wait = self.staleness.saturating_sub(caught_up.elapsed()).min(Duration::from_secs(1));
            for payload in notified(&mut client, wait).map_err(|e| pg_error(&self.shown, e))? {
                (self.on_change)(match payload.as_str() {
                    "" => Changed::Everything,
                    tenant => Changed::Tenant(tenant.to_string()),
                });
            }
            if caught_up.elapsed() >= self.staleness {
                self.catch_up(&mut client, cursor)?;
                caught_up = Instant::now();
            }
        }
        Ok(())
    }

    /// Reports the tenants of the events after the cursor, and moves it past them.
    fn catch_up(&self, client: &mut postgres::Client, cursor: &mut Option<i64>) -> Result<()> {
        loop {
            let events = events_after(client, &self.shown, cursor.unwrap_or(0), 1000)?;
            let Some(last) = events.last() else { return Ok(()) };
            *cursor = Some(last.id);
            for event in &events {
                (self.on_change)(event.tenant.clone().map_or(Changed::Everything, Changed::Tenant));
            }
        }
    }
}
