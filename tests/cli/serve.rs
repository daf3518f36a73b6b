//! `modreg serve`, the HTTP API of SPEC §10: the real server bound to `127.0.0.1:0` and a
//! real HTTP client (reqwest, and raw sockets where a client must misbehave), judged by
//! status codes, headers and bodies, and by the tenant files and landlord themselves.
//!
//! The map: [`routes`] (every route once, with its shape), [`errors`] (every documented
//! status code, each a problem body), [`isolation`] (a scoped token sees nothing of
//! other tenants, on every route), [`background`] (202 and batches, failures, busy
//! tenants, the actor), [`shutdown`] (SIGTERM with jobs in flight), [`events`] (the SSE
//! stream resuming without loss), [`abuse`] (oversized bodies, slow clients, a
//! thousand connections) and [`described`] (the OpenAPI document, `/metrics`).

mod abuse;
mod background;
mod described;
mod errors;
mod events;
mod isolation;
mod routes;
mod shutdown;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::Value as Json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Server, World, fifo, read_fifo, write_fifo};

/// How long a test waits for the server to reach a state before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// A world with the catalog the server tests share, and tenants `acme` and `globex`:
/// `base` 1.0.0 and 1.1.0 (a table, a flag), `addon` (needs `base ^1`), `legacy`
/// (needs `base <1.1`), `paid` (requires a subscription) and `broken` (its migration
/// fails half-way).
fn world() -> World {
    // On PostgreSQL the world's database is made with the blocking client, which runs a
    // runtime of its own: not on a thread that drives the test's.
    let world = tokio::task::block_in_place(World::new);
    world
        .module("base-1.0.0", "base", "1.0.0")
        .migration("V1__base", "CREATE TABLE base_t (id INTEGER PRIMARY KEY, v TEXT);")
        .flag("beta", false)
        .write();
    world
        .module("base-1.1.0", "base", "1.1.0")
        .migration("V1__base", "CREATE TABLE base_t (id INTEGER PRIMARY KEY, v TEXT);")
        .migration("V2__more", "ALTER TABLE base_t ADD COLUMN w TEXT;")
        .flag("beta", false)
        .write();
    world.module("addon", "addon", "1.0.0").dep("base", "^1").migration("V1__addon", "CREATE TABLE addon_t (x TEXT);").write();
    world.module("legacy", "legacy", "1.0.0").dep("base", "<1.1").migration("V1__legacy", "CREATE TABLE legacy_t (x TEXT);").write();
    world.module("paid", "paid", "1.0.0").subscription().migration("V1__paid", "CREATE TABLE paid_t (x TEXT);").write();
    world
        .module("broken", "broken", "1.0.0")
        .migration("V1__broken", "CREATE TABLE broken_t (x TEXT);\nINSERT INTO no_such_table VALUES (1);")
        .write();
    world.ok(&["tenant", "add", "acme", "globex"]);
    world
}

/// What `look` finds in the world's tenant databases, read off the test's runtime: on
/// PostgreSQL through the blocking client, which runs a runtime of its own.
fn tenants<T>(look: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(look)
}

/// A new token: its secret. `args` after the name: `--tenant T`, `--read-only`.
fn token(world: &World, name: &str, args: &[&str]) -> String {
    let mut all = vec!["token", "create", name];
    all.extend(args);
    world.json(&all)["token"].as_str().expect("a token").to_string()
}

/// The server of `world` (with `args`), and a client with a token that may do anything.
fn serve(world: &World, args: &[&str]) -> (Server, Api) {
    let secret = token(world, "admin", &[]);
    let server = world.serve(args);
    let api = Api::new(&server, Some(&secret));
    (server, api)
}

/// Module `slow`, whose post_install hook says `started` on one pipe and waits for a
/// line on the other: the two pipes.
fn slow_module(world: &World) -> (PathBuf, PathBuf) {
    let (started, go) = (fifo(&world.path().join("slow.started")), fifo(&world.path().join("slow.go")));
    world
        .module("slow", "slow", "1.0.0")
        .migration("V1__slow", "CREATE TABLE slow_t (x TEXT);")
        .hook("post_install", &format!("echo started > {}\nread answer < {}", started.display(), go.display()))
        .write();
    (started, go)
}

