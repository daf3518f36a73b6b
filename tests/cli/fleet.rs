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
    world.sql("t2", "CREATE TABLE app_t (x TEXT);");
    world.sql("t4", "CREATE TABLE app_t (x TEXT);");
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
    // With its database gone, t1 could only succeed if it is never opened.
    match &world.tenants_url {
        Some(_) => world.sql("t1", "DROP SCHEMA t1 CASCADE; DELETE FROM _modreg.tenants WHERE tenant = 't1';"),
        None => std::fs::remove_file(world.tenant_path("t1")).unwrap(),
    }
    let report = world.json(&["install", "app", "--all-tenants"]);
    assert_eq!(report["summary"], json!({"completed": 0, "failed": 0, "unchanged": 2}));
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let world = World::new();
    fleet(&world, &["t1", "t2", "t3"]);
    world.sql("t1", "CREATE TABLE app_t (x TEXT);");
    let run = world.run(&["install", "app", "--all-tenants", "--fail-fast", "--jobs", "1", "--json"]);
    run.exit(1);
    assert_eq!(outcomes(&run.json()), [("t1".into(), "failed".into()), ("t2".into(), "skipped".into()), ("t3".into(), "skipped".into())]);
    assert!(!world.has_object("t2", "app_t"));
}

#[test]
fn one_named_tenant_keeps_its_own_exit_code_and_a_fleet_summarises() {
    let world = World::new();
    fleet(&world, &["t1", "t2"]);
    world.module("paid", "paid", "1.0.0").subscription().migration("V1__p", "CREATE TABLE paid_t (x TEXT);").write();
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

/// Names and counts that differ from run to run are replaced; the rest must stay.
macro_rules! snapshot {
    ($world:expr, $name:expr, $text:expr) => {{
        crate::support::world_snapshot_settings(&$world).bind(|| insta::assert_snapshot!(format!("cli__fleet__{}", $name), $text));
    }};
}

/// The table rows of `text` (lines between `│`), without headers.
fn table_rows(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with('│') && !l.contains(" outcome ") && !l.contains(" action ")).collect()
}

#[test]
fn fleet_output_stays_short_at_200_tenants_and_verbose_and_json_keep_every_row() {
    let world = World::new();
    let tenants: Vec<String> = (0..200).map(|i| format!("t{i:03}")).collect();
    fleet(&world, &tenants.iter().map(String::as_str).collect::<Vec<_>>());
    let broken = ["t013", "t099", "t187"];
    for tenant in broken {
        world.sql(tenant, "CREATE TABLE app_t (x TEXT);");
    }
    let install = |extra: &[&str]| {
        let mut args = vec!["install", "app", "--all-tenants", "--jobs", "4"];
        args.extend(extra);
        world.run(&args)
    };

    // The plan: one row for the one change, however many tenants it is for.
    let dry = install(&["--dry-run"]);
    dry.code(0);
    assert_eq!(dry.stdout.lines().count(), 5, "{}", dry.stdout);
    assert_eq!(table_rows(&dry.stdout), ["│ app      install   -      1.0.0   200       requested │"]);
    assert_eq!(dry.stderr.trim(), "Planned 200 change(s) for 200 tenant(s); nothing was done (--dry-run)");
    let verbose = install(&["--dry-run", "-v"]);
    verbose.code(0);
    let rows = table_rows(&verbose.stdout);
    assert_eq!(rows.len(), 400, "every tenant's plan row and outcome: {}", verbose.stdout);
    assert!(tenants.iter().all(|t| rows.iter().filter(|r| r.contains(&format!(" {t} "))).count() == 2));
    let json = install(&["--dry-run", "--json"]).json();
    assert_eq!(json["plan"].as_array().unwrap().len(), 200);
    assert!(outcomes(&json).iter().all(|(_, outcome)| outcome == "planned"));
    assert_eq!(outcomes(&json).len(), 200);

    // The run: the plan as above, then only the three failures with their reasons.
    let run = install(&[]);
    run.exit(1);
    assert!(run.stdout.lines().count() <= 20, "{}", run.stdout);
    let named: Vec<&String> = tenants.iter().filter(|t| run.stdout.contains(t.as_str())).collect();
    assert_eq!(named, broken, "only the failed tenants are named");
    assert_eq!(
        run.stderr.lines().collect::<Vec<_>>(),
        ["      Failed install: 197 job(s) completed, 3 failed; tenants: 197 completed, 3 failed, 0 unchanged, 0 skipped"]
    );
    snapshot!(world, "human_200_tenants_3_failed", format!("{}--- stderr\n{}", run.stdout, run.stderr));

    // The re-run has only the three to do; `-v` and `--json` still show all 200.
    let verbose = install(&["-v"]);
    verbose.exit(1);
    let rows = table_rows(&verbose.stdout);
    assert_eq!(rows.iter().filter(|r| r.contains(" unchanged ")).count(), 197, "{}", verbose.stdout);
    assert_eq!(rows.iter().filter(|r| r.contains(" failed ")).count(), 3, "{}", verbose.stdout);
    let rerun = install(&["--json"]);
    rerun.exit(1);
    let report = rerun.json();
    assert_eq!(outcomes(&report).len(), 200);
    let failed: Vec<String> = outcomes(&report).into_iter().filter(|(_, o)| o == "failed").map(|(t, _)| t).collect();
    assert_eq!(failed, broken);
    assert_eq!(report["summary"], json!({"completed": 0, "failed": 3, "unchanged": 197}));
}

