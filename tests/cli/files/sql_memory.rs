//! What SQLite alone bounds of module SQL: the memory it may hold (`MODREG_SQL_MEMORY`)
//! and the largest value or row it may make or read.

use crate::support::{World, content};

/// Statuses of every job, oldest first.
fn statuses(world: &World) -> Vec<String> {
    world.jobs().iter().map(|j| j["status"].as_str().unwrap().to_string()).collect()
}

#[test]
fn module_sql_past_the_memory_bound_fails_and_rolls_back() {
    let world = World::new();
    world
        .module("hungry", "hungry", "1.0.0")
        .migration("V1__hungry", "CREATE TABLE hungry_t (n INTEGER);\nINSERT INTO hungry_t VALUES (length(randomblob(100000000)));")
        .write();
    world.ok(&["tenant", "add", "acme"]);
    let before = world.dump("acme");
    let run = world.run_with(&["install", "hungry", "--tenant", "acme", "--json"], &[("MODREG_SQL_MEMORY", "64MiB")]);
    run.code(1);
    let error = run.error();
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("was stopped at `migrations/V1__hungry.sql` line 2"), "{message}");
    assert!(message.contains("more memory than the 64.0 MiB SQLite may use (`MODREG_SQL_MEMORY`)"), "{message}");
    assert!(error["hint"].as_str().unwrap().contains("raise `MODREG_SQL_MEMORY`"), "{error}");
    assert_eq!(content(&world.dump("acme")), content(&before));
    assert!(!world.has_object("acme", "hungry_t"));
    assert_eq!(statuses(&world), ["rolled_back"]);
    // Under the default bound the same SQL fits, and the module installs.
    world.ok(&["install", "hungry", "--tenant", "acme"]);
    assert_eq!(world.count("acme", "hungry_t"), 1);
}

#[test]
fn a_value_larger_than_module_sql_may_make_is_refused() {
    let world = World::new();
    world
        .module("huge", "huge", "1.0.0")
        .migration("V1__huge", "CREATE TABLE huge_t (n INTEGER);\nINSERT INTO huge_t VALUES (length(randomblob(999999999)));")
        .write();
    world.ok(&["tenant", "add", "acme"]);
    let run = world.run(&["install", "huge", "--tenant", "acme", "--json"]);
    run.code(1);
    let message = run.error()["message"].as_str().unwrap().to_string();
    assert!(message.contains("line 2: it made or read a value or row larger than 128.0 MiB"), "{message}");
    assert!(!world.has_object("acme", "huge_t"));
    assert_eq!(statuses(&world), ["rolled_back"]);
}