/// Reads the pipe without holding up the test's runtime.
async fn started(pipe: &Path) {
    let pipe = pipe.to_path_buf();
    assert_eq!(tokio::task::spawn_blocking(move || read_fifo(&pipe)).await.unwrap(), "started\n");
}

/// Installs `slow` (of [`slow_module`]) on acme and waits until its hook holds the tenant;
/// the 202 answer.
async fn hold_acme(api: &Api, started_pipe: &Path) -> Reply {
    let accepted = api.post("/v1/tenants/acme/modules/slow/install", None).await;
    assert_eq!(accepted.status, 202, "{accepted:?}");
    started(started_pipe).await;
    accepted
}

async fn release(pipe: &Path) {
    let pipe = pipe.to_path_buf();
    tokio::task::spawn_blocking(move || write_fifo(&pipe, "go\n")).await.unwrap();
}

/// An HTTP client of one server, sending one bearer token (or none).
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    fn new(server: &Server, token: Option<&str>) -> Api {
        Api { client: reqwest::Client::new(), base: server.url(""), token: token.map(str::to_string) }
    }

    /// The same server and token, on a connection of its own for each request. A server
    /// with a short `--request-timeout` closes an idle kept-alive connection after it, and
    /// a pooled connection reused at that moment would fail the request.
    fn unpooled(&self) -> Api {
        Api { client: reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("a client"), ..self.clone() }
    }

    /// The same server, with another token (or none).
    fn with(&self, token: Option<&str>) -> Api {
        Api { token: token.map(str::to_string), ..self.clone() }
    }

    /// A request to `path`, with the token.
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the server answers");
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let text = response.text().await.expect("the whole body");
        Reply { status, headers, text }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// POST with a JSON body, or none.
    async fn post(&self, path: &str, body: Option<Json>) -> Reply {
        self.send(with_json(self.request(Method::POST, path), body)).await
    }

    /// PUT with a JSON body, or none.
    async fn put(&self, path: &str, body: Option<Json>) -> Reply {
        self.send(with_json(self.request(Method::PUT, path), body)).await
    }

    /// Installs `module` on `tenant` and waits for its batch: the batch as it ended.
    async fn install(&self, tenant: &str, module: &str) -> Json {
        let accepted = self.post(&format!("/v1/tenants/{tenant}/modules/{module}/install"), None).await;
        accepted.expect(202);
        self.settled(accepted.location()).await
    }

    /// Polls a batch until it is no longer `running`: the batch as it ended.
    async fn settled(&self, location: &str) -> Json {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let batch = self.get(location).await.expect(200);
            if batch["status"] != "running" {
                return batch;
            }
            assert!(Instant::now() < deadline, "batch still running after {PATIENCE:?}: {batch:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn with_json(request: reqwest::RequestBuilder, body: Option<Json>) -> reqwest::RequestBuilder {
    match body {
        Some(body) => request.json(&body),
        None => request,
    }
}

/// A whole answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn content_type(&self) -> &str {
        self.header(CONTENT_TYPE.as_str()).unwrap_or("")
    }

    fn json(&self) -> Json {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// The `Location` header, which must be there.
    #[track_caller]
    fn location(&self) -> &str {
        self.header("location").unwrap_or_else(|| panic!("no Location: {self:?}"))
    }

    /// Requires `status` and a JSON body: the body.
    #[track_caller]
    fn expect(&self, status: u16) -> Json {
        assert_eq!(self.status, status, "{self:?}");
        assert!(self.content_type().starts_with("application/json"), "{self:?}");
        self.json()
    }

    /// Requires `status` and a problem body of `kind` (SPEC §10): the body.
    #[track_caller]
    fn problem(&self, status: u16, kind: &str) -> Json {
        assert_eq!(self.status, status, "{self:?}");
        let problem = problem_body(self.content_type(), &self.text);
        assert_eq!(problem["kind"], kind, "{problem:#}");
        assert_eq!(problem["status"], status, "{problem:#}");
        problem
    }
}

