use crate::support::World;

/// Installs a module whose one migration is `sql` and expects a clean refusal.
#[track_caller]
fn refused(world: &World, name: &str, sql: &str, reason: &str) {
    world.module(name, name, "1.0.0").migration("V1__evil", sql).write();
    let before = world.dump("acme");
    let landlord_jobs = world.jobs().len();
    let run = world.run(&["install", name, "--tenant", "acme", "--json"]);
    run.code(1);
    let message = run.error()["message"].as_str().unwrap().to_string();
    assert!(message.contains(reason), "{name}: `{message}` does not say `{reason}`");
    assert_eq!(world.dump("acme"), before, "{name} changed the tenant file");
    assert_eq!(world.jobs().len(), landlord_jobs + 1);
    assert_eq!(world.jobs().last().unwrap()["status"], "rolled_back");
}

fn world() -> World {
    let world = World::new();
    world.module("base", "base", "1.0.0").migration("V1__base", "CREATE TABLE base_t (id INTEGER PRIMARY KEY, v TEXT);").write();
    world.ok(&["tenant", "add", "acme", "victim"]);
    world.ok(&["install", "base", "--tenant", "acme"]);
    world.sql("victim", "CREATE TABLE secrets (s TEXT); INSERT INTO secrets VALUES ('victim data');");
    world
}

#[test]
fn module_sql_cannot_reach_other_files() {
    let world = world();
    let victim = world.tenant_path("victim");
    let landlord = world.data().join("landlord.db");
    refused(
        &world,
        "attach_tenant",
        &format!("ATTACH DATABASE '{}' AS v;\nCREATE TABLE stolen AS SELECT * FROM v.secrets;", victim.display()),
        "ATTACH is not allowed",
    );
    refused(&world, "attach_landlord", &format!("ATTACH '{}' AS l;\nDELETE FROM l.jobs;", landlord.display()), "ATTACH is not allowed");
    refused(&world, "attach_expr", "ATTACH DATABASE 'file:' || 'x.db' AS x;", "ATTACH is not allowed");
    refused(&world, "detach", "DETACH DATABASE temp;", "DETACH is not allowed");
    refused(&world, "load", "SELECT load_extension('/tmp/evil.so');", "loading extensions is not allowed");
    assert!(world.jobs().iter().all(|j| j["status"] != "running"));
    let secrets: String = world.tenant_db("victim").query_row("SELECT s FROM secrets", [], |r| r.get(0)).unwrap();
    assert_eq!(secrets, "victim data");
}

#[test]
fn module_sql_cannot_touch_modregs_objects() {
    let world = world();
    refused(&world, "create_meta", "CREATE TABLE _modreg_mine (x);", "belongs to modreg");
    refused(&world, "drop_meta", "DROP TABLE _modreg_objects;", "belongs to modreg");
    refused(&world, "forge", "INSERT INTO _modreg_modules VALUES ('x', '1.0.0', 'c', 'now', 'now');", "belongs to modreg");
    refused(&world, "peek", "CREATE TABLE peek AS SELECT * FROM _modreg_jobs;", "belongs to modreg");
    refused(&world, "rewrite_history", "UPDATE _modreg_history_base SET checksum = '0';", "belongs to modreg");
    refused(&world, "alter_meta", "ALTER TABLE _MODREG_OBJECTS ADD COLUMN x;", "belongs to modreg");
    refused(&world, "index_meta", "CREATE INDEX evil_idx ON _modreg_objects (module);", "belongs to modreg");
    refused(
        &world,
        "planted",
        "CREATE TABLE bait (x);\nCREATE TRIGGER bait_t AFTER INSERT ON bait BEGIN DELETE FROM _modreg_objects; END;",
        "refers to modreg's",
    );
}

#[test]
fn module_sql_cannot_manage_transactions_or_the_connection() {
    let world = world();
    refused(
        &world,
        "commit",
        "CREATE TABLE t1 (x);\nCOMMIT;\nCREATE TABLE t2 (x);",
        "BEGIN, COMMIT, ROLLBACK and SAVEPOINT are not allowed",
    );
    refused(&world, "savepoint", "SAVEPOINT s;\nCREATE TABLE t3 (x);\nRELEASE s;", "not allowed");
    refused(&world, "schema", "PRAGMA writable_schema = ON;", "PRAGMA writable_schema is not allowed");
    refused(&world, "journal", "PRAGMA journal_mode = DELETE;", "PRAGMA journal_mode is not allowed");
    refused(&world, "temp_trigger", "CREATE TEMP TRIGGER tt AFTER INSERT ON base_t BEGIN SELECT 1; END;", "temporary triggers");
}

#[test]
fn harmless_pragmas_and_queries_are_allowed() {
    let world = world();
    world
        .module("fine", "fine", "1.0.0")
        .dep("base", "^1")
        .migration("V1__fine", "PRAGMA foreign_keys;\nPRAGMA table_info(base_t);\nSELECT count(*) FROM sqlite_schema;\nCREATE TABLE fine_t (id INTEGER PRIMARY KEY, base_id INTEGER REFERENCES base_t (id));\nINSERT INTO base_t (v) VALUES ('from fine');")
        .write();
    world.ok(&["install", "fine", "--tenant", "acme"]);
    assert_eq!(world.count("acme", "base_t"), 1);
}
