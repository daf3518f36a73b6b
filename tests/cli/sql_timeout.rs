//! Module SQL has a time limit (`MODREG_SQL_TIMEOUT`): a migration or seed that runs past
//! it is stopped, its job rolls back like any failure, and `validate` says where.

use crate::support::{World, content};

/// A statement that never ends on its own.
const ENDLESS: &str = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c) SELECT count(*) FROM c;";

/// Where a module's `file` (`migrations/V1__x.sql`) is for the world's tenant engine, as
/// errors name it: PostgreSQL tenants run `migrations/postgres/`, `seeds/postgres/`.
fn sql_file(world: &World, file: &str) -> String {
    match (world.tenants_url.is_some(), file.split_once('/')) {
        (true, Some((folder, name))) => format!("{folder}/postgres/{name}"),
        _ => file.to_string(),
    }
}

/// Statuses of every job, oldest first.
fn statuses(world: &World) -> Vec<String> {
    world.jobs().iter().map(|j| j["status"].as_str().unwrap().to_string()).collect()
}

#[test]
fn an_endless_migration_is_stopped_at_the_limit_and_rolled_back() {
    let world = World::new();
    world.module("base", "base", "1.0.0").migration("V1__base", "CREATE TABLE base_t (id INTEGER PRIMARY KEY);").write();
    world
        .module("looping", "looping", "1.0.0")
        .dep("base", "^1")
        .migration("V1__loop", &format!("CREATE TABLE looping_t (x TEXT);\n\n{ENDLESS}\n"))
        .write();
    world.ok(&["tenant", "add", "acme"]);
    world.sql("acme", "CREATE TABLE app_data (x TEXT); INSERT INTO app_data VALUES ('precious');");
    let before = world.dump("acme");
    let started = std::time::Instant::now();
    let run = world.run_with(&["install", "looping", "--tenant", "acme", "--json"], &[("MODREG_SQL_TIMEOUT", "1")]);
    run.code(1);
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "not stopped: {:?}", started.elapsed());
    let error = run.error();
    assert_eq!(error["kind"], "failed");
    let message = error["message"].as_str().unwrap();
    let file = sql_file(&world, "migrations/V1__loop.sql");
    assert!(message.contains(&format!("migration `V1__loop` of `looping` was stopped at `{file}` line 3")), "{message}");
    assert!(message.contains("the 1 s limit (`MODREG_SQL_TIMEOUT`)"), "{message}");
    assert!(error["hint"].as_str().unwrap().contains("raise `MODREG_SQL_TIMEOUT`"), "{error}");
    assert_eq!(content(&world.dump("acme")), content(&before), "the tenant file changed");
    assert_eq!(statuses(&world), ["rolled_back", "rolled_back"]);
    let job = world.jobs().into_iter().last().unwrap();
    let steps = world.json(&["jobs", "show", &job["id"].to_string()])["job"]["steps"].clone();
    let stopped = steps.as_array().unwrap().iter().find(|s| s["name"] == "migrate V1__loop").cloned().unwrap();
    assert_eq!(stopped["status"], "failed");
    // About the limit, never none: on PostgreSQL tenants it has come out a few milliseconds under it.
    assert!(stopped["duration_ms"].as_u64().unwrap() >= 900, "the failed step lost its duration: {stopped}");
    // The limit bounds each script, and SQL that ends in time is not stopped by it.
    world.ok(&["recover"]);
    assert_eq!(statuses(&world), ["rolled_back", "rolled_back"]);
    let run = world.run_with(&["install", "base", "--tenant", "acme"], &[("MODREG_SQL_TIMEOUT", "1")]);
    run.code(0);
    assert_eq!(world.installed("acme").keys().collect::<Vec<_>>(), ["base"]);
}

#[test]
fn an_endless_seed_that_writes_is_stopped_and_its_writes_undone() {
    let world = World::new();
    world
        .module("seeded", "seeded", "1.0.0")
        .migration("V1__seeded", "CREATE TABLE seeded_t (n INTEGER);")
        .seed("001.sql", "INSERT INTO seeded_t VALUES (1);")
        .seed("002.sql", &format!("-- counts forever\nINSERT INTO seeded_t (n)\n{ENDLESS}"))
        .write();
    world.ok(&["tenant", "add", "acme"]);
    let before = world.dump("acme");
    let run = world.run_with(&["install", "seeded", "--tenant", "acme", "--json"], &[("MODREG_SQL_TIMEOUT", "0.5")]);
    run.code(1);
    let message = run.error()["message"].as_str().unwrap().to_string();
    let file = sql_file(&world, "seeds/002.sql");
    assert!(message.contains(&format!("seed `002.sql` of `seeded` was stopped at `{file}` line 2")), "{message}");
    assert!(message.contains("the 0.5 s limit"), "{message}");
    assert_eq!(content(&world.dump("acme")), content(&before));
    assert!(!world.has_object("acme", "seeded_t"));
    assert_eq!(statuses(&world), ["rolled_back"]);
}

