//! A module writes only to its own tables, those of its dependencies and those no module
//! owns (SPEC §5.1): direct DML, triggers it creates, and triggers it hangs on others'
//! tables are refused with the table and its owner named, and the job rolls back.

use crate::support::World;

/// `owner` with its table `owned` (three rows), and tenant `acme` that has it.
fn world() -> World {
    let world = World::new();
    world
        .module("owner", "owner", "1.0.0")
        .migration("V1__owned", "CREATE TABLE owned (id INTEGER PRIMARY KEY, v TEXT);")
        .seed("1.sql", "INSERT INTO owned (v) VALUES ('a'), ('b'), ('c');")
        .write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "owner", "--tenant", "acme"]);
    world
}

/// Installs module `name` (no dependencies, one migration `sql`) into `acme` and expects
/// a refusal whose message says `reason` and names `owned` and its owner, with a hint,
/// the job rolled back and the tenant file as before.
#[track_caller]
fn refused(world: &World, name: &str, sql: &str, reason: &str) {
    world.module(name, name, "1.0.0").migration("V1__x", sql).write();
    let before = world.dump("acme");
    let run = world.run(&["install", name, "--tenant", "acme", "--json"]);
    run.code(1);
    let error = run.error();
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(reason), "{name}: `{message}` does not say `{reason}`");
    assert!(message.contains("`owned`, which belongs to module `owner`"), "{name}: {message}");
    assert_eq!(error["hint"], "if `".to_string() + name + "` must change the data of `owner`, add `owner` to its `[dependencies]`");
    assert_eq!(world.dump("acme"), before, "{name} changed the tenant file");
    assert_eq!(world.jobs().last().unwrap()["status"], "rolled_back");
}

#[test]
fn dml_into_a_module_it_does_not_depend_on_is_refused_naming_table_and_owner() {
    let world = world();
    refused(&world, "deleter", "CREATE TABLE deleter_t (x);\nDELETE FROM owned;", "module `deleter` may not write to");
    refused(&world, "inserter", "INSERT INTO owned (v) VALUES ('forged');", "module `inserter` may not write to");
    refused(&world, "updater", "UPDATE owned SET v = 'changed' WHERE id = 1;", "module `updater` may not write to");
    refused(&world, "upserter", "INSERT INTO OWNED (id, v) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET v = 'y';", "may not write to");
    assert_eq!(world.count("acme", "owned"), 3);
    // The message names the migration, as every failing migration does.
    let run = world.run(&["install", "deleter", "--tenant", "acme"]);
    run.code(1);
    assert!(run.stderr.contains("migration `V1__x` of `deleter` failed: module `deleter` may not write to `owned`"), "{}", run.stderr);
}

#[test]
fn reading_and_tables_no_module_owns_stay_open() {
    let world = world();
    world.sql("acme", "CREATE TABLE app_notes (note TEXT);");
    world
        .module("reader", "reader", "1.0.0")
        .migration(
            "V1__read",
            "CREATE TABLE reader_copy AS SELECT * FROM owned;\n\
             CREATE VIEW reader_view AS SELECT count(*) AS n FROM owned;\n\
             INSERT INTO app_notes VALUES ('written by reader');",
        )
        .write();
    world.ok(&["install", "reader", "--tenant", "acme"]);
    assert_eq!(world.count("acme", "reader_copy"), 3);
    assert_eq!(world.count("acme", "app_notes"), 1);
}

