//! Every status code SPEC §10 documents, made to happen: each an
//! `application/problem+json` body with the CLI's `kind`, `message` and `hint`, and
//! nothing written by a refused request. (403 is in `isolation`, 409 busy in
//! `background`, 413 and 408 in `abuse`.)

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value as Json, json};

use super::{Api, raw, serve, tenants, token, world};
use crate::support::World;

/// The names of every file in the data folder, and every job and event: what a
/// refused request must leave as it was.
async fn everything(world: &World, api: &Api) -> (Vec<PathBuf>, Vec<Json>, Json) {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(world.data())
        .into_iter()
        .map(|e| e.unwrap().path().strip_prefix(world.data()).unwrap().to_path_buf())
        .filter(|p| !p.to_string_lossy().ends_with("-shm") && !p.to_string_lossy().ends_with("-wal"))
        .collect();
    files.sort();
    let events = api.get("/v1/events?after=0").await.expect(200)["events"].clone();
    (files, world.jobs(), events)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_body_query_or_path_is_400_and_changes_nothing() {
    let world = world();
    let (_server, api) = serve(&world, &[]);
    let before = everything(&world, &api).await;
    let json_body =
        |path: &str, body: &str| api.request(Method::POST, path).header("content-type", "application/json").body(body.to_string());
    let cases = [
        ("truncated JSON", json_body("/v1/tenants", r#"{"name": "initech""#)),
        ("not JSON", json_body("/v1/tenants", "name=initech")),
        ("a field of the wrong type", json_body("/v1/tenants", r#"{"name": 7}"#)),
        ("a missing field", json_body("/v1/tenants", "{}")),
        ("an unknown field", json_body("/v1/tenants", r#"{"name": "initech", "owner": "bob"}"#)),
        ("an unknown install option", json_body("/v1/tenants/acme/modules/base/install", r#"{"versoin": "^1"}"#)),
        ("an unknown flag field", api.request(Method::PUT, "/v1/tenants/acme/flags/base/beta").json(&json!({"value": true, "why": "x"}))),
        ("a flag value that is not a boolean", api.request(Method::PUT, "/v1/tenants/acme/flags/base/beta").json(&json!({"value": "yes"}))),
        ("an unknown validate field", json_body("/v1/validate", r#"{"path": "addon", "deep": true}"#)),
        ("a limit that is not a number", api.request(Method::GET, "/v1/jobs?limit=many")),
        ("a status that does not exist", api.request(Method::GET, "/v1/jobs?status=exploded")),
        ("an unknown query parameter", api.request(Method::GET, "/v1/jobs?tenant=acme&colour=red")),
        ("a dry run that is not a boolean", api.request(Method::POST, "/v1/tenants/acme/modules/base/install?dry_run=maybe")),
        ("an unknown graph format", api.request(Method::GET, "/v1/graph?format=svg")),
        ("an event cursor that is not a number", api.request(Method::GET, "/v1/events?after=last")),
        ("a Last-Event-ID that is not an id", api.request(Method::GET, "/v1/events/stream").header("last-event-id", "yesterday")),
    ];
    for (what, request) in cases {
        let problem = api.send(request).await.problem(400, "invalid");
        assert!(problem["hint"].is_string(), "{what}: {problem:#}");
    }
    // A path whose parameter does not parse names nothing there is.
    for id in ["first", "0", "99999999999999999999999"] {
        let problem = api.send(api.request(Method::GET, &format!("/v1/jobs/{id}"))).await.problem(404, "not_found");
        let message = problem["message"].as_str().unwrap();
        assert!(message.contains(&format!("job `{id}` does not exist: job ids are whole numbers from 1")), "{problem:#}");
        assert!(!message.contains("Cannot parse") && !message.contains("Invalid URL"), "the framework's words: {problem:#}");
    }
    let problem = api.send(json_body("/v1/tenants", r#"{"name": "initech", "owner": "bob"}"#)).await.problem(400, "invalid");
    assert!(problem["message"].as_str().unwrap().contains("unknown field `owner`"), "says which: {problem:#}");
    assert_eq!(everything(&world, &api).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_a_wrong_one_or_a_revoked_one_is_401_with_www_authenticate() {
    let world = world();
    let (server, api) = serve(&world, &[]);
    let ci = token(&world, "ci", &[]);
    let revoked = api.with(Some(&ci));
    assert_eq!(revoked.get("/v1/tenants").await.status, 200, "known while the server runs");
    world.ok(&["token", "revoke", "ci"]);

    let wrong = format!("modreg_{}", "0".repeat(64));
    let routes = [
        (Method::GET, "/v1/tenants"),
        (Method::POST, "/v1/tenants"),
        (Method::GET, "/v1/modules"),
        (Method::POST, "/v1/tenants/acme/modules/base/install"),
        (Method::GET, "/v1/jobs/1"),
        (Method::GET, "/v1/events/stream"),
        (Method::GET, "/v1/stats"),
        (Method::GET, "/metrics"),
        (Method::GET, "/v1/openapi.json"),
    ];
    let client = reqwest::Client::new();
    for (method, path) in routes {
        let url = server.url(path);
        let requests = [
            ("no token", client.request(method.clone(), &url)),
            ("a wrong token", client.request(method.clone(), &url).bearer_auth(&wrong)),
            ("a revoked token", client.request(method.clone(), &url).bearer_auth(&ci)),
            ("another scheme", client.request(method.clone(), &url).basic_auth("admin", Some(&ci))),
            ("an empty bearer", client.request(method.clone(), &url).header("authorization", "Bearer ")),
        ];
        for (what, request) in requests {
            let reply = api.send(request).await;
            let problem = reply.problem(401, "unauthorized");
            assert_eq!(reply.header("www-authenticate"), Some("Bearer realm=\"modreg\""), "{what} on {method} {path}");
            assert!(problem["hint"].as_str().unwrap().contains("Authorization: Bearer"), "{problem:#}");
        }
    }
    assert_eq!(api.with(None).get("/healthz").await.status, 200, "only /healthz needs no token");
    assert!(!world.jobs().iter().any(|j| j["module"] == "base"), "nothing ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_module_that_requires_a_subscription_is_402_until_it_is_granted() {
    let world = world();
    let (_server, api) = serve(&world, &[]);
    for path in ["/v1/tenants/acme/modules/paid/install", "/v1/tenants/acme/modules/paid/install?dry_run=true"] {
        let problem = api.post(path, None).await.problem(402, "subscription");
        assert!(problem["message"].as_str().unwrap().contains("paid"), "{problem:#}");
    }
    assert!(world.jobs().is_empty(), "refused before any job");
    assert!(!tenants(|| world.has_object("acme", "paid_t")));
    api.put("/v1/tenants/acme/subscriptions/paid", None).await.expect(200);
    assert_eq!(api.install("acme", "paid").await["status"], "completed");
    assert!(tenants(|| world.has_object("acme", "paid_t")));
}

#[tokio::test(flavor = "multi_thread")]
async fn what_does_not_exist_is_404() {
    let world = world();
    let (_server, api) = serve(&world, &[]);
    let cases = [
        (Method::GET, "/v1/tenants/nobody", "tenant `nobody` does not exist"),
        (Method::GET, "/v1/tenants/nobody/modules", "nobody"),
        (Method::GET, "/v1/tenants/nobody/flags", "nobody"),
        (Method::GET, "/v1/tenants/nobody/history", "nobody"),
        (Method::GET, "/v1/tenants/nobody/check/base", "nobody"),
        (Method::POST, "/v1/tenants/nobody/modules/base/install", "nobody"),
        (Method::DELETE, "/v1/tenants/nobody", "nobody"),
        (Method::GET, "/v1/modules/nothing", "nothing"),
        (Method::POST, "/v1/tenants/acme/modules/nothing/install", "nothing"),
        (Method::PUT, "/v1/tenants/acme/subscriptions/nothing", "nothing"),
        (Method::GET, "/v1/jobs/424242", "job 424242"),
        (Method::GET, "/v1/batches/20000101T000000Z-00000000", "batch"),
        (Method::GET, "/v1/graph?tenant=nobody", "nobody"),
        (Method::GET, "/v1/nothing", "no such route"),
        (Method::GET, "/nothing", "no such route"),
        (Method::GET, "/v1/tenants/acme/nothing", "no such route"),
    ];
    for (method, path, says) in cases {
        let problem = api.send(api.request(method.clone(), path)).await.problem(404, "not_found");
        assert!(problem["message"].as_str().unwrap().contains(says), "{method} {path}: {problem:#}");
    }
    let problem = api.post("/v1/validate", Some(json!({"path": "nowhere"}))).await.problem(404, "not_found");
    assert!(problem["hint"].as_str().unwrap().contains("/v1/modules"), "{problem:#}");
    assert!(world.jobs().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn conflicting_dependencies_and_blocking_dependents_are_409() {
    let world = world();
    let (_server, api) = serve(&world, &[]);
    assert_eq!(api.install("acme", "addon").await["status"], "completed");
    let before = tenants(|| world.dump("acme"));

    let conflict = api.post("/v1/tenants/acme/modules/legacy/install", None).await.problem(409, "dependency");
    let message = conflict["message"].as_str().unwrap();
    assert!(message.contains("<1.1") && message.contains("1.1.0"), "names the requirement and what is installed: {conflict:#}");
    let blocked = api.post("/v1/tenants/acme/modules/base/uninstall", None).await.problem(409, "dependency");
    assert!(blocked["message"].as_str().unwrap().contains("addon"), "names the dependent: {blocked:#}");
    let disable = api.post("/v1/tenants/acme/modules/base/disable", None).await.problem(409, "dependency");
    assert!(disable["message"].as_str().unwrap().contains("addon"), "{disable:#}");
    // A downgrade is refused as the CLI refuses it: invalid input (exit 2), so 422.
    let downgrade = api.post("/v1/tenants/acme/modules/base/upgrade", Some(json!({"to": "1.0.0"}))).await.problem(422, "invalid");
    assert!(downgrade["message"].as_str().unwrap().contains("downgrade"), "{downgrade:#}");

    assert_eq!(tenants(|| world.dump("acme")), before, "the tenant file is untouched");
    assert_eq!(world.jobs().len(), 2, "only the install's jobs");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_of_the_wrong_type_is_415() {
    let world = world();
    let (_server, api) = serve(&world, &[]);
    let cases = [
        ("/v1/tenants", Some("text/plain"), r#"{"name": "initech"}"#),
        ("/v1/tenants", None, r#"{"name": "initech"}"#),
        ("/v1/tenants", Some("application/x-www-form-urlencoded"), "name=initech"),
        ("/v1/tenants/acme/modules/base/install", Some("text/plain"), "{}"),
        ("/v1/validate", Some("text/plain"), "[module]"),
        ("/v1/validate", None, "[module]"),
    ];
    for (path, content_type, body) in cases {
        let mut request = api.request(Method::POST, path).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let problem = api.send(request).await.problem(415, "invalid");
        assert!(problem["hint"].as_str().unwrap().contains("Content-Type"), "{path} {content_type:?}: {problem:#}");
    }
    let flag = api.request(Method::PUT, "/v1/tenants/acme/flags/base/beta").header("content-type", "text/plain").body(r#"{"value": true}"#);
    api.send(flag).await.problem(415, "invalid");
    assert!(!tenants(|| world.has_tenant_db("initech")));
    assert!(world.jobs().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_names_and_paths_that_climb_out_are_422_before_anything_is_touched() {
    let world = world();
    let (server, api) = serve(&world, &[]);
    let before = everything(&world, &api).await;
    let paths = [
        (Method::GET, "/v1/tenants/Acme"),
        (Method::GET, "/v1/tenants/..%2F..%2Fetc"),
        (Method::GET, "/v1/tenants/..%2F..%2Fetc/modules"),
        (Method::GET, "/v1/tenants/a%2F..%2Fb/flags"),
        (Method::DELETE, "/v1/tenants/..%2Facme"),
        (Method::POST, "/v1/tenants/..%2F..%2Fetc/modules/base/install"),
        (Method::POST, "/v1/tenants/acme/modules/..%2F..%2Fbase/install"),
        (Method::POST, "/v1/tenants/acme/modules/Base/install"),
        (Method::POST, "/v1/tenants/acme/modules/base%00/enable"),
        (Method::PUT, "/v1/tenants/acme/flags/base/..%2Fbeta"),
        (Method::PUT, "/v1/tenants/acme/subscriptions/..%2F..%2Fpaid"),
        (Method::GET, "/v1/tenants/acme/check/base.Beta"),
        (Method::GET, "/v1/modules/..%2Fbase"),
        (Method::GET, "/v1/jobs?tenant=..%2Facme"),
        (Method::GET, "/v1/graph?tenant=a%2F..%2Fb"),
    ];
    for (method, path) in paths {
        let mut request = api.request(method.clone(), path);
        if method == Method::PUT && path.contains("/flags/") {
            request = request.json(&json!({"value": true}));
        }
        api.send(request).await.problem(422, "invalid");
    }
    for name in ["../evil", "a/../b", "..", "/tmp/evil", "Evil", "evil\u{0}"] {
        api.post("/v1/tenants", Some(json!({"name": name}))).await.problem(422, "invalid");
    }
    // Dot segments sent as they are, which a client library would have normalised away.
    for target in ["/v1/tenants/../modules", "/v1/tenants/%2e%2e/modules", "/v1/tenants/%2E%2E/flags"] {
        let reply = raw(
            &server,
            &format!(
                "GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
                api.token.as_deref().unwrap()
            ),
        )
        .await;
        reply.problem(422, "invalid");
    }
    // A path out of the modules folder is nothing in it: nothing outside is looked at.
    for path in ["../secrets", "/etc", "addon/../../x", ""] {
        let problem = api.post("/v1/validate", Some(json!({"path": path}))).await.problem(404, "not_found");
        assert!(problem["hint"].as_str().unwrap().contains("without `..`"), "{path}: {problem:#}");
    }
    let invalid_values = [
        ("/v1/tenants/acme/modules/base/install", json!({"version": "the newest"})),
        ("/v1/tenants/acme/modules/base/upgrade", json!({"to": "soon"})),
    ];
    for (path, body) in invalid_values {
        api.post(path, Some(body)).await.problem(422, "invalid");
    }
    api.put("/v1/tenants/acme/subscriptions/paid", Some(json!({"until": "tomorrow"}))).await.problem(422, "invalid");
    api.get("/v1/jobs?limit=0").await.problem(422, "invalid");
    api.get("/v1/events?limit=100000").await.problem(422, "invalid");
    api.get("/v1/stats?since=last-week").await.problem(422, "invalid");
    assert_eq!(everything(&world, &api).await, before, "nothing was written");
    assert!(!world.path().join("evil").exists() && !std::path::Path::new("/tmp/evil.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_manifest_uploaded_to_validate_is_422_with_its_diagnostics() {
    let world = world();
    let (_server, api) = serve(&world, &[]);
    let manifest = "[module]\nname = \"uploaded\"\nversion = \"one\"\ndescription = \"d\"\ncolour = \"red\"\n";
    let request = api.request(Method::POST, "/v1/validate").header("content-type", "application/toml").body(manifest);
    let problem = api.send(request).await.problem(422, "invalid");
    let report = &problem["details"];
    assert_eq!(report["valid"], false, "{problem:#}");
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert!(!diagnostics.is_empty(), "{problem:#}");
    for diagnostic in diagnostics {
        assert_eq!(diagnostic["file"], "module.toml", "the scratch folder is not shown: {diagnostic:#}");
        assert!(diagnostic["line"].is_u64(), "names the line: {diagnostic:#}");
    }
    let request = api.request(Method::POST, "/v1/validate").header("content-type", "application/toml").body(vec![0xff, 0xfe, 0x00]);
    api.send(request).await.problem(400, "invalid");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_method_a_route_does_not_take_is_405_with_allow() {
    let world = world();
    let (_server, api) = serve(&world, &[]);
    let cases = [
        (Method::DELETE, "/v1/modules", "GET"),
        (Method::PUT, "/v1/tenants", "POST"),
        (Method::GET, "/v1/tenants/acme/modules/base/install", "POST"),
        (Method::POST, "/v1/jobs/1", "GET"),
        (Method::PATCH, "/v1/tenants/acme", "DELETE"),
        (Method::POST, "/healthz", "GET"),
    ];
    for (method, path, allowed) in cases {
        let reply = api.send(api.request(method.clone(), path)).await;
        reply.problem(405, "invalid");
        let allow = reply.header("allow").unwrap_or_else(|| panic!("no Allow on {method} {path}: {reply:?}"));
        assert!(allow.split(',').any(|m| m.trim() == allowed), "{method} {path}: Allow {allow}");
    }
}
