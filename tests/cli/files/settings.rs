//! Migrations that change their SQLite connection's settings (`PRAGMA legacy_alter_table`,
//! `recursive_triggers`, a temporary table shadowing a name): the next module's SQL, and the
//! next migration, start from the settings every migration starts from.

use crate::support::World;

/// `legacy` changes what its connection does (old-style renames, recursive triggers, a
/// temporary table shadowing a name) and leaves it so; `renamer` is written for the
/// settings every migration starts from.
fn settings_world() -> World {
    let world = World::new();
    world
        .module("legacy", "legacy", "1.0.0")
        .migration(
            "V1__legacy",
            "PRAGMA legacy_alter_table = ON;\n\
             PRAGMA recursive_triggers = ON;\n\
             CREATE TEMP TABLE staging (a);\n\
             CREATE TABLE legacy_t (a);",
        )
        .write();
    world
        .module("renamer", "renamer", "1.0.0")
        .migration(
            "V1__renamer",
            "CREATE TABLE renamer_t (a);\n\
             CREATE VIEW renamer_v AS SELECT a FROM renamer_t;\n\
             ALTER TABLE renamer_t RENAME TO renamer_items;\n\
             CREATE TABLE staging (a);\n\
             INSERT INTO staging VALUES (1);\n\
             CREATE TABLE renamer_counter (n);\n\
             CREATE TRIGGER renamer_count AFTER INSERT ON renamer_counter WHEN NEW.n < 5 BEGIN INSERT INTO renamer_counter VALUES (NEW.n + 1); END;\n\
             INSERT INTO renamer_counter VALUES (1);",
        )
        .write();
    world.ok(&["tenant", "add", "together", "alone"]);
    world
}

/// What `renamer` left in a tenant: its objects' SQL and its rows.
fn renamer_result(world: &World, tenant: &str) -> Vec<String> {
    let dump = world.dump(tenant);
    dump.lines().filter(|l| !l.contains("_modreg") && (l.contains("renamer") || l.contains("staging"))).map(String::from).collect()
}

#[test]
fn a_modules_sql_starts_from_the_same_settings_whatever_ran_before_it() {
    let world = settings_world();
    let together = world.json(&["install", "legacy", "renamer", "--tenant", "together"]);
    let order: Vec<&str> = together["plan"].as_array().unwrap().iter().map(|p| p["module"].as_str().unwrap()).collect();
    assert_eq!(order, ["legacy", "renamer"], "legacy runs first");
    world.ok(&["install", "renamer", "--tenant", "alone"]);
    assert_eq!(renamer_result(&world, "together"), renamer_result(&world, "alone"));
    // And what it is: the view follows the rename, the row is in the real table, the
    // trigger did not recurse.
    let view: String =
        world.tenant_db("alone").query_row("SELECT sql FROM sqlite_schema WHERE name = 'renamer_v'", [], |r| r.get(0)).unwrap();
    assert!(view.contains("renamer_items"), "{view}");
    assert_eq!(world.count("together", "staging"), 1);
    assert_eq!(world.count("together", "renamer_counter"), 2);
}

#[test]
fn a_migrations_settings_do_not_reach_the_next_migration_of_the_same_module() {
    let world = World::new();
    world
        .module("both", "both", "1.0.0")
        .migration("V1__first", "PRAGMA legacy_alter_table = ON;\nCREATE TEMP TABLE both_scratch (a);\nCREATE TABLE both_t (a);")
        .migration(
            "V2__second",
            "CREATE VIEW both_v AS SELECT a FROM both_t;\nALTER TABLE both_t RENAME TO both_items;\nCREATE TABLE both_scratch (a);\nINSERT INTO both_scratch VALUES (1);",
        )
        .write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "both", "--tenant", "acme"]);
    let view: String = world.tenant_db("acme").query_row("SELECT sql FROM sqlite_schema WHERE name = 'both_v'", [], |r| r.get(0)).unwrap();
    assert!(view.contains("both_items"), "{view}");
    assert_eq!(world.count("acme", "both_scratch"), 1);
}
