//! How long module SQL may run on a PostgreSQL tenant, and how each script is timed: a
//! module's migrations and seeds go to the server in one round trip, a call of the
//! module's runner each, and the time limit still bounds each one on its own.

use crate::world;

#[test]
fn the_time_limit_bounds_each_script_of_a_round_trip_and_each_is_timed_by_the_server() {
    let Some(world) = world(false) else { return };
    world
        .module("slow", "slow", "1.0.0")
        .migration("V1__slow", "CREATE TABLE slow (id INTEGER);")
        .migration("postgres/V1__slow", "SELECT pg_sleep(0.7);\nCREATE TABLE slow (id bigint);")
        .migration("V2__slower", "CREATE TABLE slower (id INTEGER);")
        .migration("postgres/V2__slower", "CREATE TABLE slower (id bigint);\nSELECT pg_sleep(0.7);")
        .seed("postgres/01_rows.sql", "INSERT INTO slow VALUES (1);")
        .write();
    world.ok(&["tenant", "add", "acme"]);
    // 1.4 s in all, under a 1 s limit: each script ends in time.
    world.run_with(&["install", "slow", "--tenant", "acme"], &[("MODREG_SQL_TIMEOUT", "1")]).code(0);
    assert_eq!(world.count("acme", "slow"), 1);
    let job = world.jobs().pop().unwrap();
    let steps = world.json(&["jobs", "show", &job["id"].to_string()])["job"]["steps"].clone();
    let took = |name: &str| {
        let step = steps.as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no step {name}: {steps}"));
        step["duration_ms"].as_u64().unwrap()
    };
    for name in ["migrate V1__slow", "migrate V2__slower"] {
        assert!((700..1000).contains(&took(name)), "{name} took {} ms: {steps}", took(name));
    }
    assert!(took("seed 01_rows.sql") < 700, "the seed is timed on its own: {steps}");

    // A script past the limit is stopped, and named.
    world
        .module("slow-2", "slow", "2.0.0")
        .migration("V1__slow", "CREATE TABLE slow (id INTEGER);")
        .migration("postgres/V1__slow", "SELECT pg_sleep(0.7);\nCREATE TABLE slow (id bigint);")
        .migration("V2__slower", "CREATE TABLE slower (id INTEGER);")
        .migration("postgres/V2__slower", "CREATE TABLE slower (id bigint);\nSELECT pg_sleep(0.7);")
        .migration("V3__quick", "CREATE TABLE quick (id INTEGER);")
        .migration("postgres/V3__quick", "CREATE TABLE quick (id bigint);")
        .migration("V4__slowest", "SELECT 1;")
        .migration("postgres/V4__slowest", "SELECT 1;\nSELECT pg_sleep(5);")
        .write();
    let run = world.run_with(&["upgrade", "slow", "--tenant", "acme", "--json"], &[("MODREG_SQL_TIMEOUT", "1")]);
    run.code(1);
    let message = run.error()["message"].as_str().unwrap().to_string();
    assert!(message.contains("migration `V4__slowest` of `slow` was stopped at `migrations/postgres/V4__slowest.sql` line 2"), "{message}");
    assert!(!world.has_object("acme", "quick"), "V3 went with it");
    assert_eq!(world.installed("acme")["slow"], "1.0.0");
}
