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
        .seed("1.sql", "INSERT INTO owned (id, v) VALUES (1, 'a'), (2, 'b'), (3, 'c');")
        .write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "owner", "--tenant", "acme"]);
    world
}

/// Installs module `name` (no dependencies, one migration `sql`) into `acme` and expects
/// a refusal whose message says `reason` and names `owned` and its owner, with a hint,
/// the job rolled back and the tenant database as before.
#[track_caller]
fn refused(world: &World, name: &str, sql: &str, reason: &str) {
    refused_each(world, name, (sql, reason), (sql, reason));
}

/// [`refused`], with the migration and the reason for SQLite and for PostgreSQL tenants.
#[track_caller]
fn refused_each(world: &World, name: &str, sqlite: (&str, &str), postgres: (&str, &str)) {
    let (sql, reason) = if world.tenants_url.is_some() { postgres } else { sqlite };
    world.module(name, name, "1.0.0").migration("V1__x", sqlite.0).migration_pg("V1__x", postgres.0).write();
    let before = world.dump("acme");
    let run = world.run(&["install", name, "--tenant", "acme", "--json"]);
    run.code(1);
    let error = run.error();
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(reason), "{name}: `{message}` does not say `{reason}`\n{sql}");
    assert!(message.contains("`owned`, which belongs to module `owner`"), "{name}: {message}");
    assert_eq!(error["hint"], "if `".to_string() + name + "` must change the data of `owner`, add `owner` to its `[dependencies]`");
    assert_eq!(world.dump("acme"), before, "{name} changed the tenant database");
    assert_eq!(world.jobs().last().unwrap()["status"], "rolled_back");
}

/// A PostgreSQL trigger `name` `when` on `table`, whose function (of the same name) runs `body`.
fn pg_trigger(name: &str, when: &str, table: &str, body: &str) -> String {
    format!(
        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NEW; END $$;\n\
         CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}();"
    )
}

#[test]
fn dml_into_a_module_it_does_not_depend_on_is_refused_naming_table_and_owner() {
    let world = world();
    refused(&world, "deleter", "CREATE TABLE deleter_t (x TEXT);\nDELETE FROM owned;", "module `deleter` may not write to");
    refused(&world, "inserter", "INSERT INTO owned (id, v) VALUES (10, 'forged');", "module `inserter` may not write to");
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
    let read = "CREATE TABLE reader_copy AS SELECT * FROM owned;\n\
                CREATE VIEW reader_view AS SELECT count(*) AS n FROM owned;\n\
                INSERT INTO app_notes VALUES ('written by reader');";
    world.module("reader", "reader", "1.0.0").migration("V1__read", read).write();
    if world.tenants_url.is_none() {
        world.ok(&["install", "reader", "--tenant", "acme"]);
        assert_eq!(world.count("acme", "reader_copy"), 3);
        assert_eq!(world.count("acme", "app_notes"), 1);
        return;
    }
    // On PostgreSQL a module's role reads only its dependencies' tables and has no right
    // on the application's.
    let before = world.dump("acme");
    let run = world.run(&["install", "reader", "--tenant", "acme", "--json"]);
    run.code(1);
    assert_eq!(
        run.error()["message"],
        "migration `V1__read` of `reader` failed: module `reader` may not read `owned`, which belongs to module `owner`: \
         a module may read only its own tables and those of its dependencies"
    );
    assert_eq!(run.error()["hint"], "if `reader` must read the data of `owner`, add `owner` to its `[dependencies]`");
    assert_eq!(world.dump("acme"), before);
    assert_eq!(world.jobs().last().unwrap()["status"], "rolled_back");
    world.module("noter", "noter", "1.0.0").migration("V1__note", "INSERT INTO app_notes VALUES ('written by noter');").write();
    let run = world.run(&["install", "noter", "--tenant", "acme", "--json"]);
    run.code(1);
    let message = run.error()["message"].as_str().unwrap().to_string();
    assert!(message.ends_with("permission denied for table app_notes"), "{message}");
    assert_eq!(world.count("acme", "app_notes"), 0);
    assert_eq!(world.jobs().last().unwrap()["status"], "rolled_back");
    // A module that depends on the owner reads.
    world
        .module("copier", "copier", "1.0.0")
        .dep("owner", "^1")
        .migration(
            "V1__read",
            "CREATE TABLE copier_copy AS SELECT * FROM owned;\nCREATE VIEW copier_view AS SELECT count(*) AS n FROM owned;",
        )
        .write();
    world.ok(&["install", "copier", "--tenant", "acme"]);
    assert_eq!(world.count("acme", "copier_copy"), 3);
    assert_eq!(world.int("acme", "SELECT n FROM copier_view"), 3);
}

