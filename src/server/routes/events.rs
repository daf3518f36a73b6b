//! The event log: `GET /v1/events?after=N` (a page, and the cursor to ask from next),
//! and `GET /v1/events/stream`, Server-Sent Events that resume after `Last-Event-ID`
//! (or `?after=N`) without loss: each event once, in the order the landlord hands them
//! out. A token scoped to tenants gets only their events.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{KeepAlive, Sse};
use futures_util::Stream;

use crate::domain::Error;
use crate::domain::event::Event;
use crate::server::auth::Caller;
use crate::server::extract::Query;
use crate::server::problem::Problem;
use crate::server::routes::{Answer, limit};
use crate::server::state::AppState;

/// The most events one page holds.
const MAX_PAGE: usize = 1000;
/// How long a stream with nothing new waits before it looks again, when nothing woke it.
const STREAM_POLL: Duration = Duration::from_secs(2);

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Events after this one (0, the default: from the start).
    #[param(minimum = 0)]
    after: Option<i64>,
    /// At most this many (default and most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct EventsPage {
    pub events: Vec<Event>,
    /// Ask with `after` set to this for the next page: the last event read (which may be
    /// one of a tenant this token does not see).
    pub next_after: i64,
}

/// Reads up to `limit` events after `after`: those the caller may see, and the cursor
/// past every event read.
fn page(state: &AppState, caller: &Caller, after: i64, limit: usize) -> crate::domain::Result<(Vec<Event>, i64)> {
    let read = state.base().landlord.events_after(after, limit)?;
    let next = read.last().map_or(after, |e| e.id);
    let events: Vec<Event> = read.into_iter().filter(|e| e.tenant.as_deref().is_none_or(|t| caller.sees(t))).collect();
    // Events of no tenant are the catalog's; a scoped token sees only its tenants'.
    let events = match caller.tenants {
        Some(_) => events.into_iter().filter(|e| e.tenant.is_some()).collect(),
        None => events,
    };
    state.metrics.events_delivered(events.len());
    Ok((events, next))
}

/// `after`, which may not be negative.
fn cursor(after: Option<i64>) -> Result<Option<i64>, Problem> {
    match after {
        Some(after) if after < 0 => Err(Error::invalid(format!("`after` must be an event id (0 or more), not {after}")).into()),
        other => Ok(other),
    }
}

/// A page of the event log.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery), responses((status = 200, body = EventsPage)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<EventsQuery>,
) -> Answer<EventsPage> {
    let after = cursor(query.after)?.unwrap_or(0);
    let limit = limit(query.limit, MAX_PAGE, MAX_PAGE)?;
    state
        .blocking(move |state| {
            let (events, next_after) = page(state, &caller, after, limit)?;
            Ok(EventsPage { events, next_after })
        })
        .await
        .map(Json)
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Events after this one; `Last-Event-ID` takes precedence (0: from the start; left
    /// out: only new events).
    #[param(minimum = 0)]
    after: Option<i64>,
}

/// What a stream remembers between events.
struct Follow {
    state: Arc<AppState>,
    caller: Caller,
    after: i64,
    pending: VecDeque<Event>,
}

/// New events as Server-Sent Events: `id` is the event's id, `event` its type, `data`
/// the event as JSON. Reconnect with `Last-Event-ID` to go on where it stopped.
#[utoipa::path(get, path = "/v1/events/stream", tag = "events",
    params(StreamQuery, ("Last-Event-ID" = Option<i64>, Header, description = "The last event received: go on after it", minimum = 0)),
    responses((status = 200, description = "One SSE event per event", content_type = "text/event-stream", body = String)))]
pub async fn stream(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<axum::response::sse::Event, Infallible>>>, Problem> {
    let resume = match headers.get("last-event-id") {
        Some(value) => Some(value.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()).filter(|id| *id >= 0).ok_or_else(|| {
            Problem::malformed("`Last-Event-ID` must be an event id").with_hint("send the `id` of the last event received")
        })?),
        None => None,
    };
    let after = match resume.or(cursor(query.after)?) {
        Some(after) => after,
        None => state.blocking(|state| crate::ops::events::last_id(state.base())).await?,
    };
    let follow = Follow { state, caller, after, pending: VecDeque::new() };
    let events = futures_util::stream::unfold(follow, |mut follow| async move {
        let mut changes = follow.state.changes.subscribe();
        let mut stopping = follow.state.stopping.subscribe();
        loop {
            if let Some(event) = follow.pending.pop_front() {
                let data = serde_json::to_string(&event).unwrap_or_default();
                let sse = axum::response::sse::Event::default().id(event.id.to_string()).event(event.kind.as_str()).data(data);
                return Some((Ok(sse), follow));
            }
            if *stopping.borrow() {
                return None;
            }
            changes.mark_unchanged();
            let (caller, after) = (follow.caller.clone(), follow.after);
            match follow.state.blocking(move |state| page(state, &caller, after, MAX_PAGE)).await {
                Ok((events, next)) => {
                    follow.after = next;
                    follow.pending.extend(events);
                    if next != after {
                        continue;
                    }
                }
                // The landlord is out of reach: the client reconnects with its last id.
                Err(_) => return None,
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = stopping.changed() => {}
                _ = tokio::time::sleep(STREAM_POLL) => {}
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
