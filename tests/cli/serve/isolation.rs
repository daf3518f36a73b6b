//! Tenant isolation, the first security property of the API: a token scoped to tenant
//! A gets 403 on every route of tenant B (registered or not), sees only A in lists,
//! jobs, batches and events, and cannot see what covers every tenant. A read-only token
//! reads everything and changes nothing.

use reqwest::Method;
use serde_json::{Value as Json, json};

use super::{Api, Sse, serve, tenants, token, world};
use crate::support::World;

/// A route of one tenant: `{t}` in `path` (and in `body`) stands for it.
struct Route {
    method: Method,
    path: &'static str,
    body: Option<Json>,
    /// It changes something (a read-only token may not use it).
    writes: bool,
    /// The platform's to do, not the tenant's (adding and removing it, its
    /// subscriptions): a token scoped to the tenant may not either.
    platform: bool,
}

fn route(method: Method, path: &'static str, body: Option<Json>, writes: bool) -> Route {
    Route { method, path, body, writes, platform: false }
}

fn platform(method: Method, path: &'static str, body: Option<Json>) -> Route {
    Route { platform: true, ..route(method, path, body, true) }
}

/// Every route that names a tenant, the removal of the tenant last.
fn tenant_routes() -> Vec<Route> {
    vec![
        route(Method::GET, "/v1/tenants/{t}", None, false),
        route(Method::GET, "/v1/tenants/{t}/modules", None, false),
        route(Method::GET, "/v1/tenants/{t}/history", None, false),
        route(Method::GET, "/v1/tenants/{t}/check/base", None, false),
        route(Method::GET, "/v1/tenants/{t}/check/base.beta", None, false),
        route(Method::GET, "/v1/tenants/{t}/flags", None, false),
        route(Method::GET, "/v1/tenants/{t}/subscriptions", None, false),
        route(Method::GET, "/v1/graph?tenant={t}", None, false),
        route(Method::GET, "/v1/jobs?tenant={t}", None, false),
        route(Method::POST, "/v1/tenants/{t}/modules/addon/install?dry_run=true", None, false),
        platform(Method::POST, "/v1/tenants", Some(json!({"name": "{t}"}))),
        route(Method::POST, "/v1/tenants/{t}/modules/addon/install", Some(json!({})), true),
        route(Method::POST, "/v1/tenants/{t}/modules/base/upgrade", None, true),
        route(Method::POST, "/v1/tenants/{t}/modules/base/disable", None, true),
        route(Method::POST, "/v1/tenants/{t}/modules/base/enable", None, true),
        route(Method::PUT, "/v1/tenants/{t}/flags/base/beta", Some(json!({"value": true})), true),
        platform(Method::PUT, "/v1/tenants/{t}/subscriptions/paid", Some(json!({"until": "2099-01-01"}))),
        platform(Method::DELETE, "/v1/tenants/{t}/subscriptions/paid", None),
        route(Method::POST, "/v1/tenants/{t}/modules/base/uninstall", Some(json!({"cascade": true})), true),
        platform(Method::DELETE, "/v1/tenants/{t}", None),
    ]
}

