//! Every route of the API answers its success with the JSON shapes of SPEC §7, a
//! `Location` on 201 and 202, and does what it says to the tenant file and landlord.

use serde_json::{Value as Json, json};

use super::{Sse, serve, tenants, world};

fn names(list: &Json, field: &str) -> Vec<String> {
    list[field]
        .as_array()
        .unwrap_or_else(|| panic!("no `{field}` list: {list:#}"))
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_routes_answer_modules_graph_and_validation() {
    let world = world();
    world.write("modules/misnamed/module.toml", "[module]\nname = \"Misnamed\"\nversion = \"1.0.0\"\n");
    let (_server, api) = serve(&world, &[]);

    let health = api.with(None).get("/healthz").await.expect(200);
    assert_eq!(health["status"], "ok", "no token needed: {health}");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));

    let modules = api.get("/v1/modules").await.expect(200);
    assert_eq!(names(&modules, "modules"), ["addon", "base", "broken", "legacy", "paid"]);
    let base = &modules["modules"][1];
    assert_eq!((&base["versions"], &base["latest"]), (&json!(["1.0.0", "1.1.0"]), &json!("1.1.0")), "{base:#}");
    assert_eq!(modules["modules"][0]["dependencies"], json!({"base": "^1"}));
    assert_eq!(modules["modules"][4]["requires_subscription"], true);

    let shown = api.get("/v1/modules/base").await.expect(200);
    assert_eq!((&shown["name"], &shown["latest"]), (&json!("base"), &json!("1.1.0")), "{shown:#}");
    assert_eq!(shown["versions"].as_array().unwrap().len(), 2, "{shown:#}");
    assert_eq!(shown["dependents"], json!(["addon", "legacy"]));
    // Where the catalog is on the host is not the client's business: folders and the
    // files of diagnostics are relative to the modules folder.
    for version in shown["versions"].as_array().unwrap() {
        let folder = version["folder"].as_str().unwrap();
        assert!(!folder.starts_with('/') && world.modules().join(folder).join("module.toml").is_file(), "{version:#}");
    }
    let diagnostics = modules["diagnostics"].as_array().unwrap();
    assert!(!diagnostics.is_empty(), "the misnamed module is reported: {modules:#}");
    for diagnostic in diagnostics {
        let file = diagnostic["file"].as_str().unwrap();
        assert!(!file.starts_with('/') && world.modules().join(file).exists(), "{diagnostic:#}");
    }

    let graph = api.get("/v1/graph").await.expect(200);
    let edges: Vec<(&str, &str)> =
        graph["edges"].as_array().unwrap().iter().map(|e| (e["from"].as_str().unwrap(), e["to"].as_str().unwrap())).collect();
    assert_eq!(edges, [("addon", "base"), ("legacy", "base")], "{graph:#}");
    let dot = api.get("/v1/graph?format=dot").await;
    assert_eq!(dot.status, 200);
    assert!(dot.content_type().starts_with("text/plain") && dot.text.contains("digraph"), "{dot:?}");
    let mermaid = api.get("/v1/graph?format=mermaid").await;
    assert!(mermaid.status == 200 && mermaid.text.contains("graph"), "{mermaid:?}");
    let of_tenant = api.get("/v1/graph?tenant=acme").await.expect(200);
    assert_eq!(of_tenant["nodes"], json!([]), "acme has nothing yet");

    let manifest = "[module]\nname = \"uploaded\"\nversion = \"1.0.0\"\ndescription = \"d\"\n[dependencies]\nbase = \"^1\"\n";
    let request = api.request(reqwest::Method::POST, "/v1/validate").header("content-type", "application/toml").body(manifest);
    let valid = api.send(request).await.expect(200);
    assert_eq!((&valid["valid"], &valid["modules"]), (&json!(true), &json!(1)), "{valid:#}");
    let folder = api.post("/v1/validate", Some(json!({"path": "addon"}))).await.expect(200);
    assert_eq!((&folder["valid"], &folder["modules"]), (&json!(true), &json!(1)), "{folder:#}");
    assert!(!world.modules().join("uploaded").exists(), "validate writes nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_is_added_changed_through_every_operation_and_removed() {
    let world = world();
    let (_server, api) = serve(&world, &[]);

    let added = api.post("/v1/tenants", Some(json!({"name": "initech"}))).await;
    assert_eq!(added.location(), "/v1/tenants/initech");
    assert_eq!(added.expect(201), json!({"added": ["initech"], "existing": []}));
    assert!(tenants(|| world.has_tenant_db("initech")), "its file is created");
    let again = api.post("/v1/tenants", Some(json!({"name": "initech"}))).await;
    assert_eq!(again.expect(200), json!({"added": [], "existing": ["initech"]}), "nothing changes the second time");
    assert_eq!(names(&api.get("/v1/tenants").await.expect(200), "tenants"), ["acme", "globex", "initech"]);
    let shown = api.get("/v1/tenants/initech").await.expect(200);
    assert_eq!((&shown["name"], &shown["modules"]), (&json!("initech"), &json!([])), "{shown:#}");
    assert!(shown["created_at"].as_str().unwrap().ends_with('Z'), "{shown:#}");

    // Install an old version, upgrade it, then add a module on top of it.
    let accepted = api.post("/v1/tenants/initech/modules/base/install", Some(json!({"version": "=1.0.0"}))).await;
    let location = accepted.location().to_string();
    let body = accepted.expect(202);
    assert_eq!(location, format!("/v1/batches/{}", body["batch"].as_str().unwrap()));
    assert_eq!(body["status"], "running");
    assert_eq!(body["plan"][0]["to_version"], "1.0.0", "{body:#}");
    let done = api.settled(&location).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(done["jobs"][0]["kind"], "install");
    assert!(tenants(|| world.has_object("initech", "base_t")));
    let status = api.get("/v1/tenants/initech/modules").await.expect(200);
    let module = &status["tenants"][0]["modules"][0];
    assert_eq!(
        (&module["name"], &module["version"], &module["state"], &module["enabled"], &module["latest"]),
        (&json!("base"), &json!("1.0.0"), &json!("installed"), &json!(true), &json!("1.1.0")),
        "{status:#}"
    );

    let upgrade = api.post("/v1/tenants/initech/modules/base/upgrade", None).await;
    assert_eq!(upgrade.status, 202, "{upgrade:?}");
    let done = api.settled(upgrade.location()).await;
    assert_eq!((&done["status"], &done["jobs"][0]["to_version"]), (&json!("completed"), &json!("1.1.0")), "{done:#}");
    let columns = tenants(|| match world.tenants_url {
        None => world.text("initech", "SELECT group_concat(name) FROM pragma_table_info('base_t')"),
        Some(_) => world.text(
            "initech",
            "SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position) FROM information_schema.columns \
             WHERE table_schema = 'initech' AND table_name = 'base_t'",
        ),
    });
    assert_eq!(columns, "id,v,w", "V2 applied");

    let dry = api.post("/v1/tenants/initech/modules/addon/install?dry_run=true", None).await.expect(200);
    assert_eq!((&dry["dry_run"], &dry["plan"][0]["module"], &dry["jobs"]), (&json!(true), &json!("addon"), &json!([])), "{dry:#}");
    assert!(!tenants(|| world.has_object("initech", "addon_t")), "a dry run changes nothing");
    assert_eq!(api.install("initech", "addon").await["status"], "completed");
    let nothing = api.post("/v1/tenants/initech/modules/addon/install", None).await.expect(200);
    assert_eq!(nothing["plan"], json!([]), "already installed: nothing to do, answered at once");

    // Flags and the check applications ask.
    let flags = api.get("/v1/tenants/initech/flags").await.expect(200);
    assert_eq!(
        (&flags["flags"][0]["module"], &flags["flags"][0]["flag"], &flags["flags"][0]["value"]),
        (&json!("base"), &json!("beta"), &json!(false))
    );
    let set = api.put("/v1/tenants/initech/flags/base/beta", Some(json!({"value": true}))).await.expect(200);
    assert_eq!((&set["value"], &set["previous"], &set["changed"]), (&json!(true), &json!(false), &json!(true)), "{set:#}");
    assert_eq!(api.get("/v1/tenants/initech/flags?module=base").await.expect(200)["flags"][0]["value"], true);
    assert_eq!(api.get("/v1/tenants/initech/check/base.beta").await.expect(200)["allowed"], true);

    let disabled = api.post("/v1/tenants/initech/modules/addon/disable", None).await.expect(200);
    assert_eq!((&disabled["jobs"][0]["kind"], &disabled["jobs"][0]["status"]), (&json!("disable"), &json!("completed")), "{disabled:#}");
    let check = api.get("/v1/tenants/initech/check/addon").await.expect(200);
    assert_eq!((&check["allowed"], &check["reason"]), (&json!(false), &json!("disabled")), "{check:#}");
    let enabled = api.post("/v1/tenants/initech/modules/addon/enable", Some(json!({}))).await.expect(200);
    assert_eq!(enabled["jobs"][0]["kind"], "enable", "{enabled:#}");
    assert_eq!(api.get("/v1/tenants/initech/check/addon").await.expect(200)["allowed"], true);

    // A subscription makes the paid module installable.
    let granted = api.put("/v1/tenants/initech/subscriptions/paid", Some(json!({"until": "2099-12-31"}))).await.expect(200);
    assert_eq!(
        (&granted["action"], &granted["until"], &granted["changed"]),
        (&json!("grant"), &json!("2099-12-31"), &json!(true)),
        "{granted:#}"
    );
    let subscriptions = api.get("/v1/tenants/initech/subscriptions").await.expect(200);
    assert_eq!(
        (&subscriptions["subscriptions"][0]["module"], &subscriptions["subscriptions"][0]["active"]),
        (&json!("paid"), &json!(true))
    );
    assert_eq!(api.install("initech", "paid").await["status"], "completed");
    let revoked = api.delete("/v1/tenants/initech/subscriptions/paid").await.expect(200);
    assert_eq!((&revoked["action"], &revoked["changed"]), (&json!("revoke"), &json!(true)), "{revoked:#}");

    let uninstall = api.post("/v1/tenants/initech/modules/addon/uninstall", Some(json!({"purge": true}))).await;
    assert_eq!(uninstall.status, 202, "{uninstall:?}");
    assert_eq!(api.settled(uninstall.location()).await["status"], "completed");
    assert!(!tenants(|| world.has_object("initech", "addon_t")));

    let history = api.get("/v1/tenants/initech/history?module=base").await.expect(200);
    let changes: Vec<(&str, &str)> =
        history["history"].as_array().unwrap().iter().map(|h| (h["change"].as_str().unwrap(), h["to_version"].as_str().unwrap())).collect();
    assert_eq!(changes, [("install", "1.0.0"), ("upgrade", "1.1.0")], "{history:#}");

    let removed = api.delete("/v1/tenants/initech").await.expect(200);
    assert_eq!(removed["removed"][0]["name"], "initech", "{removed:#}");
    assert!(removed["removed"][0]["archive"].is_string(), "archived by default: {removed:#}");
    assert!(!tenants(|| world.has_tenant_db("initech")));
    api.get("/v1/tenants/initech").await.problem(404, "not_found");
    // Its resources go with it; its jobs stay in the audit trail.
    let history = api.get("/v1/tenants/initech/history").await.problem(404, "not_found");
    assert_eq!(history["message"], "tenant `initech` was removed", "{history:#}");
    assert!(history["hint"].as_str().unwrap().contains("GET /v1/jobs?tenant=initech"), "{history:#}");
    let jobs = api.get("/v1/jobs?tenant=initech").await.expect(200);
    assert!(jobs["jobs"].as_array().unwrap().iter().any(|j| j["module"] == "base" && j["kind"] == "upgrade"), "{jobs:#}");
    let purged = api.delete("/v1/tenants/globex?purge=true").await.expect(200);
    assert_eq!(purged["removed"][0]["archive"], Json::Null, "{purged:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_routes_answer_jobs_events_and_stats() {
    let world = world();
    let (_server, api) = serve(&world, &[]);
    let batch = api.install("acme", "addon").await;
    assert_eq!(batch["status"], "completed", "{batch:#}");
    let modules: Vec<&str> = batch["jobs"].as_array().unwrap().iter().map(|j| j["module"].as_str().unwrap()).collect();
    assert_eq!(modules, ["base", "addon"], "a dependency joins the plan, in order");

    let jobs = api.get("/v1/jobs").await.expect(200);
    let listed: Vec<&str> = jobs["jobs"].as_array().unwrap().iter().map(|j| j["module"].as_str().unwrap()).collect();
    assert_eq!(listed, ["addon", "base"], "newest first");
    let job = &jobs["jobs"][0];
    for field in
        ["id", "batch", "tenant", "module", "kind", "status", "from_version", "to_version", "actor", "started_at", "finished_at", "error"]
    {
        assert!(job.get(field).is_some(), "no `{field}`: {job:#}");
    }
    assert_eq!(
        api.get("/v1/jobs?module=base&status=completed&kind=install&limit=5").await.expect(200)["jobs"].as_array().unwrap().len(),
        1
    );
    let in_batch = api.get(&format!("/v1/jobs?batch={}&tenant=acme", batch["batch"].as_str().unwrap())).await.expect(200);
    assert_eq!(in_batch["jobs"].as_array().unwrap().len(), 2, "{in_batch:#}");
    let shown = api.get(&format!("/v1/jobs/{}", job["id"])).await.expect(200);
    assert_eq!(shown["job"]["id"], job["id"]);
    assert!(shown["job"]["steps"].as_array().unwrap().iter().any(|s| s["name"] == "migrate V1__addon"), "{shown:#}");

    let page = api.get("/v1/events?after=0").await.expect(200);
    let events = page["events"].as_array().unwrap();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["tenant.added", "tenant.added", "module.installed", "module.installed"], "{page:#}");
    assert_eq!(page["next_after"], events.last().unwrap()["id"]);
    let rest = api.get(&format!("/v1/events?after={}&limit=1", events[1]["id"])).await.expect(200);
    assert_eq!(rest["events"].as_array().unwrap().as_slice(), &events[2..3], "a page after a cursor");

    let mut stream = Sse::open(&api, "/v1/events/stream?after=0", None).await;
    let first = stream.next().await.expect("an event");
    assert_eq!((first.id, first.event.as_str()), (events[0]["id"].as_i64().unwrap(), "tenant.added"));
    assert_eq!(first.data, events[0], "the data is the event as /v1/events has it");

    let stats = api.get("/v1/stats").await.expect(200);
    assert_eq!((&stats["jobs"], &stats["success_rate"]), (&json!(2), &json!(1.0)), "{stats:#}");
    assert_eq!(api.get("/v1/stats?since=2000-01-01").await.expect(200)["jobs"], 2);
}
