//! Hooks and the tenant file: a hook listed in `[hooks] writes_tenant_db` sees each
//! module's work committed and may write, behind a whole-file rollback copy; any other
//! hook runs inside modreg's one transaction, costs no copy, sees the file as it was
//! before the command and cannot write it. Either way a failure leaves the file as before.
//! On PostgreSQL tenants every hook works inside the job's one transaction, on the
//! connection modreg lends it, and none costs a copy (`tests/pg_tenants`).

use std::path::PathBuf;
use std::process::{Child, Output};

use rusqlite::{Connection, ErrorCode};

use crate::support::{World, fifo, read_fifo, write_fifo};

/// A hook body that says it started on `<name>.started`, waits for a line on `<name>.go`,
/// and exits with the status it reads there. Returns the two pipes.
fn gate(world: &World, name: &str) -> (PathBuf, PathBuf, String) {
    let started = fifo(&world.path().join(format!("{name}.started")));
    let go = fifo(&world.path().join(format!("{name}.go")));
    let body = format!("echo started > {}; read status < {}; exit \"$status\"", started.display(), go.display());
    (started, go, body)
}

/// A modreg run in the background, killed if the test fails before it ends (its hook
/// would otherwise wait on its pipe for ever).
struct Running(Option<Child>);

impl Running {
    fn finish(mut self) -> Output {
        self.0.take().map(|child| child.wait_with_output().unwrap()).unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn step_names(world: &World, job: &serde_json::Value) -> Vec<String> {
    let shown = world.json(&["jobs", "show", &job["id"].to_string()]);
    shown["job"]["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
}

/// Where a tenant's rollback copy is kept: the file beside the tenant's, or its
/// checkpoint in `_modreg.checkpoints` on PostgreSQL.
enum Copy {
    File(PathBuf),
    Checkpoint,
}

impl Copy {
    fn exists(&self, world: &World) -> bool {
        match self {
            Copy::File(path) => path.exists() || path.with_extension("rollback.tmp").exists(),
            Copy::Checkpoint => {
                let rows = world.tenant_client("acme").query("SELECT 1 FROM _modreg.checkpoints WHERE tenant = 'acme'", &[]).unwrap();
                !rows.is_empty()
            }
        }
    }
}

fn tenant() -> (World, Copy) {
    let world = World::new();
    world.ok(&["tenant", "add", "acme"]);
    world.sql("acme", "CREATE TABLE app_data (x TEXT); INSERT INTO app_data VALUES ('precious');");
    let copy = if world.tenants_url.is_some() { Copy::Checkpoint } else { Copy::File(world.data().join("tenants/acme.db.rollback")) };
    (world, copy)
}

#[test]
fn a_hook_that_writes_the_tenant_db_sees_the_work_and_is_undone_when_the_job_fails() {
    let (world, copy) = tenant();
    let (started, go, gate_body) = gate(&world, "writer");
    let writes = "INSERT INTO w_t VALUES ('by the hook'); UPDATE app_data SET x = 'changed by the hook';";
    let postgres = world.tenants_url.is_some();
    // On PostgreSQL the hook writes on the connection it is lent, inside the job's
    // transaction; on SQLite this test writes for it while it waits, as the hook's own
    // process would, once the module's work committed.
    let body = if postgres { format!("psql -q -v ON_ERROR_STOP=1 \"$MODREG_TENANT_URL\" -c \"{writes}\"; {gate_body}") } else { gate_body };
    world
        .module("w", "w", "1.0.0")
        .migration("V1__w", "CREATE TABLE w_t (v TEXT);")
        .hook("post_install", &body)
        .writes_tenant_db(&["post_install"])
        .write();
    let before = world.dump("acme");
    for (status, outcome) in [("3", 1), ("0", 0)] {
        let child = Running(Some(world.spawn(&["install", "w", "--tenant", "acme", "--json"])));
        assert_eq!(read_fifo(&started), "started\n");
        if postgres {
            assert!(!copy.exists(&world), "a checkpoint was taken");
            assert!(!world.has_object("acme", "w_t"), "the job's work is visible outside its transaction");
        } else {
            assert!(copy.exists(&world), "no rollback copy while a hook that writes runs");
            world.sql("acme", writes);
        }
        write_fifo(&go, &format!("{status}\n"));
        let output = child.finish();
        assert_eq!(output.status.code(), Some(outcome), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(!copy.exists(&world), "the rollback copy was left behind");
        let job = world.jobs().last().unwrap().clone();
        let steps = step_names(&world, &job);
        assert_eq!(steps[0] == "rollback copy", !postgres, "{steps:?}");
        if outcome == 1 {
            assert_eq!(job["status"], "rolled_back");
            assert_eq!(world.dump("acme"), before, "the hook's writes were not undone");
        }
    }
    assert_eq!(world.count("acme", "w_t"), 1);
    assert_eq!(world.text("acme", "SELECT x FROM app_data"), "changed by the hook");
    if !postgres {
        let shown = world.json(&["jobs", "show", &world.jobs().last().unwrap()["id"].to_string()]);
        let detail = shown["job"]["steps"][0]["detail"].as_str().unwrap().to_string();
        assert!(detail.starts_with("reflink (FICLONE)") || detail.starts_with("file copy"), "{detail}");
    }
}

#[test]
fn a_hook_not_listed_costs_no_copy_sees_the_file_as_before_and_a_later_failure_undoes_the_work() {
    let (world, copy) = tenant();
    let (started, go, body) = gate(&world, "reader");
    let marker = world.path().join("rolled-back.txt");
    let no_copy = if world.tenants_url.is_some() {
        "psql -Atq -v ON_ERROR_STOP=1 \"$MODREG_TENANT_URL\" \\
            -c \"SELECT 'copy: ' || tenant FROM _modreg.checkpoints WHERE tenant = '$MODREG_TENANT_SCHEMA'\""
    } else {
        "for f in \"$MODREG_TENANT_DB.rollback\" \"$MODREG_TENANT_DB.rollback.tmp\"; do if [ -e \"$f\" ]; then echo \"copy: $f\"; fi; done"
    };
    world
        .module("r", "r", "1.0.0")
        .migration("V1__r", "CREATE TABLE r_t (v TEXT);\nINSERT INTO r_t VALUES ('seeded');\nINSERT INTO app_data VALUES ('by r');")
        // On PostgreSQL a module has no right on the application's tables.
        .migration_pg("V1__r", "CREATE TABLE r_t (v TEXT);\nINSERT INTO r_t VALUES ('seeded');")
        .hook("pre_install", no_copy)
        .hook("post_install", &format!("{no_copy}; {body}"))
        .hook("rollback", &format!("{no_copy}; echo rolled back >> {}", marker.display()))
        .write();
    world
        .module("late", "late", "1.0.0")
        .dep("r", "^1")
        .migration("V1__late", "CREATE TABLE late_t (x TEXT);\nINSERT INTO nowhere VALUES (1);")
        .write();
    let before = world.dump("acme");
    let child = Running(Some(world.spawn(&["install", "late", "--tenant", "acme", "--json"])));
    assert_eq!(read_fifo(&started), "started\n");
    assert!(!copy.exists(&world), "a rollback copy was made");
    // The hook runs inside modreg's transaction: the file reads as before the command,
    // and on SQLite a write has to wait for the transaction (here it does not wait at
    // all); on PostgreSQL the hook's sessions are read-only (`tests/pg_tenants`).
    assert_eq!(world.dump("acme"), before, "uncommitted work is visible");
    if world.tenants_url.is_none() {
        let conn = Connection::open(world.tenant_path("acme")).unwrap();
        conn.busy_timeout(std::time::Duration::ZERO).unwrap();
        let refused = conn.execute("INSERT INTO app_data VALUES ('by a hook')", []).unwrap_err();
        assert_eq!(refused.sqlite_error_code(), Some(ErrorCode::DatabaseBusy), "{refused}");
    }
    write_fifo(&go, "0\n");
    let output = child.finish();
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let error: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let failed = if world.tenants_url.is_some() {
        "migration `V1__late` of `late` failed at `migrations/postgres/V1__late.sql` line 2: relation \"nowhere\" does not exist"
    } else {
        "migration `V1__late` of `late` failed: no such table: nowhere"
    };
    assert!(error["error"]["message"].as_str().unwrap().contains(failed), "{error}");
    // r's SQL, committed by nothing, went with the transaction.
    assert_eq!(world.dump("acme"), before);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "rolled back\n");
    let jobs = world.jobs();
    let r = jobs.iter().find(|j| j["module"] == "r").unwrap();
    assert_eq!(r["status"], "rolled_back");
    let steps = step_names(&world, r);
    for absent in ["rollback copy", "begin", "commit"] {
        assert!(!steps.iter().any(|s| s == absent), "{absent}: {steps:?}");
    }
    let shown = world.json(&["jobs", "show", &r["id"].to_string()]);
    let outputs: Vec<&serde_json::Value> = shown["job"]["steps"].as_array().unwrap().iter().map(|s| &s["output"]).collect();
    assert!(outputs.iter().all(|o| !o.as_str().unwrap_or("").contains("copy:")), "a hook saw a copy: {outputs:?}");
    assert!(steps.contains(&"post_install hook".to_string()) && steps.contains(&"rollback hook".to_string()), "{steps:?}");
}

#[test]
fn validate_refuses_a_bad_writes_tenant_db() {
    let world = World::new();
    world
        .module("w", "w", "1.0.0")
        .migration("V1__w", "CREATE TABLE w_t (x TEXT);")
        .hook("post_install", "exit 0")
        .writes_tenant_db(&["post_instal", "pre_upgrade", "post_install"])
        .write();
    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let errors = super::validate::errors(&run);
    let found: Vec<(String, String, i64)> = errors
        .iter()
        .map(|e| (e["file"].as_str().unwrap().to_string(), e["message"].as_str().unwrap().to_string(), e["line"].as_i64().unwrap()))
        .collect();
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found.iter().all(|(file, _, line)| file.ends_with("w/module.toml") && *line == 7), "{found:#?}");
    assert_eq!(found[0].1, "[hooks] writes_tenant_db: unknown hook `post_instal`; did you mean `post_install`?");
    assert_eq!(
        found[1].1,
        "[hooks] writes_tenant_db names `pre_upgrade`, which this manifest does not set; set `pre_upgrade` or leave it out"
    );
    // Fixed, it validates.
    world
        .module("w", "w", "1.0.0")
        .migration("V1__w", "CREATE TABLE w_t (x TEXT);")
        .hook("post_install", "exit 0")
        .writes_tenant_db(&["post_install"])
        .write();
    world.ok(&["validate"]);
}
