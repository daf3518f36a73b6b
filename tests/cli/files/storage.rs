//! Broken storage under a tenant file: its pages or header damaged, or its disk filled
//! by an install; a storage error (exit 7) that names the file, and nothing half-done.

use super::super::storage::{Tmpfs, damage_header, damage_table, doctor_checks, storage_error, two_modules};
use crate::support::{World, content};

#[test]
fn a_damaged_tenant_file_is_a_storage_error_that_names_it_and_rolls_back() {
    let world = World::new();
    two_modules(&world);
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "a", "--tenant", "acme"]);
    let file = world.tenant_path("acme");
    damage_table(&file, "_modreg_objects");
    let run = world.run(&["install", "b", "--tenant", "acme", "--json"]);
    storage_error(&run, &file, "the file is damaged");
    assert!(run.error()["hint"].as_str().unwrap().contains("`modreg backup`"), "{}", run.stdout);
    // The job that met the damage ended, and the landlord recorded nothing of it.
    let jobs = world.jobs();
    assert_eq!(jobs.last().unwrap()["module"], "b");
    assert_eq!(jobs.last().unwrap()["status"], "rolled_back");
    assert_eq!(world.installed("acme").keys().collect::<Vec<_>>(), ["a"]);
    // `doctor` reports the damage, and what fixes it.
    assert_eq!(doctor_checks(&world, 1), [("tenant.integrity".to_string(), "acme".to_string())]);
    // Without --json: one error line that names the file, and a hint line.
    let human = world.run(&["uninstall", "a", "--tenant", "acme"]);
    human.code(7);
    assert!(human.stderr_lines("error:")[0].contains(&file.display().to_string()), "{}", human.stderr);
    assert_eq!(human.stderr_lines("hint:").len(), 1, "{}", human.stderr);
}

#[test]
fn a_tenant_file_that_is_no_database_is_a_storage_error() {
    let world = World::new();
    two_modules(&world);
    world.ok(&["tenant", "add", "acme"]);
    let file = world.tenant_path("acme");
    damage_header(&file);
    let run = world.run(&["install", "a", "--tenant", "acme", "--json"]);
    storage_error(&run, &file, "is not a SQLite database");
    assert_eq!(world.jobs().last().unwrap()["status"], "rolled_back");
    assert!(world.installed("acme").is_empty());
    assert_eq!(doctor_checks(&world, 1), [("tenant.integrity".to_string(), "acme".to_string())]);
}

#[test]
fn an_install_that_fills_the_disk_is_a_storage_error_and_rolls_back() {
    let world = World::new();
    // The data folder, landlord included on SQLite, on a disk of 2 MiB.
    let Some(_disk) = Tmpfs::mount(&world.data(), "2m") else { return };
    world
        .module("big", "big", "1.0.0")
        .migration(
            "V1__fill",
            "CREATE TABLE big_t (id INTEGER PRIMARY KEY, blob BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
             INSERT INTO big_t (blob) SELECT randomblob(1000) FROM n;",
        )
        .write();
    world.module("small", "small", "1.0.0").migration("V1__small", "CREATE TABLE small_t (x);").write();
    world.ok(&["tenant", "add", "acme"]);
    world.sql("acme", "CREATE TABLE app_data (x); INSERT INTO app_data VALUES ('precious');");
    let before = world.dump("acme");
    let run = world.run(&["install", "big", "--tenant", "acme", "--json"]);
    storage_error(&run, &world.tenant_path("acme"), "the disk is full");
    assert!(run.error()["hint"].as_str().unwrap().contains("free space"), "{}", run.stdout);
    // Rolled back: the file as before, no job left running, the landlord agrees.
    assert_eq!(content(&world.dump("acme")), content(&before));
    let jobs = world.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["status"], "rolled_back", "{jobs:?}");
    assert!(jobs[0]["error"].as_str().unwrap().contains("the disk is full"), "{jobs:?}");
    let status = world.json(&["status", "--tenant", "acme"]);
    assert_eq!(status["tenants"][0]["modules"], serde_json::json!([]));
    assert_eq!(status["tenants"][0]["unfinished_jobs"], 0);
    // Nothing half-done is left for `doctor` to find.
    assert_eq!(doctor_checks(&world, 0), []);
    // The space the failed work took is given back: the next install fits.
    world.ok(&["install", "small", "--tenant", "acme"]);
    assert!(world.has_object("acme", "small_t"));
}