#[test]
fn dml_into_a_dependency_transitive_or_optional_and_installed_is_allowed() {
    let world = world();
    world.module("mid", "mid", "1.0.0").dep("owner", "^1").migration("V1__mid", "CREATE TABLE mid_t (x);").write();
    world
        .module("top", "top", "1.0.0")
        .dep("mid", "^1")
        .migration("V1__top", "UPDATE owned SET v = upper(v);\nDELETE FROM owned WHERE v = 'C';\nINSERT INTO mid_t VALUES (1);")
        .write();
    world.ok(&["install", "top", "--tenant", "acme"]);
    let rows: Vec<String> = world
        .tenant_db("acme")
        .prepare("SELECT v FROM owned ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows, ["A", "B"]);

    // An optional dependency the tenant has, or gets in the same plan, is writable.
    world.module("opt", "opt", "1.0.0").optional("owner", "^1").migration("V1__opt", "INSERT INTO owned (v) VALUES ('from opt');").write();
    world.ok(&["install", "opt", "--tenant", "acme"]);
    assert_eq!(world.count("acme", "owned"), 3);
    world.ok(&["tenant", "add", "fresh"]);
    world.ok(&["install", "owner", "opt", "--tenant", "fresh"]);
    assert_eq!(world.count("fresh", "owned"), 4);
}

#[test]
fn an_upgrade_may_write_only_once_it_depends_on_the_owner() {
    let world = world();
    world.module("x", "x", "1.0.0").migration("V1__x", "CREATE TABLE x_t (x);").write();
    world.ok(&["install", "x", "--tenant", "acme"]);
    std::fs::rename(world.modules().join("x"), world.path().join("x-1.0.0")).unwrap();
    world
        .module("x", "x", "1.1.0")
        .migration("V1__x", "CREATE TABLE x_t (x);")
        .migration("V2__take", "DELETE FROM owned WHERE id = 1;")
        .write();
    let before = world.dump("acme");
    let run = world.run(&["upgrade", "x", "--tenant", "acme", "--json"]);
    run.code(1);
    assert!(run.error()["message"].as_str().unwrap().contains("module `x` may not write to `owned`, which belongs to module `owner`"));
    assert_eq!(world.dump("acme"), before);
    std::fs::remove_dir_all(world.modules().join("x")).unwrap();
    world
        .module("x", "x", "1.2.0")
        .dep("owner", "^1")
        .migration("V1__x", "CREATE TABLE x_t (x);")
        .migration("V2__take", "DELETE FROM owned WHERE id = 1;")
        .write();
    world.ok(&["upgrade", "x", "--tenant", "acme"]);
    assert_eq!(world.count("acme", "owned"), 2);
}

#[test]
fn a_trigger_that_would_write_an_unrelated_modules_table_is_refused() {
    let world = world();
    // On the module's own table: refused when created, before anything can fire it.
    refused(
        &world,
        "sneak",
        "CREATE TABLE sneak_t (x);\nCREATE TRIGGER sneak_wipe AFTER INSERT ON sneak_t BEGIN DELETE FROM owned; END;",
        "trigger `sneak_wipe` of module `sneak` may not write to",
    );
    // Through a chain of the module's own triggers, and an INSTEAD OF trigger on its view.
    refused(
        &world,
        "chain",
        "CREATE TABLE chain_a (x);\nCREATE TABLE chain_b (x);\n\
         CREATE TRIGGER chain_ab AFTER UPDATE OF x ON chain_a BEGIN INSERT INTO chain_b VALUES (NEW.x); END;\n\
         CREATE TRIGGER chain_bo AFTER INSERT ON chain_b BEGIN UPDATE owned SET v = NEW.x; END;",
        "trigger `chain_bo` of module `chain` may not write to",
    );
    refused(
        &world,
        "viewer",
        "CREATE VIEW viewer_v AS SELECT id, v FROM owned;\n\
         CREATE TRIGGER viewer_ins INSTEAD OF INSERT ON viewer_v BEGIN INSERT INTO owned (v) VALUES (NEW.v); END;",
        "trigger `viewer_ins` of module `viewer` may not write to",
    );
    // Fired by the module's own migration, the write is refused as it happens.
    refused(
        &world,
        "fired",
        "CREATE TABLE fired_t (x);\nCREATE TRIGGER fired_go AFTER INSERT ON fired_t BEGIN DELETE FROM owned; END;\nINSERT INTO fired_t VALUES (1);",
        "migration `V1__x` of `fired` failed: trigger `fired_go` of module `fired` may not write to",
    );
    // Hung on the other module's table, even when it writes only its own.
    refused(
        &world,
        "hanger",
        "CREATE TABLE hanger_log (v TEXT);\nCREATE TRIGGER hanger_spy AFTER INSERT ON owned BEGIN INSERT INTO hanger_log VALUES (NEW.v); END;",
        "module `hanger` may not create trigger `hanger_spy` on",
    );
    refused(&world, "indexer", "CREATE UNIQUE INDEX indexer_v ON owned (v);", "module `indexer` may not create index `indexer_v` on");
    // A trigger whose body names a table that does not exist cannot be checked.
    world
        .module("broken", "broken", "1.0.0")
        .migration("V1__x", "CREATE TABLE broken_t (x);\nCREATE TRIGGER broken_go AFTER DELETE ON broken_t BEGIN DELETE FROM later_t; END;")
        .write();
    let before = world.dump("acme");
    let run = world.run(&["install", "broken", "--tenant", "acme", "--json"]);
    run.code(1);
    assert_eq!(run.error()["message"], "trigger `broken_go` of module `broken` does not compile: no such table: main.later_t");
    assert_eq!(world.dump("acme"), before);
    let steps = world.json(&["jobs", "show", &world.jobs().last().unwrap()["id"].to_string()])["job"]["steps"].clone();
    assert!(steps.as_array().unwrap().iter().any(|s| s["name"] == "check trigger broken_go" && s["status"] == "failed"), "{steps}");
}

#[test]
fn a_dependencys_own_triggers_write_for_it() {
    // `audit` hangs a trigger on `owned` that writes its own log: when `feeder`, which
    // depends on `owner` but not on `audit`, inserts into `owned`, the trigger's write
    // is audit's, not feeder's.
    let world = world();
    world
        .module("audit", "audit", "1.0.0")
        .dep("owner", "^1")
        .migration(
            "V1__audit",
            "CREATE TABLE audit_log (v TEXT);\nCREATE TRIGGER audit_owned AFTER INSERT ON owned BEGIN INSERT INTO audit_log VALUES (NEW.v); END;",
        )
        .write();
    world.module("feeder", "feeder", "1.0.0").dep("owner", "^1").migration("V1__feed", "INSERT INTO owned (v) VALUES ('fed');").write();
    world.ok(&["install", "audit", "--tenant", "acme"]);
    world.ok(&["install", "feeder", "--tenant", "acme"]);
    assert_eq!(world.count("acme", "audit_log"), 1);
    // feeder itself still may not write audit's log.
    world.module("forger", "forger", "1.0.0").dep("owner", "^1").migration("V1__forge", "INSERT INTO audit_log VALUES ('forged');").write();
    let run = world.run(&["install", "forger", "--tenant", "acme", "--json"]);
    run.code(1);
    assert!(run.error()["message"].as_str().unwrap().contains("may not write to `audit_log`, which belongs to module `audit`"));
}

#[test]
fn validate_refuses_a_trigger_that_writes_outside_the_modules_dependencies() {
    let world = World::new();
    world.module("owner", "owner", "1.0.0").migration("V1__owned", "CREATE TABLE owned (id INTEGER PRIMARY KEY);").write();
    world
        .module("sneak", "sneak", "1.0.0")
        .migration("V1__t", "CREATE TABLE sneak_t (x);")
        .migration("V2__trigger", "-- wipes owner's rows\nCREATE TRIGGER sneak_wipe AFTER INSERT ON sneak_t BEGIN DELETE FROM owned; END;")
        .write();
    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let errors = super::validate::errors(&run);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0]["file"].as_str().unwrap().ends_with("sneak/migrations/V2__trigger.sql"), "{}", errors[0]);
    assert_eq!(errors[0]["line"], 2);
    assert_eq!(errors[0]["message"], "trigger `sneak_wipe` of module `sneak` does not compile: no such table: main.owned");
}