#[test]
fn dml_into_a_dependency_transitive_or_optional_and_installed_is_allowed() {
    let world = world();
    world.module("mid", "mid", "1.0.0").dep("owner", "^1").migration("V1__mid", "CREATE TABLE mid_t (x TEXT);").write();
    world
        .module("top", "top", "1.0.0")
        .dep("mid", "^1")
        .migration("V1__top", "UPDATE owned SET v = upper(v);\nDELETE FROM owned WHERE v = 'C';\nINSERT INTO mid_t VALUES ('1');")
        .write();
    world.ok(&["install", "top", "--tenant", "acme"]);
    assert_eq!(world.text("acme", "SELECT string_agg(v, ',') FROM (SELECT v FROM owned ORDER BY id) AS o"), "A,B");

    // An optional dependency the tenant has, or gets in the same plan, is writable.
    world
        .module("opt", "opt", "1.0.0")
        .optional("owner", "^1")
        .migration("V1__opt", "INSERT INTO owned (id, v) VALUES (10, 'from opt');")
        .write();
    world.ok(&["install", "opt", "--tenant", "acme"]);
    assert_eq!(world.count("acme", "owned"), 3);
    world.ok(&["tenant", "add", "fresh"]);
    world.ok(&["install", "owner", "opt", "--tenant", "fresh"]);
    assert_eq!(world.count("fresh", "owned"), 4);
}

#[test]
fn an_upgrade_may_write_only_once_it_depends_on_the_owner() {
    let world = world();
    world.module("x", "x", "1.0.0").migration("V1__x", "CREATE TABLE x_t (x TEXT);").write();
    world.ok(&["install", "x", "--tenant", "acme"]);
    std::fs::rename(world.modules().join("x"), world.path().join("x-1.0.0")).unwrap();
    world
        .module("x", "x", "1.1.0")
        .migration("V1__x", "CREATE TABLE x_t (x TEXT);")
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
        .migration("V1__x", "CREATE TABLE x_t (x TEXT);")
        .migration("V2__take", "DELETE FROM owned WHERE id = 1;")
        .write();
    world.ok(&["upgrade", "x", "--tenant", "acme"]);
    assert_eq!(world.count("acme", "owned"), 2);
}

