//! Bad clients: bodies over the limit (413, with a length or chunked), a body that
//! never finishes (408 after `--request-timeout`), a head that never finishes (the
//! connection closed after it), and a thousand connections at once.
//! Each answered with a problem body, no panic, nothing written, and the server answers
//! the next request as before.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::{PATIENCE, Reply, problem_body, raw, read_answer, sample, serve, tenants, world};

/// A JSON body `{"name": NAME}` padded with spaces to `size` bytes.
fn padded(name: &str, size: usize) -> String {
    let body = format!(r#"{{"name": "{name}"}}"#);
    format!("{body}{}", " ".repeat(size.saturating_sub(body.len())))
}

/// A whole request with `body`, sent with a `Content-Length` or chunked.
fn request(method: &str, path: &str, token: &str, content_type: &str, body: &str, chunked: bool) -> String {
    let head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\n");
    match chunked {
        false => format!("{head}Content-Length: {}\r\n\r\n{body}", body.len()),
        true => {
            let chunks: String =
                body.as_bytes().chunks(1000).map(|c| format!("{:x}\r\n{}\r\n", c.len(), String::from_utf8_lossy(c))).collect();
            format!("{head}Transfer-Encoding: chunked\r\n\r\n{chunks}0\r\n\r\n")
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_is_413_with_or_without_a_length_and_nothing_is_written() {
    let world = world();
    let (server, api) = serve(&world, &["--body-limit", "1024"]);
    let token = api.token.clone().unwrap();
    let big = padded("initech", 8000);
    // Each sent whole at once: the server answers before it has read the body, and a
    // client still writing when the connection closes would see that instead.
    let requests = [
        ("a tenant, with a length", request("POST", "/v1/tenants", &token, "application/json", &big, false)),
        ("a tenant, chunked", request("POST", "/v1/tenants", &token, "application/json", &big, true)),
        ("an install", request("POST", "/v1/tenants/acme/modules/base/install", &token, "application/json", &big, false)),
        ("a flag, chunked", request("PUT", "/v1/tenants/acme/flags/base/beta", &token, "application/json", &big, true)),
        ("a manifest", request("POST", "/v1/validate", &token, "application/toml", &format!("# {big}"), true)),
    ];
    for (what, request) in requests {
        let reply = raw(&server, &request).await;
        let problem = reply.problem(413, "invalid");
        assert!(problem["hint"].as_str().unwrap().contains("--body-limit"), "{what}: {problem:#}");
        // The body was left unread: the connection cannot carry another request.
        assert_eq!(reply.header("connection"), Some("close"), "{what}: {reply:?}");
    }
    assert!(!tenants(|| world.has_tenant_db("initech")), "nothing was written");
    assert!(world.jobs().is_empty());
    // Just under the limit is taken.
    let added = api.request(Method::POST, "/v1/tenants").header("content-type", "application/json").body(padded("initech", 1000));
    assert_eq!(api.send(added).await.expect(201)["added"], json!(["initech"]));
    let metrics = api.get("/metrics").await.text;
    assert_eq!(sample(&metrics, "modreg_http_requests_total{method=\"POST\",route=\"/v1/tenants\",status=\"413\"}"), 2.0, "{metrics}");
    server.stop(libc::SIGTERM).code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_whose_body_never_finishes_is_408_after_the_request_timeout() {
    let world = world();
    let (server, api) = serve(&world, &["--request-timeout", "1"]);
    let api = api.unpooled();
    let token = api.token.clone().unwrap();
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\": "
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let sent = Instant::now();
    // Another client is served meanwhile.
    assert_eq!(api.get("/v1/tenants").await.status, 200);
    let reply = read_answer(&mut slow).await;
    let waited = sent.elapsed();
    reply.problem(408, "invalid");
    assert_eq!(reply.header("connection"), Some("close"), "{reply:?}");
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(10), "answered after {waited:?}");
    assert!(reply.body.contains("--request-timeout"), "{reply:?}");
    assert_eq!(api.get("/v1/tenants").await.expect(200)["tenants"].as_array().unwrap().len(), 2, "nothing was added");
    let metrics = api.get("/metrics").await.text;
    assert_eq!(sample(&metrics, "modreg_http_requests_total{method=\"POST\",route=\"/v1/tenants\",status=\"408\"}"), 1.0, "{metrics}");
    server.stop(libc::SIGTERM).code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_head_that_never_finishes_is_cut_off_after_the_request_timeout() {
    use tokio::io::AsyncReadExt;
    let world = world();
    let (server, api) = serve(&world, &["--request-timeout", "1"]);
    let api = api.unpooled();
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /v1/tenants HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let sent = Instant::now();
    assert_eq!(api.get("/healthz").await.status, 200, "another client is served meanwhile");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, slow.read_to_end(&mut rest)).await;
    let waited = sent.elapsed();
    assert!(read.is_ok(), "the connection was still open after {PATIENCE:?}");
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(10), "closed after {waited:?}");
    // A head that never ended is no request: nothing is answered, the connection ends.
    assert!(rest.is_empty() || String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 408"), "{}", String::from_utf8_lossy(&rest));
    server.stop(libc::SIGTERM).code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_connections_at_once_are_each_answered_and_the_server_goes_on() {
    const CONNECTIONS: usize = 1000;
    // Each connection is a descriptor here as well as in the server.
    modreg::store::lock::allow_open_files(CONNECTIONS * 2);
    let world = world();
    let (server, api) = serve(&world, &[]);
    let started = Instant::now();
    let mut all = tokio::task::JoinSet::new();
    for i in 0..CONNECTIONS {
        // A client each: a connection each, not a pool's few.
        let api = api.unpooled();
        all.spawn(async move {
            let path = if i % 2 == 0 { "/healthz" } else { "/v1/tenants" };
            let response = api.request(Method::GET, path).send().await;
            match response {
                Ok(response) => {
                    let (status, headers) = (response.status().as_u16(), response.headers().clone());
                    Ok(Reply { status, headers, text: response.text().await.unwrap_or_default() })
                }
                Err(e) => Err(e.to_string()),
            }
        });
    }
    let mut answered = std::collections::BTreeMap::<u16, usize>::new();
    let joined = tokio::time::timeout(PATIENCE * 2, async {
        while let Some(done) = all.join_next().await {
            let reply = done.unwrap().unwrap_or_else(|e| panic!("a connection was not answered: {e}"));
            if reply.status != 200 {
                problem_body(reply.content_type(), &reply.text);
            }
            *answered.entry(reply.status).or_default() += 1;
        }
    })
    .await;
    assert!(joined.is_ok(), "not every connection was answered within {:?}: {answered:?}", PATIENCE * 2);
    assert_eq!(answered.values().sum::<usize>(), CONNECTIONS);
    assert!(answered.get(&200).copied().unwrap_or(0) >= CONNECTIONS * 9 / 10, "mostly served: {answered:?} in {:?}", started.elapsed());
    // And the server goes on as before.
    assert_eq!(api.get("/v1/tenants").await.expect(200)["tenants"].as_array().unwrap().len(), 2);
    assert_eq!(api.install("acme", "base").await["status"], "completed");
    let run = server.stop(libc::SIGTERM);
    run.code(0);
}