#[test]
fn a_fleet_lists_skipped_tenants_with_why_and_groups_upgrades_by_version() {
    let world = World::new();
    fleet(&world, &["t1", "t2", "t3", "t4"]);
    world.ok(&["install", "app", "--tenant", "t1", "--tenant", "t2", "--tenant", "t3"]);
    let app = |folder: &str, version: &str, extra: &[(&str, &str)]| {
        let mut module = world
            .module(folder, "app", version)
            .migration("V1__app", "CREATE TABLE app_t (id INTEGER PRIMARY KEY);")
            .migration("V2__app", "CREATE INDEX app_id ON app_t (id);");
        for (name, sql) in extra {
            module = module.migration(name, sql);
        }
        module.write();
    };
    app("app11", "1.1.0", &[("V3__extra", "CREATE TABLE app_extra (x TEXT);")]);
    world.ok(&["upgrade", "app", "--tenant", "t3"]);
    app("app12", "1.2.0", &[("V3__extra", "CREATE TABLE app_extra (x TEXT);"), ("V4__more", "CREATE TABLE app_more (x TEXT);")]);
    let dry = world.ok(&["upgrade", "app", "--all-tenants", "--dry-run"]);
    assert_eq!(
        table_rows(&dry.stdout),
        ["│ app      upgrade   1.0.0   1.2.0   2         requested │", "│ app      upgrade   1.1.0   1.2.0   1         requested │"],
        "{}",
        dry.stdout
    );

    // t1 fails (its application made a table the new version creates): the two after it
    // are skipped, and say why.
    world.sql("t1", "CREATE TABLE app_extra (x TEXT);");
    let run = world.run(&["upgrade", "app", "--tenant", "t1", "--tenant", "t2", "--tenant", "t3", "--fail-fast", "--jobs", "1"]);
    run.exit(1);
    let rows = table_rows(&run.stdout);
    let problems: Vec<&str> = rows.iter().copied().filter(|r| r.contains(" failed ") || r.contains(" skipped ")).collect();
    assert_eq!(problems.len(), 3, "{}", run.stdout);
    assert!(problems[0].starts_with("│ t1       failed    migration `V3__extra` of `app` failed"), "{}", run.stdout);
    for (row, tenant) in problems[1..].iter().zip(["t2", "t3"]) {
        assert!(row.starts_with(&format!("│ {tenant}       skipped   not started: an earlier tenant failed")), "{}", run.stdout);
    }
    assert!(run.stderr.contains("tenants: 0 completed, 1 failed, 0 unchanged, 2 skipped"), "{}", run.stderr);
}
