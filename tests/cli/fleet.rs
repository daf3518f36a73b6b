use serde_json::json;

use crate::support::World;

fn fleet(world: &World, tenants: &[&str]) {
    world
        .module("app", "app", "1.0.0")
        .migration("V1__app", "CREATE TABLE app_t (id INTEGER PRIMARY KEY);")
        .migration("V2__app", "CREATE INDEX app_id ON app_t (id);")
        .write();
    let mut args = vec!["tenant", "add"];
    args.extend(tenants);
    world.ok(&args);
}

fn outcomes(report: &serde_json::Value) -> Vec<(String, String)> {
    report["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["tenant"].as_str().unwrap().into(), t["outcome"].as_str().unwrap().into()))
        .collect()
}

#[test]
fn a_fleet_goes_on_past_failures_and_a_rerun_finishes_the_rest() {
    let world = World::new();
    fleet(&world, &["t1", "t2", "t3", "t4"]);
    // t2 and t4 already have a table of that name, made by their application.
    world.sql("t2", "CREATE TABLE app_t (x);");
    world.sql("t4", "CREATE TABLE app_t (x);");
    let t2_before = world.dump("t2");
    let run = world.run(&["install", "app", "--all-tenants", "--json"]);
    run.exit(1);
    let report = run.json();
    assert_eq!(
        outcomes(&report),
        [
            ("t1".into(), "completed".into()),
            ("t2".into(), "failed".into()),
            ("t3".into(), "completed".into()),
            ("t4".into(), "failed".into())
        ]
    );
    assert_eq!(report["summary"], json!({"completed": 2, "failed": 2, "unchanged": 0}));
    assert!(report["tenants"][1]["error"].as_str().unwrap().contains("was not created by a module"));
    assert_eq!(world.dump("t2"), t2_before);
    assert!(world.has_object("t1", "app_t") && world.has_object("t3", "app_id"));

    // The operator fixes t2 and t4; the re-run does only what is left.
    world.sql("t2", "DROP TABLE app_t;");
    world.sql("t4", "DROP TABLE app_t;");
    let jobs_before = world.jobs().len();
    let rerun = world.json(&["install", "app", "--all-tenants"]);
    assert_eq!(
        outcomes(&rerun),
        [
            ("t1".into(), "unchanged".into()),
            ("t2".into(), "completed".into()),
            ("t3".into(), "unchanged".into()),
            ("t4".into(), "completed".into())
        ]
    );
    // Tenants run in parallel, so their jobs may be numbered in either order.
    let mut new_jobs: Vec<String> = world.jobs()[jobs_before..].iter().map(|j| j["tenant"].as_str().unwrap().to_string()).collect();
    new_jobs.sort();
    assert_eq!(new_jobs, ["t2", "t4"]);
}

#[test]
fn tenants_the_landlord_shows_at_the_target_are_not_opened() {
    let world = World::new();
    fleet(&world, &["t1", "t2"]);
    world.ok(&["install", "app", "--tenant", "t1", "--tenant", "t2"]);
    // With its file gone, t1 could only succeed if it is never opened.
    std::fs::remove_file(world.tenant_path("t1")).unwrap();
    let report = world.json(&["install", "app", "--all-tenants"]);
    assert_eq!(report["summary"], json!({"completed": 0, "failed": 0, "unchanged": 2}));
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let world = World::new();
    fleet(&world, &["t1", "t2", "t3"]);
    world.sql("t1", "CREATE TABLE app_t (x);");
    let run = world.run(&["install", "app", "--all-tenants", "--fail-fast", "--jobs", "1", "--json"]);
    run.exit(1);
    assert_eq!(outcomes(&run.json()), [("t1".into(), "failed".into()), ("t2".into(), "skipped".into()), ("t3".into(), "skipped".into())]);
    assert!(!world.has_object("t2", "app_t"));
}

#[test]
fn one_named_tenant_keeps_its_own_exit_code_and_a_fleet_summarises() {
    let world = World::new();
    fleet(&world, &["t1", "t2"]);
    world.module("paid", "paid", "1.0.0").subscription().migration("V1__p", "CREATE TABLE paid_t (x);").write();
    world.run(&["install", "paid", "--tenant", "t1"]).code(5);
    world.ok(&["subscription", "grant", "--tenant", "t2", "paid"]);
    let run = world.run(&["install", "paid", "--tenant", "t1", "--tenant", "t2", "--json"]);
    run.exit(1);
    let report = run.json();
    assert_eq!(report["tenants"][0]["error_kind"], "subscription");
    assert_eq!(report["tenants"][1]["outcome"], "completed");
    let human = world.run(&["install", "paid", "--tenant", "t1", "--tenant", "t2"]);
    human.exit(1);
    assert!(human.stdout.contains("t1") && human.stdout.contains("failed"), "{}", human.stdout);
    assert!(human.stderr.contains("1 failed"), "{}", human.stderr);
}

#[test]
fn fleet_upgrades_and_uninstalls_touch_only_tenants_that_have_the_module() {
    let world = World::new();
    fleet(&world, &["t1", "t2", "t3"]);
    world.ok(&["install", "app", "--tenant", "t1", "--tenant", "t2"]);
    world
        .module("app2", "app", "1.1.0")
        .migration("V1__app", "CREATE TABLE app_t (id INTEGER PRIMARY KEY);")
        .migration("V2__app", "CREATE INDEX app_id ON app_t (id);")
        .migration("V3__app", "ALTER TABLE app_t ADD COLUMN note TEXT;")
        .write();
    let report = world.json(&["upgrade", "app", "--all-tenants", "--jobs", "2"]);
    assert_eq!(
        outcomes(&report),
        [("t1".into(), "completed".into()), ("t2".into(), "completed".into()), ("t3".into(), "unchanged".into())]
    );
    let dry = world.json(&["uninstall", "app", "--all-tenants", "--dry-run"]);
    assert_eq!(dry["plan"].as_array().unwrap().len(), 2);
    assert!(world.has_object("t1", "app_t"));
    world.json(&["uninstall", "app", "--all-tenants", "--purge"]);
    assert!(!world.has_object("t1", "app_t") && !world.has_object("t2", "app_t"));
}