impl Route {
    async fn call(&self, api: &Api, tenant: &str) -> super::Reply {
        let path = self.path.replace("{t}", tenant);
        let mut request = api.request(self.method.clone(), &path);
        if let Some(body) = &self.body {
            request = request.json(&serde_json::from_str::<Json>(&body.to_string().replace("{t}", tenant)).unwrap());
        }
        api.send(request).await
    }

    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// `acme` and `globex` with `base` installed by the server (the batches it remembers),
/// and `addon` on `globex` by the CLI (a batch the server never saw): the world, the
/// server and an admin client, and globex's batches and jobs.
async fn two_tenants() -> (World, crate::support::Server, Api, Vec<String>, Vec<i64>) {
    let world = world();
    let (server, api) = serve(&world, &[]);
    assert_eq!(api.install("acme", "base").await["status"], "completed");
    let globex = api.install("globex", "base").await;
    assert_eq!(globex["status"], "completed");
    world.ok(&["install", "addon", "--tenant", "globex"]);
    let jobs: Vec<Json> = world.jobs().into_iter().filter(|j| j["tenant"] == "globex").collect();
    let mut batches: Vec<String> = jobs.iter().map(|j| j["batch"].as_str().unwrap().to_string()).collect();
    batches.dedup();
    assert_eq!(batches.len(), 2, "{jobs:#?}");
    (world, server, api, batches, jobs.iter().map(|j| j["id"].as_i64().unwrap()).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scoped_token_gets_403_on_every_route_of_another_tenant_and_passes_on_its_own() {
    let (world, _server, admin, _, _) = two_tenants().await;
    let scoped = admin.with(Some(&token(&world, "acme-only", &["--tenant", "acme"])));
    let before = (tenants(|| world.dump("globex")), world.jobs());
    for route in tenant_routes() {
        for other in ["globex", "nobody"] {
            let problem = route.call(&scoped, other).await.problem(403, "forbidden");
            assert_eq!(problem["message"], format!("token `acme-only` may not see tenant `{other}`"), "{}", route.name());
            assert!(problem["hint"].as_str().unwrap().contains("--tenant"), "{problem:#}");
        }
    }
    assert_eq!((tenants(|| world.dump("globex")), world.jobs()), before, "globex untouched");
    assert_eq!(admin.get("/v1/tenants").await.expect(200)["tenants"].as_array().unwrap().len(), 2, "no tenant `nobody` was added");
    // The same routes on its own tenant are let through (whatever they answer then),
    // but for what is the platform's to do: a tenant cannot grant itself a paid module.
    for route in tenant_routes() {
        let reply = route.call(&scoped, "acme").await;
        if route.platform {
            let problem = reply.problem(403, "forbidden");
            assert!(problem["message"].as_str().unwrap().contains("for the platform to do"), "{}: {problem:#}", route.name());
            continue;
        }
        assert!(![401, 403].contains(&reply.status), "{} on acme: {reply:?}", route.name());
        if reply.status == 202 {
            admin.settled(reply.location()).await;
        }
    }
    assert!(tenants(|| world.has_tenant_db("acme")), "a scoped token cannot remove its tenant");
    assert_eq!(admin.get("/v1/tenants/acme/subscriptions").await.expect(200)["subscriptions"], json!([]), "nor grant it a subscription");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scoped_token_sees_only_its_tenants_in_lists_jobs_batches_and_events() {
    let (world, _server, admin, globex_batches, globex_jobs) = two_tenants().await;
    let scoped = admin.with(Some(&token(&world, "acme-only", &["--tenant", "acme"])));
    let everyone: Vec<String> = admin.get("/v1/tenants").await.expect(200)["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(everyone, ["acme", "globex"]);
    let tenants = scoped.get("/v1/tenants").await.expect(200);
    assert_eq!(tenants["tenants"].as_array().unwrap().iter().map(|t| &t["name"]).collect::<Vec<_>>(), [&json!("acme")]);

    let tenant_of = |list: &Json, field: &str| -> Vec<String> {
        list[field].as_array().unwrap().iter().map(|j| j["tenant"].as_str().unwrap_or("(none)").to_string()).collect()
    };
    let all_jobs = admin.get("/v1/jobs").await.expect(200);
    assert!(tenant_of(&all_jobs, "jobs").contains(&"globex".to_string()), "{all_jobs:#}");
    for query in ["/v1/jobs", "/v1/jobs?module=base", "/v1/jobs?status=completed&kind=install", "/v1/jobs?limit=1000"] {
        let jobs = scoped.get(query).await.expect(200);
        assert_eq!(tenant_of(&jobs, "jobs"), ["acme"], "{query}: {jobs:#}");
    }
    for batch in &globex_batches {
        let jobs = scoped.get(&format!("/v1/jobs?batch={batch}")).await.expect(200);
        assert_eq!(jobs["jobs"], json!([]), "{jobs:#}");
        assert_eq!(admin.get(&format!("/v1/batches/{batch}")).await.expect(200)["status"], "completed");
        let problem = scoped.get(&format!("/v1/batches/{batch}")).await.problem(404, "not_found");
        assert_eq!(problem["message"], format!("batch `{batch}` does not exist"), "as if it did not exist");
    }
    for id in &globex_jobs {
        let problem = scoped.get(&format!("/v1/jobs/{id}")).await.problem(404, "not_found");
        assert_eq!(problem["message"], format!("job {id} does not exist"), "as if it did not exist");
        assert!(!problem.to_string().contains("globex"), "nothing of globex leaks: {problem:#}");
    }
    let own = scoped.get("/v1/jobs").await.expect(200)["jobs"][0]["id"].clone();
    assert_eq!(scoped.get(&format!("/v1/jobs/{own}")).await.expect(200)["job"]["tenant"], "acme");

    let events = admin.get("/v1/events?after=0").await.expect(200);
    assert!(tenant_of(&events, "events").contains(&"globex".to_string()), "{events:#}");
    let seen = scoped.get("/v1/events?after=0").await.expect(200);
    assert_eq!(seen["next_after"], events["next_after"], "the cursor moves past what it may not see");
    let seen = tenant_of(&seen, "events");
    assert!(!seen.is_empty() && seen.iter().all(|t| t == "acme"), "{seen:?}");

    // The stream: events of both tenants are made while it runs; it gets acme's only.
    let mut stream = Sse::open(&scoped, "/v1/events/stream?after=0", None).await;
    admin.put("/v1/tenants/globex/flags/base/beta", Some(json!({"value": true}))).await.expect(200);
    admin.put("/v1/tenants/acme/flags/base/beta", Some(json!({"value": true}))).await.expect(200);
    let mut streamed = Vec::new();
    while let Some(event) = stream.next().await {
        streamed.push(event.clone());
        if event.event == "flag.changed" {
            break;
        }
    }
    assert!(streamed.iter().all(|e| e.data["tenant"] == "acme"), "{streamed:#?}");
    assert_eq!(streamed.len(), seen.len() + 1, "every acme event, the new flag last: {streamed:#?}");

    let problem = scoped.get("/v1/stats").await.problem(403, "forbidden");
    assert!(problem["message"].as_str().unwrap().contains("for the platform to do"), "{problem:#}");
    assert_eq!(admin.get("/v1/stats").await.status, 200);
    // The catalog is no tenant's: any token reads it.
    assert_eq!(scoped.get("/v1/modules").await.status, 200);
    assert_eq!(scoped.get("/v1/graph").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_token_reads_everything_and_changes_nothing() {
    let (world, _server, admin, _, _) = two_tenants().await;
    let read_only = admin.with(Some(&token(&world, "auditor", &["--read-only"])));
    let scoped_read_only = admin.with(Some(&token(&world, "acme-auditor", &["--tenant", "acme", "--read-only"])));
    let before = (tenants(|| world.dump("acme")), world.jobs(), admin.get("/v1/events?after=0").await.expect(200));
    for route in tenant_routes() {
        for tenant in ["acme", "globex"] {
            let reply = route.call(&read_only, tenant).await;
            match route.writes {
                true => {
                    let problem = reply.problem(403, "forbidden");
                    assert_eq!(problem["message"], "token `auditor` is read-only", "{}", route.name());
                }
                false => assert_eq!(reply.status, 200, "{} on {tenant}: {reply:?}", route.name()),
            }
        }
        if route.writes {
            route.call(&scoped_read_only, "acme").await.problem(403, "forbidden");
        }
    }
    for path in ["/v1/tenants", "/v1/jobs", "/v1/events", "/v1/stats", "/v1/modules", "/metrics", "/v1/openapi.json"] {
        assert_eq!(read_only.get(path).await.status, 200, "{path}");
    }
    let validate = read_only.post("/v1/validate", Some(json!({"path": "addon"}))).await;
    assert_eq!(validate.status, 200, "validating writes nothing: {validate:?}");
    let after = (tenants(|| world.dump("acme")), world.jobs(), admin.get("/v1/events?after=0").await.expect(200));
    assert_eq!(after, before, "nothing was written");
}