#[test]
fn a_trigger_that_would_write_an_unrelated_modules_table_is_refused() {
    let world = world();
    let pg = world.tenants_url.is_some();
    // SQLite refuses such a trigger when it is created, before anything can fire it, and
    // names it; PostgreSQL refuses the trigger function's write when it fires, as the
    // module's role, so there the migration fires it.
    let by_trigger = |trigger: &str, module: &str| format!("trigger `{trigger}` of module `{module}` may not write to");
    let by_module = |module: &str| format!("module `{module}` may not write to");
    // On the module's own table.
    refused_each(
        &world,
        "sneak",
        (
            "CREATE TABLE sneak_t (x TEXT);\nCREATE TRIGGER sneak_wipe AFTER INSERT ON sneak_t BEGIN DELETE FROM owned; END;",
            &by_trigger("sneak_wipe", "sneak"),
        ),
        (
            &format!(
                "CREATE TABLE sneak_t (x TEXT);\n{}\nINSERT INTO sneak_t VALUES ('1');",
                pg_trigger("sneak_wipe", "AFTER INSERT", "sneak_t", "DELETE FROM owned;")
            ),
            &by_module("sneak"),
        ),
    );
    // Through a chain of the module's own triggers, and an INSTEAD OF trigger on its view.
    refused_each(
        &world,
        "chain",
        (
            "CREATE TABLE chain_a (x TEXT);\nCREATE TABLE chain_b (x TEXT);\n\
             CREATE TRIGGER chain_ab AFTER UPDATE OF x ON chain_a BEGIN INSERT INTO chain_b VALUES (NEW.x); END;\n\
             CREATE TRIGGER chain_bo AFTER INSERT ON chain_b BEGIN UPDATE owned SET v = NEW.x; END;",
            &by_trigger("chain_bo", "chain"),
        ),
        (
            &format!(
                "CREATE TABLE chain_a (x TEXT);\nCREATE TABLE chain_b (x TEXT);\n{}\n{}\n\
                 INSERT INTO chain_a VALUES ('1');\nUPDATE chain_a SET x = '2';",
                pg_trigger("chain_ab", "AFTER UPDATE OF x", "chain_a", "INSERT INTO chain_b VALUES (NEW.x);"),
                pg_trigger("chain_bo", "AFTER INSERT", "chain_b", "UPDATE owned SET v = NEW.x;"),
            ),
            &by_module("chain"),
        ),
    );
    refused_each(
        &world,
        "viewer",
        (
            "CREATE VIEW viewer_v AS SELECT id, v FROM owned;\n\
             CREATE TRIGGER viewer_ins INSTEAD OF INSERT ON viewer_v BEGIN INSERT INTO owned (v) VALUES (NEW.v); END;",
            &by_trigger("viewer_ins", "viewer"),
        ),
        (
            &format!(
                "CREATE VIEW viewer_v AS SELECT id, v FROM owned;\n{}\nINSERT INTO viewer_v (id, v) VALUES (10, 'forged');",
                pg_trigger("viewer_ins", "INSTEAD OF INSERT", "viewer_v", "INSERT INTO owned (id, v) VALUES (NEW.id, NEW.v);")
            ),
            &by_module("viewer"),
        ),
    );
    // Fired by the module's own migration, the write is refused as it happens.
    refused_each(
        &world,
        "fired",
        (
            "CREATE TABLE fired_t (x TEXT);\nCREATE TRIGGER fired_go AFTER INSERT ON fired_t BEGIN DELETE FROM owned; END;\nINSERT INTO fired_t VALUES (1);",
            &format!("migration `V1__x` of `fired` failed: {}", by_trigger("fired_go", "fired")),
        ),
        (
            &format!(
                "CREATE TABLE fired_t (x TEXT);\n{}\nINSERT INTO fired_t VALUES ('1');",
                pg_trigger("fired_go", "AFTER INSERT", "fired_t", "DELETE FROM owned;")
            ),
            &format!("migration `V1__x` of `fired` failed: {}", by_module("fired")),
        ),
    );
    // Hung on the other module's table, even when it writes only its own.
    refused_each(
        &world,
        "hanger",
        (
            "CREATE TABLE hanger_log (v TEXT);\nCREATE TRIGGER hanger_spy AFTER INSERT ON owned BEGIN INSERT INTO hanger_log VALUES (NEW.v); END;",
            "module `hanger` may not create trigger `hanger_spy` on",
        ),
        (
            &format!(
                "CREATE TABLE hanger_log (v TEXT);\n{}",
                pg_trigger("hanger_spy", "AFTER INSERT", "owned", "INSERT INTO hanger_log VALUES (NEW.v);")
            ),
            "module `hanger` may not create trigger `hanger_spy` on",
        ),
    );
    refused(&world, "indexer", "CREATE UNIQUE INDEX indexer_v ON owned (v);", "module `indexer` may not create index `indexer_v` on");
    // A trigger whose body names a table that does not exist cannot be checked: SQLite
    // refuses it when it is created, PostgreSQL when it fires.
    world
        .module("broken", "broken", "1.0.0")
        .migration(
            "V1__x",
            "CREATE TABLE broken_t (x TEXT);\nCREATE TRIGGER broken_go AFTER DELETE ON broken_t BEGIN DELETE FROM later_t; END;",
        )
        .migration_pg(
            "V1__x",
            &format!(
                "CREATE TABLE broken_t (x TEXT);\n{}\nINSERT INTO broken_t VALUES ('1');\nDELETE FROM broken_t;",
                pg_trigger("broken_go", "AFTER DELETE", "broken_t", "DELETE FROM later_t;")
            ),
        )
        .write();
    let before = world.dump("acme");
    let run = world.run(&["install", "broken", "--tenant", "acme", "--json"]);
    run.code(1);
    let expected = if pg {
        "migration `V1__x` of `broken` failed at `migrations/postgres/V1__x.sql` line 5: relation \"later_t\" does not exist"
    } else {
        "trigger `broken_go` of module `broken` does not compile: no such table: main.later_t"
    };
    assert_eq!(run.error()["message"], expected);
    assert_eq!(world.dump("acme"), before);
    let job = world.jobs().last().unwrap().clone();
    assert_eq!(job["status"], "rolled_back");
    let steps = world.json(&["jobs", "show", &job["id"].to_string()])["job"]["steps"].clone();
    let failed = if pg { "migrate V1__x" } else { "check trigger broken_go" };
    assert!(steps.as_array().unwrap().iter().any(|s| s["name"] == failed && s["status"] == "failed"), "{steps}");
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
        // On PostgreSQL a trigger function runs as the role that fires it, unless it is a
        // security definer: then as its owner, audit's role.
        .migration_pg(
            "V1__audit",
            "CREATE TABLE audit_log (v TEXT);\n\
             CREATE FUNCTION audit_owned() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER\n\
                 AS $$ BEGIN INSERT INTO audit_log VALUES (NEW.v); RETURN NEW; END $$;\n\
             CREATE TRIGGER audit_owned AFTER INSERT ON owned FOR EACH ROW EXECUTE FUNCTION audit_owned();",
        )
        .write();
    world
        .module("feeder", "feeder", "1.0.0")
        .dep("owner", "^1")
        .migration("V1__feed", "INSERT INTO owned (id, v) VALUES (10, 'fed');")
        .write();
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
        .migration("V1__t", "CREATE TABLE sneak_t (x TEXT);")
        .migration("V2__trigger", "-- wipes owner's rows\nCREATE TRIGGER sneak_wipe AFTER INSERT ON sneak_t BEGIN DELETE FROM owned; END;")
        // PostgreSQL checks a trigger function's body when it fires.
        .migration_pg(
            "V2__trigger",
            &format!(
                "-- wipes owner's rows\n{}\nINSERT INTO sneak_t VALUES ('1');",
                pg_trigger("sneak_wipe", "AFTER INSERT", "sneak_t", "DELETE FROM owned;")
            ),
        )
        .write();
    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let errors = super::validate::errors(&run);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let (file, line, message) = if world.tenants_url.is_some() {
        (
            "sneak/migrations/postgres/V2__trigger.sql",
            4,
            "migration `V2__trigger` of `sneak` failed at `migrations/postgres/V2__trigger.sql` line 4: relation \"owned\" does not exist",
        )
    } else {
        ("sneak/migrations/V2__trigger.sql", 2, "trigger `sneak_wipe` of module `sneak` does not compile: no such table: main.owned")
    };
    assert!(errors[0]["file"].as_str().unwrap().ends_with(file), "{}", errors[0]);
    assert_eq!(errors[0]["line"], line);
    assert_eq!(errors[0]["message"], message);
}
