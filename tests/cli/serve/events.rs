//! `/v1/events/stream`: Server-Sent Events that resume after `Last-Event-ID` without
//! loss or repeat, while events are being made by the server itself and by CLI commands
//! (another process, which the server learns of from the landlord).

use std::sync::Arc;

use serde_json::json;

use super::{Sse, SseEvent, serve, world};

/// Flag changes through the API, and tenants added by the CLI, at once.
const FLAG_CHANGES: usize = 40;
const TENANTS_ADDED: usize = 5;

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_resumed_with_last_event_id_misses_and_repeats_nothing_while_events_are_made() {
    let world = world();
    world.ok(&["install", "base", "--tenant", "acme"]);
    let (_server, api) = serve(&world, &[]);
    let world = Arc::new(world);
    let before = api.get("/v1/events?after=0").await.expect(200)["events"].as_array().unwrap().len();
    assert_eq!(before, 3, "two tenants added, one install");

    let producer = api.clone();
    let flags = tokio::spawn(async move {
        for i in 0..FLAG_CHANGES {
            let set = producer.put("/v1/tenants/acme/flags/base/beta", Some(json!({"value": i % 2 == 0}))).await.expect(200);
            assert_eq!(set["changed"], true, "{set:#}");
        }
    });
    let cli = world.clone();
    let tenants = tokio::task::spawn_blocking(move || {
        for i in 0..TENANTS_ADDED {
            cli.ok(&["tenant", "add", &format!("t{i}")]);
        }
    });

    let total = before + FLAG_CHANGES + TENANTS_ADDED;
    let mut seen: Vec<SseEvent> = Vec::new();
    // Three connections: from the start; resumed with `Last-Event-ID` (which wins over
    // `?after=0`); resumed again. Each reads a part, then hangs up.
    let mut stream = Sse::open(&api, "/v1/events/stream?after=0", None).await;
    for _ in 0..10 {
        seen.push(stream.next().await.expect("an event"));
    }
    drop(stream);
    let mut stream = Sse::open(&api, "/v1/events/stream?after=0", Some(seen.last().unwrap().id)).await;
    for _ in 0..15 {
        seen.push(stream.next().await.expect("an event"));
    }
    drop(stream);
    let mut stream = Sse::open(&api, "/v1/events/stream", Some(seen.last().unwrap().id)).await;
    while seen.len() < total {
        seen.push(stream.next().await.expect("an event"));
    }
    flags.await.unwrap();
    tenants.await.unwrap();

    let logged = api.get("/v1/events?after=0").await.expect(200)["events"].as_array().unwrap().clone();
    assert_eq!(logged.len(), total, "{logged:#?}");
    let ids: Vec<i64> = seen.iter().map(|e| e.id).collect();
    let logged_ids: Vec<i64> = logged.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, logged_ids, "each event once, in the log's order");
    for (event, logged) in seen.iter().zip(&logged) {
        assert_eq!(&event.data, logged);
        assert_eq!(event.event, logged["type"].as_str().unwrap(), "the SSE event is the event's type");
    }
    let count = |kind: &str| seen.iter().filter(|e| e.event == kind).count();
    assert_eq!((count("flag.changed"), count("tenant.added")), (FLAG_CHANGES, 2 + TENANTS_ADDED));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_without_a_cursor_starts_with_the_next_event() {
    let world = world();
    let (_server, api) = serve(&world, &[]);
    let last = api.get("/v1/events").await.expect(200)["next_after"].as_i64().unwrap();
    let mut stream = Sse::open(&api, "/v1/events/stream", None).await;
    api.post("/v1/tenants", Some(json!({"name": "initech"}))).await.expect(201);
    let next = stream.next().await.expect("the new event");
    assert_eq!((next.event.as_str(), &next.data["tenant"]), ("tenant.added", &json!("initech")), "{next:#?}");
    assert_eq!(next.id, last + 1, "nothing from before it connected");
}
