//! What the server says of itself: `/v1/openapi.json`, an OpenAPI 3.1 document that
//! declares exactly the routes the router has, each authenticated operation with its
//! bearer token and every problem answer; and `/metrics`, Prometheus text whose counters
//! move with the requests and jobs.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value as Json;

use super::{sample, serve, world};

/// Every route of the router, as `src/server/mod.rs` `api()` builds it.
const ROUTES: [(&str, &str); 30] = [
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/v1/openapi.json"),
    ("get", "/v1/modules"),
    ("get", "/v1/modules/{module}"),
    ("get", "/v1/graph"),
    ("post", "/v1/validate"),
    ("get", "/v1/tenants"),
    ("post", "/v1/tenants"),
    ("get", "/v1/tenants/{tenant}"),
    ("delete", "/v1/tenants/{tenant}"),
    ("get", "/v1/tenants/{tenant}/modules"),
    ("get", "/v1/tenants/{tenant}/history"),
    ("get", "/v1/tenants/{tenant}/check/{target}"),
    ("post", "/v1/tenants/{tenant}/modules/{module}/install"),
    ("post", "/v1/tenants/{tenant}/modules/{module}/upgrade"),
    ("post", "/v1/tenants/{tenant}/modules/{module}/uninstall"),
    ("post", "/v1/tenants/{tenant}/modules/{module}/enable"),
    ("post", "/v1/tenants/{tenant}/modules/{module}/disable"),
    ("get", "/v1/batches/{batch}"),
    ("get", "/v1/tenants/{tenant}/flags"),
    ("put", "/v1/tenants/{tenant}/flags/{module}/{flag}"),
    ("get", "/v1/tenants/{tenant}/subscriptions"),
    ("put", "/v1/tenants/{tenant}/subscriptions/{module}"),
    ("delete", "/v1/tenants/{tenant}/subscriptions/{module}"),
    ("get", "/v1/jobs"),
    ("get", "/v1/jobs/{id}"),
    ("get", "/v1/events"),
    ("get", "/v1/events/stream"),
    ("get", "/v1/stats"),
];

/// The answers every authenticated operation declares, each a problem body.
const PROBLEMS: [&str; 9] = ["400", "401", "403", "404", "409", "413", "415", "422", "500"];

