use crate::support::World;

/// Installs a module whose one migration is `sql` and expects a clean refusal.
#[track_caller]
pub(crate) fn refused(world: &World, name: &str, sql: &str, reason: &str) {
    refused_on_each(world, name, sql, sql, reason);
}

/// [`refused`], with the migration's text on PostgreSQL tenants `pg_sql`: what SQLite
/// alone reads has a PostgreSQL text of its own.
#[track_caller]
fn refused_on_each(world: &World, name: &str, sql: &str, pg_sql: &str, reason: &str) {
    world.module(name, name, "1.0.0").migration("V1__evil", sql).migration_pg("V1__evil", pg_sql).write();
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

pub(crate) fn world() -> World {
    let world = World::new();
    world.module("base", "base", "1.0.0").migration("V1__base", "CREATE TABLE base_t (id INTEGER PRIMARY KEY, v TEXT);").write();
    world.ok(&["tenant", "add", "acme", "victim"]);
    world.ok(&["install", "base", "--tenant", "acme"]);
    world.sql("victim", "CREATE TABLE secrets (s TEXT); INSERT INTO secrets VALUES ('victim data');");
    world
}

#[test]
fn module_sql_cannot_touch_modregs_objects() {
    let world = world();
    let history = if world.tenants_url.is_some() { "_modreg_history" } else { "_modreg_history_base" };
    refused(&world, "create_meta", "CREATE TABLE _modreg_mine (x TEXT);", "belongs to modreg");
    refused(&world, "drop_meta", "DROP TABLE _modreg_objects;", "belongs to modreg");
    refused(&world, "forge", "INSERT INTO _modreg_modules VALUES ('x', '1.0.0', 'c', 'now', 'now');", "belongs to modreg");
    refused(&world, "peek", "CREATE TABLE peek AS SELECT * FROM _modreg_jobs;", "belongs to modreg");
    refused(&world, "rewrite_history", &format!("UPDATE {history} SET checksum = '0';"), "belongs to modreg");
    refused(&world, "alter_meta", "ALTER TABLE _MODREG_OBJECTS ADD COLUMN x TEXT;", "belongs to modreg");
    refused(&world, "index_meta", "CREATE INDEX evil_idx ON _modreg_objects (module);", "belongs to modreg");
    refused_on_each(
        &world,
        "planted",
        "CREATE TABLE bait (x TEXT);\nCREATE TRIGGER bait_t AFTER INSERT ON bait BEGIN DELETE FROM _modreg_objects; END;",
        "CREATE TABLE bait (x TEXT);\n\
         CREATE FUNCTION bait_f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM _modreg_objects; RETURN NULL; END $$;\n\
         CREATE TRIGGER bait_t AFTER INSERT ON bait FOR EACH ROW EXECUTE FUNCTION bait_f();",
        "refers to modreg's",
    );
}

#[test]
fn module_sql_cannot_manage_transactions_or_the_connection() {
    let world = world();
    // PostgreSQL's own words: its runner cannot end or split the work's transaction.
    let (transactions, savepoints) = match world.tenants_url {
        None => ("BEGIN, COMMIT, ROLLBACK and SAVEPOINT are not allowed", "not allowed"),
        Some(_) => ("EXECUTE of transaction commands is not implemented", "EXECUTE of transaction commands is not implemented"),
    };
    refused(&world, "commit", "CREATE TABLE t1 (x TEXT);\nCOMMIT;\nCREATE TABLE t2 (x TEXT);", transactions);
    refused(&world, "savepoint", "SAVEPOINT s;\nCREATE TABLE t3 (x TEXT);\nRELEASE s;", savepoints);
    if world.tenants_url.is_some() {
        // The connection's settings on PostgreSQL: who the module's SQL runs as.
        refused(&world, "role", "SET ROLE postgres;", "cannot set parameter \"role\"");
        refused(&world, "authorization", "SET SESSION AUTHORIZATION postgres;", "cannot set parameter \"session_authorization\"");
        return;
    }
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
        .migration_pg("V1__fine", "SHOW search_path;\nSELECT count(*) FROM information_schema.columns WHERE table_name = 'base_t';\nSELECT count(*) FROM pg_catalog.pg_class;\nCREATE TABLE fine_t (id INTEGER PRIMARY KEY, base_id INTEGER REFERENCES base_t (id));\nINSERT INTO base_t (id, v) VALUES (1, 'from fine');")
        .write();
    world.ok(&["install", "fine", "--tenant", "acme"]);
    assert_eq!(world.count("acme", "base_t"), 1);
}
