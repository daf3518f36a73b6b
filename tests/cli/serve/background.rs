//! Work in the background: install answers 202 with the batch's `Location`, which ends
//! `completed` with the module's tables in the tenant file, or `failed` with its job
//! rolled back and the file as it was. A tenant that a job holds (of this server or of
//! a CLI command) is 409 `busy`, or waited for with `Prefer: wait=N`, while other
//! tenants go on. The actor on every job is the token's name.

use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use super::{hold_acme, release, sample, serve, slow_module, started, tenants, token, world};
use crate::support::content;

#[tokio::test(flavor = "multi_thread")]
async fn an_install_is_accepted_with_its_batch_and_completes_in_the_background() {
    let world = world();
    let (_server, api) = serve(&world, &[]);
    let accepted = api.post("/v1/tenants/acme/modules/addon/install", None).await;
    let location = accepted.location().to_string();
    let body = accepted.expect(202);
    let batch = body["batch"].as_str().unwrap();
    assert_eq!(location, format!("/v1/batches/{batch}"));
    let plan: Vec<(&str, &str, &str)> = body["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["tenant"].as_str().unwrap(), row["module"].as_str().unwrap(), row["action"].as_str().unwrap()))
        .collect();
    assert_eq!(plan, [("acme", "base", "install"), ("acme", "addon", "install")], "{body:#}");
    let done = api.settled(&location).await;
    assert_eq!((&done["status"], &done["batch"], &done["error"]), (&json!("completed"), &json!(batch), &Json::Null), "{done:#}");
    assert_eq!(done["summary"], json!({"completed": 2, "failed": 0, "unchanged": 0}));
    assert!(done["jobs"].as_array().unwrap().iter().all(|j| j["status"] == "completed" && j["batch"] == batch), "{done:#}");
    let objects = tenants(|| world.objects("acme"));
    assert!(objects.iter().any(|o| o == "base_t") && objects.iter().any(|o| o == "addon_t"), "{objects:?}");
    assert_eq!(world.installed("acme").keys().collect::<Vec<_>>(), ["addon", "base"], "the landlord agrees");
    assert!(!tenants(|| world.has_object("globex", "base_t")), "on acme only");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_migration_ends_the_batch_failed_and_the_job_rolled_back() {
    let world = world();
    tenants(|| world.sql("acme", "CREATE TABLE app_data (x TEXT); INSERT INTO app_data VALUES ('precious');"));
    let before = tenants(|| world.dump("acme"));
    let (_server, api) = serve(&world, &[]);
    let accepted = api.post("/v1/tenants/acme/modules/broken/install", None).await;
    assert_eq!(accepted.status, 202, "the plan holds: accepted, it fails as it runs: {accepted:?}");
    let done = api.settled(accepted.location()).await;
    assert_eq!(done["status"], "failed", "{done:#}");
    assert_eq!(done["error"]["kind"], "failed", "why, as a problem: {done:#}");
    assert!(done["error"]["message"].as_str().unwrap().contains("no_such_table"), "{done:#}");
    assert_eq!(done["summary"]["failed"], 1, "{done:#}");
    let job = &done["jobs"][0];
    assert_eq!(job["status"], "rolled_back", "{done:#}");
    assert!(job["error"].as_str().unwrap().contains("no_such_table"), "{job:#}");
    assert_eq!(content(&tenants(|| world.dump("acme"))), content(&before), "the tenant file is as it was");
    assert!(!tenants(|| world.has_object("acme", "broken_t")));
    assert_eq!(world.jobs().last().unwrap()["status"], "rolled_back", "the landlord agrees");
    let events = api.get("/v1/events?after=0").await.expect(200);
    assert_eq!(events["events"].as_array().unwrap().last().unwrap()["type"], "module.install_failed");
    let metrics = api.get("/metrics").await.text;
    assert_eq!(sample(&metrics, "modreg_jobs_total{kind=\"install\",status=\"rolled_back\"}"), 1.0, "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plan_a_request_is_answered_with_is_the_plan_that_runs() {
    let world = world();
    let (started_pipe, go) = slow_module(&world);
    let (_server, api) = serve(&world, &["--shutdown-timeout", "0"]);
    hold_acme(&api, &started_pipe).await;
    let patient = api.clone();
    let waiting = tokio::spawn(async move {
        let request = patient.request(reqwest::Method::POST, "/v1/tenants/acme/modules/base/install").header("prefer", "wait=20");
        patient.send(request).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A newer release lands while the request waits for the tenant: the plan is made
    // once the tenant is free, and what runs is that plan.
    tokio::task::block_in_place(|| {
        world
            .module("base-1.2.0", "base", "1.2.0")
            .migration("V1__base", "CREATE TABLE base_t (id INTEGER PRIMARY KEY, v TEXT);")
            .migration("V2__more", "ALTER TABLE base_t ADD COLUMN w TEXT;")
            .migration("V3__most", "ALTER TABLE base_t ADD COLUMN z TEXT;")
            .flag("beta", false)
            .write()
    });
    release(&go).await;
    let accepted = waiting.await.unwrap();
    let location = accepted.location().to_string();
    let body = accepted.expect(202);
    let planned: Vec<(&str, &str)> =
        body["plan"].as_array().unwrap().iter().map(|r| (r["module"].as_str().unwrap(), r["to_version"].as_str().unwrap())).collect();
    assert_eq!(planned, [("base", "1.2.0")], "{body:#}");
    let done = api.settled(&location).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(done["plan"], body["plan"], "the batch keeps the plan it was accepted with");
    let versions: Vec<&str> = done["jobs"].as_array().unwrap().iter().map(|j| j["to_version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["1.2.0"], "what ran is what was planned: {done:#}");
    assert_eq!(world.installed("acme")["base"], "1.2.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn asking_a_busy_tenant_for_what_it_has_is_answered_at_once() {
    let world = world();
    let (started_pipe, go) = slow_module(&world);
    let (_server, api) = serve(&world, &["--shutdown-timeout", "0"]);
    assert_eq!(api.install("acme", "base").await["status"], "completed");
    let slow = hold_acme(&api, &started_pipe).await;
    // A provisioning script asks again for what the tenant has: nothing to do, busy or not.
    let again = api.post("/v1/tenants/acme/modules/base/install", None).await.expect(200);
    assert_eq!((again["plan"].clone(), again["summary"]["unchanged"].clone()), (json!([]), json!(1)), "{again:#}");
    // What the tenant lacks waits for it.
    api.post("/v1/tenants/acme/modules/addon/install", None).await.problem(409, "busy");
    release(&go).await;
    assert_eq!(api.settled(slow.location()).await["status"], "completed");
    assert_eq!(world.installed("acme").keys().collect::<Vec<_>>(), ["base", "slow"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_a_job_holds_is_409_busy_and_prefer_wait_waits_for_it() {
    let world = world();
    let (started_pipe, go) = slow_module(&world);
    // Should the test fail with the hook waiting, the server rolls it back at once.
    let (_server, api) = serve(&world, &["--shutdown-timeout", "0"]);
    let slow = hold_acme(&api, &started_pipe).await;

    let requests = [
        api.request(reqwest::Method::POST, "/v1/tenants/acme/modules/base/install"),
        api.request(reqwest::Method::PUT, "/v1/tenants/acme/flags/slow/x").json(&json!({"value": true})),
        api.request(reqwest::Method::POST, "/v1/tenants/acme/modules/slow/disable"),
        api.request(reqwest::Method::DELETE, "/v1/tenants/acme"),
        api.request(reqwest::Method::POST, "/v1/tenants").json(&json!({"name": "acme"})),
    ];
    for request in requests {
        let problem = api.send(request).await.problem(409, "busy");
        assert_eq!(problem["message"], "tenant `acme` is busy: another job is working on it");
        assert!(problem["hint"].as_str().unwrap().contains("Prefer: wait=N"), "{problem:#}");
    }
    // Another tenant is not held up.
    assert_eq!(api.install("globex", "base").await["status"], "completed");

    let asked = Instant::now();
    let waited = api.request(reqwest::Method::POST, "/v1/tenants/acme/modules/base/install").header("prefer", "wait=1");
    api.send(waited).await.problem(409, "busy");
    assert!(asked.elapsed() >= Duration::from_secs(1), "answered before waiting a second: {:?}", asked.elapsed());

    let patient = api.clone();
    let waiting = tokio::spawn(async move {
        let request =
            patient.request(reqwest::Method::POST, "/v1/tenants/acme/modules/base/install").header("prefer", "respond-async, wait=20");
        patient.send(request).await
    });
    // Long enough for a request that does not wait to have been answered 409.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the request did not wait");
    release(&go).await;
    let accepted = waiting.await.unwrap();
    assert_eq!(accepted.status, 202, "accepted once the tenant was free: {accepted:?}");
    assert_eq!(api.settled(slow.location()).await["status"], "completed");
    assert_eq!(api.settled(accepted.location()).await["status"], "completed");
    assert_eq!(world.installed("acme").keys().collect::<Vec<_>>(), ["base", "slow"]);

    let metrics = api.get("/metrics").await.text;
    assert!(sample(&metrics, "modreg_lock_waits_total{outcome=\"busy\"}") >= 6.0, "{metrics}");
    assert_eq!(sample(&metrics, "modreg_lock_waits_total{outcome=\"acquired\"}"), 1.0, "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_a_cli_command_holds_is_busy_for_the_server_too() {
    let world = world();
    let (started_pipe, go) = slow_module(&world);
    // Should the test fail with the hook waiting, the server rolls it back at once.
    let (_server, api) = serve(&world, &["--shutdown-timeout", "0"]);
    let mut cli = world.spawn(&["install", "slow", "--tenant", "acme"]);
    started(&started_pipe).await;
    let problem = api.post("/v1/tenants/acme/modules/base/install", None).await.problem(409, "busy");
    assert!(problem["message"].as_str().unwrap().contains("acme"), "{problem:#}");
    api.put("/v1/tenants/acme/subscriptions/paid", None).await.expect(200);
    release(&go).await;
    assert!(tokio::task::spawn_blocking(move || cli.wait().unwrap()).await.unwrap().success());
    assert_eq!(api.install("acme", "base").await["status"], "completed", "free again");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_actor_on_every_job_is_the_name_of_the_token_that_asked() {
    let world = world();
    let (_server, admin) = serve(&world, &[]);
    let deployer = admin.with(Some(&token(&world, "deployer", &[])));
    let robot = admin.with(Some(&token(&world, "robot", &["--tenant", "globex"])));
    assert_eq!(deployer.install("acme", "base").await["status"], "completed");
    deployer.post("/v1/tenants/acme/modules/base/disable", None).await.expect(200);
    assert_eq!(robot.install("globex", "addon").await["status"], "completed");

    let actors = |jobs: &[Json]| -> Vec<(String, String, String)> {
        jobs.iter()
            .map(|j| (j["tenant"].as_str().unwrap().into(), j["kind"].as_str().unwrap().into(), j["actor"].as_str().unwrap().into()))
            .collect()
    };
    let expected: Vec<(String, String, String)> =
        [("acme", "install", "deployer"), ("acme", "disable", "deployer"), ("globex", "install", "robot"), ("globex", "install", "robot")]
            .iter()
            .map(|(t, k, a)| (t.to_string(), k.to_string(), a.to_string()))
            .collect();
    assert_eq!(actors(&world.jobs()), expected, "in the landlord");
    let mut listed = admin.get("/v1/jobs").await.expect(200)["jobs"].as_array().unwrap().clone();
    listed.reverse();
    assert_eq!(actors(&listed), expected, "in /v1/jobs");
    for job in &listed {
        let shown = admin.get(&format!("/v1/jobs/{}", job["id"])).await.expect(200);
        assert_eq!(shown["job"]["actor"], job["actor"], "{shown:#}");
    }
    let history = admin.get("/v1/tenants/acme/history").await.expect(200);
    assert_eq!(history["history"][0]["actor"], "deployer", "{history:#}");
    // A job the CLI runs keeps the CLI's actor, though the server shows it.
    world.ok(&["disable", "addon", "--tenant", "globex"]);
    let newest = admin.get("/v1/jobs?limit=1").await.expect(200);
    assert_eq!((&newest["jobs"][0]["kind"], &newest["jobs"][0]["actor"]), (&json!("disable"), &json!("tester")), "{newest:#}");
}