/// Every `$ref` in `value`.
fn refs(value: &Json, found: &mut Vec<String>) {
    match value {
        Json::Object(map) => {
            if let Some(Json::String(target)) = map.get("$ref") {
                found.push(target.clone());
            }
            map.values().for_each(|v| refs(v, found));
        }
        Json::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_declares_every_route_with_its_token_and_problem_answers() {
    let world = world();
    let (_server, api) = serve(&world, &[]);
    let doc = api.get("/v1/openapi.json").await.expect(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert_eq!(
        (&doc["info"]["title"], &doc["info"]["version"]),
        (&Json::from("modreg"), &Json::from(env!("CARGO_PKG_VERSION"))),
        "{:#}",
        doc["info"]
    );

    let mut declared = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                declared.insert((method.to_string(), path.clone()));
            }
        }
    }
    let routes: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(declared, routes, "the document and the router's routes");

    // Each is a route of the router: whatever it answers, not "no such route" or 405.
    for (method, path) in ROUTES {
        let concrete = path
            .replace("{tenant}", "globex")
            .replace("{module}", "base")
            .replace("{flag}", "beta")
            .replace("{target}", "base")
            .replace("{id}", "1")
            .replace("{batch}", "none")
            .replace("/stream", "/stream?after=0");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let request = api.request(method.clone(), &concrete);
        let request = match path {
            "/v1/tenants" if method == Method::POST => request.json(&serde_json::json!({"name": "initech"})),
            _ => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = if path == "/v1/events/stream" { String::new() } else { response.text().await.unwrap() };
        assert!(status != 405 && !text.contains("there is no such route"), "{method} {concrete}: {status} {text}");
    }

    let schemes = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!((&schemes["type"], &schemes["scheme"]), (&Json::from("http"), &Json::from("bearer")), "{schemes:#}");
    for (method, path) in ROUTES {
        let operation = &doc["paths"][path][method];
        let security = operation["security"].as_array().unwrap_or_else(|| panic!("{method} {path}: no security"));
        if path == "/healthz" {
            assert_eq!(security, &vec![serde_json::json!({})], "/healthz needs no token");
            continue;
        }
        assert!(security.iter().any(|s| s.get("bearer").is_some()), "{method} {path}: {security:?}");
        for status in PROBLEMS {
            let answer = &operation["responses"][status];
            let schema = &answer["content"]["application/problem+json"]["schema"]["$ref"];
            assert_eq!(schema, "#/components/schemas/ProblemBody", "{method} {path} {status}: {answer:#}");
        }
    }
    for (path, status) in [
        ("/v1/tenants", "201"),
        ("/v1/tenants/{tenant}/modules/{module}/install", "202"),
        ("/v1/tenants/{tenant}/modules/{module}/upgrade", "202"),
        ("/v1/tenants/{tenant}/modules/{module}/uninstall", "202"),
    ] {
        let headers = &doc["paths"][path]["post"]["responses"][status]["headers"];
        assert!(headers.get("Location").is_some(), "{path} {status} declares its Location: {headers:#}");
    }
    // Every reference leads somewhere.
    let mut found = Vec::new();
    refs(&doc, &mut found);
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for target in &found {
        let name = target.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{target}"));
        assert!(schemas.contains_key(name), "{target} is not in components.schemas");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_by_route_and_status_and_jobs_by_kind_and_status() {
    let world = world();
    let (_server, api) = serve(&world, &[]);
    let before = api.get("/metrics").await;
    assert_eq!(before.status, 200);
    assert!(before.content_type().starts_with("text/plain; version=0.0.4"), "{before:?}");
    let tenants_ok = "modreg_http_requests_total{method=\"GET\",route=\"/v1/tenants\",status=\"200\"}";
    let installs = "modreg_jobs_total{kind=\"install\",status=\"completed\"}";
    assert_eq!((sample(&before.text, tenants_ok), sample(&before.text, installs)), (0.0, 0.0), "{}", before.text);

    for _ in 0..3 {
        api.get("/v1/tenants").await.expect(200);
    }
    api.with(None).get("/v1/tenants").await.problem(401, "unauthorized");
    api.get("/v1/tenants/acme/flags").await.expect(200);
    api.get("/v1/nothing").await.problem(404, "not_found");
    assert_eq!(api.install("acme", "addon").await["status"], "completed");
    api.get("/v1/events?after=0").await.expect(200);

    let metrics = api.get("/metrics").await.text;
    let counted = |labels: &str| sample(&metrics, &format!("modreg_http_requests_total{{{labels}}}"));
    assert_eq!(sample(&metrics, tenants_ok), 3.0, "{metrics}");
    assert_eq!(counted("method=\"GET\",route=\"/v1/tenants\",status=\"401\""), 1.0, "{metrics}");
    assert_eq!(counted("method=\"GET\",route=\"/v1/tenants/{tenant}/flags\",status=\"200\""), 1.0, "by route, not by tenant: {metrics}");
    assert_eq!(counted("method=\"GET\",route=\"unmatched\",status=\"404\""), 1.0, "{metrics}");
    assert_eq!(counted("method=\"POST\",route=\"/v1/tenants/{tenant}/modules/{module}/install\",status=\"202\""), 1.0, "{metrics}");
    assert!(!metrics.contains("acme"), "no tenant's name in the metrics: {metrics}");
    assert_eq!(sample(&metrics, installs), 2.0, "base and addon: {metrics}");
    assert_eq!(sample(&metrics, "modreg_job_duration_seconds_count{kind=\"install\"}"), 2.0, "{metrics}");
    assert!(sample(&metrics, "modreg_events_delivered_total") >= 4.0, "{metrics}");
    assert!(sample(&metrics, "modreg_http_request_duration_seconds_count{route=\"/v1/tenants\"}") >= 4.0, "{metrics}");
    for line in metrics.lines().filter(|l| !l.starts_with("# HELP ") && !l.starts_with("# TYPE ")) {
        let value = line.rsplit_once(' ').map(|(_, v)| v).unwrap_or("");
        assert!(value.parse::<f64>().is_ok(), "not a sample: {line}");
    }
}
