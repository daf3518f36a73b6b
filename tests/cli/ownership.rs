use crate::support::{World, content};

fn base(world: &World) {
    world
        .module("base", "base", "1.0.0")
        .migration("V1__base", "CREATE TABLE base_t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);\nCREATE INDEX base_v ON base_t (v);")
        .seed("1.sql", "INSERT INTO base_t (v) VALUES ('one'), ('two');")
        .write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "base", "--tenant", "acme"]);
}

#[track_caller]
fn refused(world: &World, name: &str, sql: &str, reason: &str) {
    world.module(name, name, "1.0.0").dep("base", "^1").migration("V1__x", sql).write();
    let before = world.dump("acme");
    let run = world.run(&["install", name, "--tenant", "acme", "--json"]);
    run.code(1);
    let message = run.error()["message"].as_str().unwrap().to_string();
    assert!(message.contains(reason), "{name}: {message}");
    assert_eq!(world.dump("acme"), before);
}

#[test]
fn a_module_cannot_create_drop_or_alter_what_another_owns() {
    let world = World::new();
    base(&world);
    refused(&world, "clash", "CREATE TABLE base_t (id INTEGER);", "cannot create `base_t`: it already exists and belongs to module `base`");
    refused(&world, "sneaky", "CREATE TABLE IF NOT EXISTS Base_T (id INTEGER);", "belongs to module `base`");
    refused(&world, "dropper", "DROP TABLE base_t;", "may not drop or alter `base_t`, which belongs to module `base`");
    refused(&world, "alterer", "ALTER TABLE base_t ADD COLUMN extra TEXT;", "may not drop or alter `base_t`");
    refused(&world, "renamer", "ALTER TABLE base_t RENAME TO mine;", "may not drop or alter");
    world.sql("acme", "CREATE TABLE app_table (x);");
    refused(&world, "squatter", "CREATE TABLE IF NOT EXISTS app_table (x);", "was not created by a module");
}

#[test]
fn an_index_that_exists_already_stays_its_owners() {
    // SQLite skips `CREATE INDEX IF NOT EXISTS` for an existing index before asking the
    // authorizer: nothing is created, so nothing changes hands.
    let world = World::new();
    base(&world);
    world
        .module("shy", "shy", "1.0.0")
        .dep("base", "^1")
        .migration("V1__x", "CREATE INDEX IF NOT EXISTS base_v ON base_t (v);\nCREATE TABLE shy_t (x);")
        .write();
    world.ok(&["install", "shy", "--tenant", "acme"]);
    let owner: String =
        world.tenant_db("acme").query_row("SELECT module FROM _modreg_objects WHERE name = 'base_v'", [], |r| r.get(0)).unwrap();
    assert_eq!(owner, "base");
    world.ok(&["uninstall", "shy", "--tenant", "acme", "--purge"]);
    assert!(world.has_object("acme", "base_v"));
}

#[test]
fn a_module_may_write_rows_and_hang_its_own_objects_on_a_dependency() {
    let world = World::new();
    base(&world);
    world
        .module("audit", "audit", "1.0.0")
        .dep("base", "^1")
        .migration(
            "V1__audit",
            "CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT);\n\
             CREATE TRIGGER base_audit AFTER INSERT ON base_t BEGIN INSERT INTO audit_log (what) VALUES (NEW.v); END;\n\
             CREATE VIEW base_summary AS SELECT count(*) AS n FROM base_t;\n\
             CREATE INDEX base_by_id_desc ON base_t (id DESC);\n\
             UPDATE base_t SET v = upper(v);",
        )
        .write();
    world.ok(&["install", "audit", "--tenant", "acme"]);
    world.sql("acme", "INSERT INTO base_t (v) VALUES ('three');");
    assert_eq!(world.count("acme", "audit_log"), 1);
    world.ok(&["uninstall", "audit", "--tenant", "acme", "--purge"]);
    for gone in ["audit_log", "base_audit", "base_summary", "base_by_id_desc"] {
        assert!(!world.has_object("acme", gone), "{gone} is still there");
    }
    assert!(world.has_object("acme", "base_t") && world.has_object("acme", "base_v"));
    assert_eq!(world.count("acme", "base_t"), 3);
    let sequence: i64 =
        world.tenant_db("acme").query_row("SELECT seq FROM sqlite_sequence WHERE name = 'base_t'", [], |r| r.get(0)).unwrap();
    assert_eq!(sequence, 3, "the other module's AUTOINCREMENT counter must survive");
    let audit_sequence: i64 =
        world.tenant_db("acme").query_row("SELECT count(*) FROM sqlite_sequence WHERE name = 'audit_log'", [], |r| r.get(0)).unwrap();
    assert_eq!(audit_sequence, 0);
}

