//! Broken storage (SPEC §6, exit 7 `storage`): a damaged landlord file and a full disk
//! are told apart from modreg's own faults, name the file, say what happened and what to
//! do, and leave nothing half-done behind. (A damaged tenant file, and an install that
//! fills a tenant file's disk: `files/storage.rs`.)

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use rusqlite::Connection;

use crate::support::{World, content};

/// Folds the write-ahead log into the file, so that what is damaged next is what every
/// reader reads.
fn checkpoint(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open the file");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
    conn
}

/// Overwrites the page of the SQLite file at `path` that holds the root of `table` with
/// garbage, as a failing disk would; returns the page's number.
pub fn damage_table(path: &Path, table: &str) -> i64 {
    let conn = checkpoint(path);
    let page: i64 = conn.query_row("SELECT rootpage FROM sqlite_schema WHERE name = ?1", [table], |r| r.get(0)).expect("root page");
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).expect("page size");
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0)).expect("page count");
    drop(conn);
    assert!(page > 1 && page <= pages, "`{table}` is on page {page} of {pages}");
    let mut file = std::fs::OpenOptions::new().write(true).open(path).expect("open for writing");
    file.seek(SeekFrom::Start(((page - 1) * size) as u64)).expect("seek");
    file.write_all(&vec![0x5a; size as usize]).expect("write garbage");
    file.sync_all().expect("sync");
    page
}

/// Overwrites the SQLite header of the file at `path`: it no longer is a database.
pub fn damage_header(path: &Path) {
    drop(checkpoint(path));
    let mut file = std::fs::OpenOptions::new().write(true).open(path).expect("open for writing");
    file.write_all(b"this is no database header").expect("write garbage");
}

/// A small tmpfs mounted over a folder for the length of a test (root only); unmounted
/// when dropped, before the world's folder goes.
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) at `dir`, or says why it
    /// cannot and gives `None`: the test is then skipped, loudly.
    pub fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mount point");
        let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir).output();
        match mounted {
            Ok(out) if out.status.success() => Some(Tmpfs { dir: dir.to_path_buf() }),
            Ok(out) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs at {} ({}); this test needs root",
                    dir.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run `mount` ({e}); this test needs root and a tmpfs");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.dir).status().is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// The checks and tenants of what `doctor --json` finds, requiring exit `code`.
pub(crate) fn doctor_checks(world: &World, code: i32) -> Vec<(String, String)> {
    let run = world.run(&["doctor", "--json"]);
    run.exit(code);
    run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["check"].as_str().unwrap().to_string(), f["tenant"].as_str().unwrap_or("-").to_string()))
        .collect()
}

