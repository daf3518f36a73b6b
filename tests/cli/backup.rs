//! `modreg backup DEST [--tenants]` and `modreg restore-landlord FILE`: consistent copies
//! taken while other processes work, and a landlord put back only once it is checked.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde_json::Value as Json;

use super::storage::{Tmpfs, damage_header, damage_table};
use crate::support::{World, dump, fifo, read_fifo, write_fifo};

/// `PRAGMA integrity_check` of a file, opened read-only.
fn integrity(path: &Path) -> String {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

fn read_only(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// The SQL that `pg_restore` reads out of a tenant's backup on PostgreSQL (a
/// `pg_dump --format=custom` file); it fails the test unless the file is whole.
fn restored_sql(path: &Path) -> String {
    let out = std::process::Command::new("pg_restore").arg("--file=-").arg(path).output().expect("run pg_restore");
    assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A catalog with `m` and `slow`, whose pre_install hook says it started (on
/// `<tenant>.started`) and waits for a line (on `<tenant>.go`), and three tenants.
fn world() -> World {
    let world = World::new();
    world
        .module("m", "m", "1.0.0")
        .migration("V1__m", "CREATE TABLE m_t (id INTEGER PRIMARY KEY, v TEXT);")
        .seed("1.sql", "INSERT INTO m_t (id, v) VALUES (1, 'seeded');")
        .write();
    let dir = world.path().display().to_string();
    world
        .module("slow", "slow", "1.0.0")
        .migration("V1__slow", "CREATE TABLE slow_t (x TEXT);")
        .hook("pre_install", &format!("echo started > {dir}/$MODREG_TENANT.started; read line < {dir}/$MODREG_TENANT.go"))
        .write();
    world.ok(&["tenant", "add", "acme", "globex", "initech"]);
    world.ok(&["install", "m", "--all-tenants"]);
    world
}

/// `status --json`, the landlord as a user sees it.
fn status(world: &World) -> Json {
    world.json(&["status"])
}

/// For the tests of restoring the SQLite landlord's file: the world, backed up into
/// `backup/` (with the tenant files when `tenants`). None on PostgreSQL, whose landlord
/// is no file (`a_postgresql_landlord_is_for_pg_dump_and_pg_restore`).
fn backed_up(tenants: bool) -> Option<(World, PathBuf)> {
    let world = world();
    if world.landlord_url.is_some() {
        return None;
    }
    let dest = world.path().join("backup");
    let mut args = vec!["backup", dest.to_str().unwrap()];
    if tenants {
        args.push("--tenants");
    }
    world.ok(&args);
    Some((world, dest))
}

#[test]
fn a_backup_taken_while_a_fleet_install_runs_opens_and_passes_integrity_check() {
    let world = world();
    let started = fifo(&world.path().join("globex.started"));
    let go = fifo(&world.path().join("globex.go"));
    // Only globex's hook waits; the others' pipes are plain files.
    for tenant in ["acme", "initech"] {
        std::fs::write(world.path().join(format!("{tenant}.go")), "go\n").unwrap();
    }
    let fleet = world.spawn(&["install", "slow", "--all-tenants", "--jobs", "3"]);
    assert_eq!(read_fifo(&started), "started\n");
    let dest = world.path().join("backup");
    let run = world.run(&["backup", dest.to_str().unwrap(), "--tenants", "--json"]);
    run.code(0);
    let report = run.json();
    let tenants: Vec<&str> = report["tenants"].as_array().unwrap().iter().map(|t| t["tenant"].as_str().unwrap()).collect();
    assert_eq!(tenants, ["acme", "globex", "initech"]);
    let manifest: Json = serde_json::from_str(&std::fs::read_to_string(dest.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["tenants"], report["tenants"]);
    // The tenant whose hook waits is copied as it was before the install committed.
    match &world.tenants_url {
        None => {
            for tenant in &tenants {
                assert_eq!(integrity(&dest.join(format!("tenants/{tenant}.db"))), "ok", "{tenant}");
            }
            assert!(read_only(&dest.join("tenants/globex.db")).prepare("SELECT * FROM slow_t").is_err(), "globex's install is in the copy");
        }
        Some(_) => {
            for tenant in &tenants {
                let sql = restored_sql(&dest.join(format!("tenants/{tenant}.dump")));
                assert!(sql.contains("CREATE TABLE") && sql.contains("m_t"), "{tenant}: {sql}");
            }
            let globex = restored_sql(&dest.join("tenants/globex.dump"));
            assert!(!globex.contains("slow_t"), "globex's install is in the copy");
        }
    }
    match &world.landlord_url {
        None => {
            let landlord = dest.join("landlord.db");
            assert_eq!(integrity(&landlord), "ok");
            assert_eq!(manifest["landlord"]["schema_version"], 3);
            // The copied landlord knows the job under way as running.
            let running: i64 = read_only(&landlord)
                .query_row("SELECT count(*) FROM jobs WHERE tenant = 'globex' AND status = 'running'", [], |r| r.get(0))
                .unwrap();
            assert_eq!(running, 1);
        }
        Some(_) => {
            // A PostgreSQL landlord is pg_dump's to back up; the tenant files are copied all the same.
            assert_eq!(report["landlord"], Json::Null);
            assert!(!dest.join("landlord.db").exists());
            assert!(run.stderr.contains("back it up with `pg_dump`"), "{}", run.stderr);
        }
    }
    // The fleet went on while the backup was taken, and finishes.
    write_fifo(&go, "go\n");
    let out = fleet.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(world.has_object("globex", "slow_t"));
}

#[test]
fn restoring_a_good_backup_brings_back_status_as_it_was() {
    let Some((world, dest)) = backed_up(false) else { return };
    let before = status(&world);
    assert!(!dest.join("tenants").exists(), "tenant files are copied only with --tenants");
    // Much happens after the backup.
    world.ok(&["uninstall", "m", "--tenant", "acme"]);
    world.ok(&["tenant", "add", "hooli"]);
    assert_ne!(status(&world), before);
    let landlord = world.data().join("landlord.db");
    let replaced = dump(&world.landlord());
    let run = world.run(&["restore-landlord", dest.join("landlord.db").to_str().unwrap(), "--json"]);
    run.code(0);
    let report = run.json();
    assert_eq!(status(&world), before);
    assert_eq!((report["tenants"].clone(), report["unfinished_jobs"].clone()), (Json::from(3), Json::from(0)), "{report}");
    // The landlord it replaced is kept beside it, as it was.
    let kept = PathBuf::from(report["replaced_kept_at"].as_str().unwrap());
    assert_eq!(kept.parent(), landlord.parent());
    assert_eq!(dump(&Connection::open(&kept).unwrap()), replaced);
    // Commands work on the restored landlord.
    world.ok(&["install", "slow", "--tenant", "initech", "--dry-run"]);
}

#[test]
fn restoring_a_damaged_or_wrong_file_is_refused_and_the_landlord_is_untouched() {
    let Some((world, dest)) = backed_up(true) else { return };
    let before = dump(&world.landlord());
    let landlord_files = |world: &World| {
        let mut names: Vec<String> =
            std::fs::read_dir(world.data()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    let files_before = landlord_files(&world);

    let damaged = world.path().join("damaged.db");
    std::fs::copy(dest.join("landlord.db"), &damaged).unwrap();
    damage_table(&damaged, "jobs");
    let not_a_database = world.path().join("notes.db");
    std::fs::write(&not_a_database, "SQLite format 3? no: these are notes").unwrap();
    // A tenant's backup: on PostgreSQL no SQLite file at all.
    let acme_db = dest.join("tenants/acme.db");
    let acme_dump = dest.join("tenants/acme.dump");
    let tenant_backup = if world.tenants_url.is_some() {
        (&acme_dump, 7, "storage", "not a SQLite database")
    } else {
        (&acme_db, 2, "invalid", "no modreg landlord")
    };
    // A SQLite file that is no landlord.
    let other = world.path().join("other.db");
    Connection::open(&other).unwrap().execute_batch("CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('mine');").unwrap();
    let truncated = world.path().join("truncated.db");
    std::fs::copy(dest.join("landlord.db"), &truncated).unwrap();
    damage_header(&truncated);
    for (file, code, kind, words) in [
        (&damaged, 7, "storage", "is damaged"),
        (&not_a_database, 7, "storage", "not a SQLite database"),
        (&truncated, 7, "storage", "not a SQLite database"),
        (&other, 2, "invalid", "no modreg landlord"),
        tenant_backup,
        (&world.path().join("nowhere.db"), 3, "not_found", "there is no file"),
        (&world.data().join("landlord.db"), 2, "invalid", "the landlord itself"),
    ] {
        let run = world.run(&["restore-landlord", file.to_str().unwrap(), "--json"]);
        run.code(code);
        let error = run.error();
        assert_eq!(error["kind"], kind, "{}: {error}", file.display());
        assert!(error["message"].as_str().unwrap().contains(words), "{}: {error}", file.display());
        assert!(error["message"].as_str().unwrap().contains(&format!("`{}`", file.display())), "{error}");
        assert_eq!(dump(&world.landlord()), before, "{}", file.display());
        assert_eq!(landlord_files(&world), files_before, "{}", file.display());
    }
    let hint = world.run(&["restore-landlord", damaged.to_str().unwrap(), "--json"]).error()["hint"].as_str().unwrap().to_string();
    assert!(hint.contains("nothing was restored"), "{hint}");
}

#[test]
fn restore_landlord_is_refused_while_a_job_runs() {
    let Some((world, dest)) = backed_up(false) else { return };
    let started = fifo(&world.path().join("acme.started"));
    let go = fifo(&world.path().join("acme.go"));
    let install = world.spawn(&["install", "slow", "--tenant", "acme"]);
    assert_eq!(read_fifo(&started), "started\n");
    let before = dump(&world.landlord());
    let run = world.run(&["restore-landlord", dest.join("landlord.db").to_str().unwrap(), "--json"]);
    run.code(6);
    assert_eq!(run.error()["kind"], "busy");
    assert!(run.error()["message"].as_str().unwrap().contains("tenant `acme` is busy"), "{}", run.stdout);
    assert_eq!(dump(&world.landlord()), before);
    write_fifo(&go, "go\n");
    assert!(install.wait_with_output().unwrap().status.success());
    // Once it has ended, the restore goes ahead: the install is forgotten with it.
    world.ok(&["restore-landlord", dest.join("landlord.db").to_str().unwrap()]);
    assert!(!world.installed("acme").contains_key("slow"));
}

#[test]
fn a_damaged_landlord_is_put_back_from_its_backup() {
    let Some((world, dest)) = backed_up(false) else { return };
    let before = status(&world);
    let landlord = world.data().join("landlord.db");
    let mut kept = Vec::new();
    for damage in [damage_table as fn(&Path, &str) -> i64, |path: &Path, _: &str| -> i64 {
        damage_header(path);
        0
    }] {
        damage(&landlord, "tenant_modules");
        world.run(&["status", "--json"]).code(7);
        let run = world.run(&["restore-landlord", dest.join("landlord.db").to_str().unwrap(), "--json"]);
        run.code(0);
        assert_eq!(status(&world), before);
        kept.push(PathBuf::from(run.json()["replaced_kept_at"].as_str().unwrap()));
    }
    // The damaged landlords are kept too, each in a file of its own.
    assert!(kept.iter().all(|k| k.is_file()) && kept[0] != kept[1], "{kept:?}");
    assert_eq!(world.run(&["doctor", "--json"]).json()["healthy"], true);
}

#[test]
fn a_backup_goes_into_a_folder_of_its_own() {
    let world = world();
    let dest = world.path().join("backup");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("something.txt"), "already here").unwrap();
    let run = world.run(&["backup", dest.to_str().unwrap(), "--tenants", "--json"]);
    run.code(2);
    assert!(run.error()["message"].as_str().unwrap().contains("is not empty"), "{}", run.stdout);
    assert!(!dest.join("tenants").exists());
    // An empty folder is fine.
    let empty = world.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    // (On PostgreSQL with the warning that the landlord is pg_dump's.)
    world.run(&["backup", empty.to_str().unwrap(), "--tenants"]).code(0);
    assert!(empty.join("manifest.json").is_file());
}

#[test]
fn a_postgresql_landlord_is_for_pg_dump_and_pg_restore() {
    let world = world();
    if world.landlord_url.is_none() {
        // The SQLite landlord is a file: the tests above back it up and restore it.
        return;
    }
    let dest = world.path().join("backup");
    let run = world.run(&["backup", dest.to_str().unwrap(), "--json"]);
    run.code(2);
    assert!(run.error()["hint"].as_str().unwrap().contains("`pg_dump"), "{}", run.stdout);
    assert!(!dest.exists());
    let file = world.path().join("landlord.db");
    std::fs::write(&file, "whatever").unwrap();
    let run = world.run(&["restore-landlord", file.to_str().unwrap(), "--json"]);
    run.code(2);
    assert!(run.error()["hint"].as_str().unwrap().contains("`pg_restore`"), "{}", run.stdout);
}

#[test]
fn a_backup_onto_a_full_disk_is_a_storage_error_and_leaves_no_partial_file() {
    let world = world();
    let dest = world.path().join("small");
    let Some(_disk) = Tmpfs::mount(&dest, "16k") else { return };
    // The landlord on SQLite, else each tenant file: more than 16 KiB either way.
    let run = world.run(&["backup", dest.to_str().unwrap(), "--tenants", "--json"]);
    let copies: Vec<PathBuf> = walk(&dest);
    match &world.landlord_url {
        None => {
            run.code(7);
            let error = run.error();
            assert!(error["message"].as_str().unwrap().contains("the disk is full"), "{error}");
            assert!(error["message"].as_str().unwrap().contains(&dest.join("landlord.db").display().to_string()), "{error}");
        }
        Some(_) => {
            run.exit(1);
            let failed = run.json()["failed"].clone();
            assert!(failed.as_array().is_some_and(|f| !f.is_empty() && f.iter().all(|f| f["error_kind"] == "storage")), "{failed}");
        }
    }
    assert!(copies.iter().all(|p| !p.display().to_string().ends_with(".partial")), "{copies:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        if entry.path().is_dir() { out.extend(walk(&entry.path())) } else { out.push(entry.path()) }
    }
    out
}