#[test]
fn virtual_tables_and_their_shadow_tables_come_and_go_together() {
    let world = World::new();
    base(&world);
    world
        .module("search", "search", "1.0.0")
        .dep("base", "^1")
        .migration("V1__search", "CREATE VIRTUAL TABLE search_idx USING fts5(body);\nINSERT INTO search_idx (body) SELECT v FROM base_t;")
        .migration("V2__rtree", "CREATE VIRTUAL TABLE boxes USING rtree(id, min_x, max_x);")
        .write();
    let before = world.objects("acme");
    world.ok(&["install", "search", "--tenant", "acme"]);
    let kinds: Vec<(String, String)> = world
        .tenant_db("acme")
        .prepare("SELECT name, type FROM _modreg_objects WHERE module = 'search' ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(kinds.contains(&("search_idx".into(), "virtual".into())), "{kinds:?}");
    assert!(kinds.contains(&("search_idx_data".into(), "shadow".into())), "{kinds:?}");
    assert!(kinds.contains(&("boxes_node".into(), "shadow".into())), "{kinds:?}");
    let hits: i64 =
        world.tenant_db("acme").query_row("SELECT count(*) FROM search_idx WHERE search_idx MATCH 'one'", [], |r| r.get(0)).unwrap();
    assert_eq!(hits, 1);
    world.ok(&["uninstall", "search", "--tenant", "acme", "--purge"]);
    assert_eq!(world.objects("acme"), before);
}

#[test]
fn a_module_may_rebuild_its_own_table() {
    let world = World::new();
    base(&world);
    world
        .module("owner", "owner", "1.0.0")
        .migration("V1__t", "CREATE TABLE owned (id INTEGER PRIMARY KEY, a TEXT);\nINSERT INTO owned (a) VALUES ('x');")
        .migration("V2__rebuild", "CREATE TABLE owned_new (id INTEGER PRIMARY KEY, a TEXT NOT NULL DEFAULT '');\nINSERT INTO owned_new SELECT * FROM owned;\nDROP TABLE owned;\nALTER TABLE owned_new RENAME TO owned;")
        .write();
    world.ok(&["install", "owner", "--tenant", "acme"]);
    let listed: Vec<String> = world
        .tenant_db("acme")
        .prepare("SELECT name FROM _modreg_objects WHERE module = 'owner'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(listed, ["owned"]);
    assert_eq!(world.count("acme", "owned"), 1);
}

#[test]
fn sqlite_corners_survive_install_archive_and_restore() {
    let world = World::new();
    world
        .module("corners", "corners", "1.0.0")
        .migration(
            "V1__corners",
            r#"CREATE TABLE "odd ""name""" (id INTEGER PRIMARY KEY, "the value" TEXT);
CREATE TABLE priced (id INTEGER PRIMARY KEY, net INTEGER NOT NULL, tax INTEGER NOT NULL,
    gross INTEGER GENERATED ALWAYS AS (net + tax) STORED, label TEXT GENERATED ALWAYS AS ('#' || id) VIRTUAL) STRICT;
CREATE TABLE pairs (a TEXT, b TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
CREATE TABLE plain (note TEXT);
CREATE INDEX priced_gross ON priced (gross) WHERE gross > 100;
CREATE INDEX plain_lower ON plain (lower(note));
CREATE VIEW big AS SELECT * FROM priced WHERE gross > 100;
CREATE VIEW bigger AS SELECT id FROM big WHERE gross > 1000;
CREATE TRIGGER big_insert INSTEAD OF INSERT ON big BEGIN INSERT INTO priced (net, tax) VALUES (NEW.net, NEW.tax); END;"#,
        )
        .seed(
            "1.sql",
            r#"INSERT INTO "odd ""name""" VALUES (7, 'x;y''z');
INSERT INTO big (net, tax) VALUES (1000, 210);
INSERT INTO priced (net, tax) VALUES (5, 1);
INSERT INTO pairs VALUES ('k', 'v');
INSERT INTO plain VALUES ('Kept'), ('Also kept');
DELETE FROM plain WHERE note = 'Kept';"#,
        )
        .write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "corners", "--tenant", "acme"]);
    assert_eq!(world.count("acme", "priced"), 2);
    let gross: i64 = world.tenant_db("acme").query_row("SELECT gross FROM priced WHERE net = 1000", [], |r| r.get(0)).unwrap();
    assert_eq!(gross, 1210);
    let before = world.dump("acme");
    world.ok(&["uninstall", "corners", "--tenant", "acme"]);
    assert!(!world.has_object("acme", "odd \"name\"") && !world.has_object("acme", "bigger"));
    world.ok(&["install", "corners", "--tenant", "acme", "--restore"]);
    assert_eq!(content(&world.dump("acme")), content(&before), "restore is not faithful");
    // The plain table's rowids (2 after the delete) came back as they were.
    let rowid: i64 = world.tenant_db("acme").query_row("SELECT rowid FROM plain", [], |r| r.get(0)).unwrap();
    assert_eq!(rowid, 2);
    world.ok(&["uninstall", "corners", "--tenant", "acme", "--purge"]);
    let left: Vec<String> = world.objects("acme").into_iter().filter(|o| !o.starts_with("_modreg_") && !o.starts_with("sqlite_")).collect();
    assert!(left.is_empty(), "{left:?}");
}