#[test]
fn validate_stops_an_endless_migration_and_names_its_file_and_line() {
    let world = World::new();
    world.module("looping", "looping", "1.0.0").migration("V1__loop", &format!("-- never ends\n{ENDLESS}\n")).write();
    let run = world.run_with(&["validate", "--json"], &[("MODREG_SQL_TIMEOUT", "0.5")]);
    run.exit(2);
    let diagnostics = run.json()["diagnostics"].as_array().cloned().unwrap();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    let d = &diagnostics[0];
    assert!(d["file"].as_str().unwrap().ends_with(&format!("looping/{}", sql_file(&world, "migrations/V1__loop.sql"))), "{d}");
    assert_eq!((d["line"].as_u64(), d["severity"].as_str()), (Some(2), Some("error")), "{d}");
    assert!(d["message"].as_str().unwrap().contains("ran past the 0.5 s limit (`MODREG_SQL_TIMEOUT`)"), "{d}");
    assert!(!world.data().exists(), "validate wrote state");
}

#[test]
fn a_bad_sql_timeout_is_invalid_input() {
    let world = World::new();
    for bad in ["soon", "-1"] {
        let run = world.run_with(&["tenant", "add", "acme", "--json"], &[("MODREG_SQL_TIMEOUT", bad)]);
        run.code(2);
        let message = run.error()["message"].as_str().unwrap().to_string();
        assert!(message.contains("`MODREG_SQL_TIMEOUT`") && message.contains(bad), "{bad}: {message}");
    }
    assert!(!world.has_tenant_db("acme"), "a bad setting still touched state");
}

/// Forty rows, each a step of SQLite that takes a good part of a second and that no
/// interruption cuts short: `randomblob` makes its 50 MB in one call.
const COSTLY_STEPS: &str = "CREATE TABLE costly_t (n INTEGER);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
INSERT INTO costly_t SELECT length(randomblob(50000000)) FROM n;";

/// The same on PostgreSQL: forty rows of a 50 MB value each, every one made in one call.
const COSTLY_STEPS_PG: &str = "CREATE TABLE costly_t (n INTEGER);
INSERT INTO costly_t SELECT length(md5(i::text) || repeat('x', 50000000)) FROM generate_series(1, 40) AS n(i);";

#[test]
fn the_limit_holds_within_a_second_however_costly_one_step_is() {
    let world = World::new();
    world.module("costly", "costly", "1.0.0").migration("V1__costly", COSTLY_STEPS).migration_pg("V1__costly", COSTLY_STEPS_PG).write();
    world.ok(&["tenant", "add", "acme"]);
    let before = world.dump("acme");
    let started = std::time::Instant::now();
    let run = world.run_with(&["install", "costly", "--tenant", "acme", "--json"], &[("MODREG_SQL_TIMEOUT", "1")]);
    let took = started.elapsed();
    run.code(1);
    assert!(took < std::time::Duration::from_millis(2000), "a 1 s limit let the command run {took:?}");
    let message = run.error()["message"].as_str().unwrap().to_string();
    let file = sql_file(&world, "migrations/V1__costly.sql");
    assert!(message.contains(&format!("was stopped at `{file}` line 2: it ran past the 1 s limit")), "{message}");
    assert_eq!(content(&world.dump("acme")), content(&before));
    assert_eq!(statuses(&world), ["rolled_back"]);
}

#[test]
fn a_bad_sql_memory_bound_is_invalid_input() {
    let world = World::new();
    for bad in ["lots", "12XB", "-5"] {
        let run = world.run_with(&["tenant", "add", "acme", "--json"], &[("MODREG_SQL_MEMORY", bad)]);
        run.code(2);
        let message = run.error()["message"].as_str().unwrap().to_string();
        assert!(message.contains("`MODREG_SQL_MEMORY`") && message.contains(bad), "{bad}: {message}");
    }
    assert!(!world.has_tenant_db("acme"), "a bad setting still touched state");
}