pub(crate) fn two_modules(world: &World) {
    world.module("a", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (id INTEGER PRIMARY KEY, v TEXT);").write();
    world.module("b", "b", "1.0.0").migration("V1__b", "CREATE TABLE b_t (x TEXT);").write();
}

/// What a user is owed for a storage failure: exit 7, kind `storage`, the file named,
/// what happened, and a hint.
#[track_caller]
pub(crate) fn storage_error(run: &crate::support::Run, file: &Path, what: &str) {
    run.code(7);
    let error = run.error();
    assert_eq!(error["kind"], "storage", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(&format!("`{}`", file.display())), "the file is not named: {message}");
    assert!(message.contains(what), "{message}");
    assert!(!message.contains("database disk image is malformed") || message.contains("damaged"), "{message}");
    assert!(error["hint"].as_str().is_some_and(|h| h.contains("`modreg doctor`")), "{error}");
}

#[test]
fn a_damaged_landlord_is_a_storage_error_that_names_it() {
    let world = World::new();
    if world.landlord_url.is_some() {
        // A landlord file to damage exists only on SQLite; PostgreSQL keeps its own pages.
        return;
    }
    two_modules(&world);
    world.ok(&["tenant", "add", "acme", "globex"]);
    world.ok(&["install", "a", "--tenant", "acme"]);
    let landlord = world.data().join("landlord.db");
    damage_table(&landlord, "tenant_modules");
    for args in [&["status", "--json"][..], &["install", "b", "--tenant", "globex", "--json"], &["tenant", "list", "--json"]] {
        let run = world.run(args);
        storage_error(&run, &landlord, "the file is damaged");
        assert!(run.error()["hint"].as_str().unwrap().contains("`modreg restore-landlord FILE`"), "{args:?}: {}", run.stdout);
    }
    assert_eq!(doctor_checks(&world, 1)[0], ("landlord.integrity".to_string(), "-".to_string()));
    damage_header(&landlord);
    let run = world.run(&["tenant", "list", "--json"]);
    storage_error(&run, &landlord, "is not a SQLite database");
    assert_eq!(doctor_checks(&world, 1), [("landlord.integrity".to_string(), "-".to_string())]);
}

/// Fills the disk the data folder is on with a file, as another program would.
fn fill_disk(world: &World) -> PathBuf {
    let filler = world.data().join("filler");
    let status = Command::new("sh").arg("-c").arg(format!("dd if=/dev/zero of='{}' bs=64k 2>/dev/null", filler.display())).status();
    assert!(status.is_ok(), "dd did not run");
    filler
}

#[test]
fn doctor_on_a_full_disk_says_the_storage_is_unavailable_not_that_files_are_damaged() {
    let world = World::new();
    let Some(_disk) = Tmpfs::mount(&world.data(), "3m") else { return };
    two_modules(&world);
    world.ok(&["tenant", "add", "acme", "globex"]);
    world.ok(&["install", "a", "--tenant", "acme"]);
    let before = world.dump("acme");
    let filler = fill_disk(&world);
    let run = world.run(&["doctor", "--json"]);
    run.exit(1);
    let findings = run.json()["findings"].as_array().cloned().unwrap();
    assert!(!findings.is_empty());
    for finding in &findings {
        assert_eq!(finding["check"], "storage.unavailable", "{finding}");
        let fix = finding["fix"].as_str().unwrap();
        assert!(fix.contains("free space") && fix.contains("`modreg doctor` again"), "{finding}");
        assert!(!fix.contains("BACKUP"), "a full disk must not send anyone to copy a backup over a sound file: {finding}");
    }
    let tenants: Vec<&str> = findings.iter().filter_map(|f| f["tenant"].as_str()).collect();
    assert!(tenants.contains(&"acme") || world.landlord_url.is_none(), "{findings:?}");
    // Space freed, the same files are found sound, as they were.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(doctor_checks(&world, 0), []);
    assert_eq!(world.dump("acme"), before);
}

#[test]
fn a_job_whose_end_the_full_landlord_cannot_record_says_it_waits_for_recover() {
    let world = World::new();
    if world.landlord_url.is_some() {
        // The landlord must share the full disk: on PostgreSQL it does not.
        return;
    }
    let Some(_disk) = Tmpfs::mount(&world.data(), "3m") else { return };
    // A hook that fills the disk, landlord included, and fails: the job rolls back on a
    // disk where nothing more can be written.
    world
        .module("f", "f", "1.0.0")
        .migration("V1__f", "CREATE TABLE f_t (x TEXT); INSERT INTO f_t VALUES (1);")
        .hook("post_install", "dd if=/dev/zero of=\"$MODREG_DATA/filler\" bs=64k 2>/dev/null; exit 1")
        .write();
    world.ok(&["tenant", "add", "acme", "globex"]);
    let before = world.dump("acme");
    let run = world.run(&["install", "f", "--tenant", "acme", "--json"]);
    run.code(1);
    let error = run.error();
    assert!(error["message"].as_str().unwrap().contains("post_install hook of `f 1.0.0` exited with status 1"), "{error}");
    let hint = error["hint"].as_str().unwrap();
    assert!(hint.contains("1 job(s) stay `running` in the landlord until `modreg recover` ends them"), "{error}");
    assert_eq!(content(&world.dump("acme")), content(&before), "the tenant was not rolled back");
    // A fleet says how many of its jobs wait, once, after its summary.
    let fleet = world.run(&["install", "f", "--jobs", "1", "--tenant", "globex", "--tenant", "acme"]);
    fleet.exit(1);
    let warned: Vec<&str> = fleet.stderr_lines("warning: the landlord could not record how the run ended");
    assert_eq!(warned.len(), 1, "{}", fleet.stderr);
    assert!(warned[0].contains("1 job(s) stay `running`"), "{}", fleet.stderr);
    // Space freed, `recover` ends both jobs as rolled back, and nothing is left to find.
    std::fs::remove_file(world.data().join("filler")).unwrap();
    let report = world.json(&["recover"]);
    let rolled_back: usize = report["tenants"].as_array().unwrap().iter().map(|t| t["rolled_back"].as_array().unwrap().len()).sum();
    assert_eq!(rolled_back, 2, "{report}");
    let statuses: Vec<String> = world.jobs().iter().map(|j| j["status"].as_str().unwrap().to_string()).collect();
    assert_eq!(statuses, ["rolled_back", "rolled_back"]);
    assert_eq!(doctor_checks(&world, 0), []);
}