/// Requires an `application/problem+json` body with `kind`, `message`, `status`, `title`
/// and `type` (and `type` naming the kind): the body.
#[track_caller]
fn problem_body(content_type: &str, text: &str) -> Json {
    assert_eq!(content_type, "application/problem+json", "{text}");
    let problem: Json = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    for field in ["kind", "message", "title", "type"] {
        assert!(problem[field].as_str().is_some_and(|v| !v.is_empty()), "no `{field}`: {problem:#}");
    }
    assert!(problem["status"].is_u64(), "no `status`: {problem:#}");
    assert_eq!(problem["type"].as_str().unwrap(), format!("urn:modreg:problem:{}", problem["kind"].as_str().unwrap()), "{problem:#}");
    problem
}

/// An answer read off a raw socket.
#[derive(Debug)]
struct RawReply {
    status: u16,
    head: String,
    body: String,
}

impl RawReply {
    /// A header's value (names compared without case).
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).filter_map(|l| l.split_once(':')).find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
    }

    #[track_caller]
    fn problem(&self, status: u16, kind: &str) -> Json {
        assert_eq!(self.status, status, "{self:?}");
        let problem = problem_body(self.header("content-type").unwrap_or(""), &self.body);
        assert_eq!(problem["kind"], kind, "{problem:#}");
        problem
    }
}

/// Sends `request` as it is (no URL normalised, nothing added) on a new connection,
/// and reads one answer: for what a well-behaved client would not send.
async fn raw(server: &Server, request: &str) -> RawReply {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("send");
    read_answer(&mut stream).await
}

/// Reads one answer with a `Content-Length` (every answer but a stream has one).
async fn read_answer(stream: &mut tokio::net::TcpStream) -> RawReply {
    let mut bytes = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.trim().parse::<usize>().ok());
                if length.is_some_and(|n| body.len() >= n) {
                    return;
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read).await.expect("an answer in time");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no answer: {text:?}"));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {head}"));
    RawReply { status, head: head.to_string(), body: body.to_string() }
}

/// Every job in the landlord, as `jobs list` shows them (oldest first), that is `running`.
fn running_jobs(world: &World) -> Vec<Json> {
    world.jobs().into_iter().filter(|j| j["status"] == "running").collect()
}

/// The value of the Prometheus sample `name{labels}` (0 when absent).
fn sample(metrics: &str, name_and_labels: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap_or_else(|_| panic!("not a number: {v}")))
}

/// One Server-Sent Event of `/v1/events/stream`.
#[derive(Debug, Clone)]
struct SseEvent {
    id: i64,
    event: String,
    data: Json,
}

/// A Server-Sent Events stream, read event by event (keep-alive comments skipped).
struct Sse {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Sse {
    /// Opens `path`, sending `Last-Event-ID` when given; requires 200 and
    /// `text/event-stream`.
    async fn open(api: &Api, path: &str, last_event_id: Option<i64>) -> Sse {
        let mut request = api.request(Method::GET, path);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("the server answers");
        assert_eq!(response.status(), 200, "{response:?}");
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        Sse { response, buffer: Vec::new() }
    }

    /// The next event; none once the server ended the stream. Fails the test when
    /// nothing comes within [`PATIENCE`].
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let frame = String::from_utf8(frame).expect("UTF-8 events");
                let field = |name: &str| frame.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
                if let (Some(id), Some(event), Some(data)) = (field("id:"), field("event:"), field("data:")) {
                    let data = serde_json::from_str(data).unwrap_or_else(|e| panic!("data is not JSON ({e}): {frame}"));
                    return Some(SseEvent { id: id.parse().expect("a numeric id"), event: event.to_string(), data });
                }
                continue;
            }
            match tokio::time::timeout(PATIENCE, self.response.chunk()).await.expect("an event within PATIENCE") {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) | Err(_) => return None,
            }
        }
    }
}
