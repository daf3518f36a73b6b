//! SIGINT and SIGTERM roll back at once (SPEC §6): sent to a real running install, in a
//! hook, in a migration, in a fleet, while waiting for a lock and twice, they leave no
//! job running, the tenant file as it was, no hook's process behind, and the command
//! exits 130 or 143. `events --follow` ends cleanly on them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value as Json;

use crate::support::{Run, Stderr, World, content, ends_within, fifo, finished, read_fifo, signal, write_fifo};

/// Each signal with the exit code it must give.
const SIGNALS: [(libc::c_int, i32, &str); 2] = [(libc::SIGINT, 130, "SIGINT"), (libc::SIGTERM, 143, "SIGTERM")];

/// What the first signal prints, and each one after it.
const ROLLING_BACK: &str = "Interrupted rolling back the work in flight; nothing new starts";
const STILL_ROLLING_BACK: &str = "Interrupted still rolling back the work in flight: it is not abandoned";

/// Module `a` (a table with a row) installed on `tenants`, each with data of its own.
fn world(tenants: &[&str]) -> World {
    let world = World::new();
    world
        .module("a", "a", "1.0.0")
        .migration("V1__a", "CREATE TABLE a_t (id INTEGER PRIMARY KEY, v TEXT);")
        .seed("1.sql", "INSERT INTO a_t (id, v) VALUES (1, 'as installed');")
        .write();
    let mut add = vec!["tenant", "add"];
    add.extend(tenants);
    world.ok(&add);
    for tenant in tenants {
        world.sql(tenant, &format!("CREATE TABLE app_data (x TEXT); INSERT INTO app_data VALUES ('{tenant}');"));
        world.ok(&["install", "a", "--tenant", tenant]);
    }
    world
}

/// A hook body that starts a grandchild (a `sleep` in the hook's process group), writes
/// its pid to `pid`, says `started` on the pipe `started`, and waits.
fn blocking_hook(pid: &Path, started: &Path) -> String {
    format!("sleep 60 &\necho $! > {}\necho started > {}\nwait", pid.display(), started.display())
}

/// Runs modreg with `args` (and `--json` when `json`) until its hook says `started` on
/// the pipe `started`, then sends it `number`: how it ended, and the pid of the hook's
/// grandchild (which `blocking_hook` wrote to `pid`), running when the signal went.
fn interrupted_in_hook(
    world: &World,
    args: &[&str],
    json: bool,
    (started, pid): (&Path, &Path),
    number: libc::c_int,
) -> (Run, libc::pid_t) {
    let mut args = args.to_vec();
    if json {
        args.push("--json");
    }
    let mut child = world.spawn(&args);
    let stderr = Stderr::of(&mut child);
    assert_eq!(read_fifo(started), "started\n");
    let sleeper: libc::pid_t = std::fs::read_to_string(pid).unwrap().trim().parse().unwrap();
    assert!(!ends_within(sleeper, Duration::ZERO), "the hook's grandchild is not running");
    signal(&child, number);
    (finished(child, stderr, json), sleeper)
}

/// No job is left running, and recovery finds nothing to do.
#[track_caller]
fn nothing_left_running(world: &World) {
    let running: Vec<Json> = world.jobs().into_iter().filter(|j| j["status"] == "running").collect();
    assert!(running.is_empty(), "jobs left running: {running:#?}");
    assert_eq!(world.json(&["recover"])["tenants"], serde_json::json!([]));
}

/// The newest job, which must be rolled back with a reason that starts `starts`.
#[track_caller]
fn rolled_back(world: &World, starts: &str) -> Json {
    let job = world.jobs().last().cloned().unwrap();
    assert_eq!(job["status"], "rolled_back", "{job:#}");
    let reason = job["error"].as_str().unwrap();
    assert!(reason.starts_with(starts), "{reason}");
    job
}

#[test]
fn a_signal_while_a_hook_runs_kills_its_process_group_and_rolls_back() {
    for (number, code, name) in SIGNALS {
        let world = world(&["acme"]);
        let (pid, started, marker) = (world.path().join("hook.pid"), fifo(&world.path().join("hook.started")), world.path().join("rb"));
        world
            .module("c", "c", "1.0.0")
            .dep("a", "^1")
            .migration("V1__c", "CREATE TABLE c_t (x TEXT);\nUPDATE a_t SET v = 'changed by c';")
            .hook("post_install", &blocking_hook(&pid, &started))
            .hook("rollback", &format!("echo \"$MODREG_JOB_ID\" >> {}", marker.display()))
            .write();
        let before = world.dump("acme");
        // With `--json` for one signal, human output for the other.
        let json = number == libc::SIGINT;
        let (run, sleeper) = interrupted_in_hook(&world, &["install", "c", "--tenant", "acme"], json, (&started, &pid), number);
        run.code(code);
        let killed = format!("interrupted by {name}: post_install hook of `c 1.0.0` was killed");
        if json {
            let error = run.error();
            assert_eq!(error["kind"], "interrupted", "{error:#}");
            assert_eq!(error["message"], killed.as_str());
            assert!(error["hint"].as_str().unwrap().contains("tenant `acme` is as it was before the command"), "{error:#}");
            assert_eq!(error["jobs"][0]["status"], "rolled_back", "{error:#}");
        } else {
            assert_eq!(run.stderr_lines("error:"), [format!("error: {killed}")]);
            assert!(run.stderr.contains(ROLLING_BACK), "{}", run.stderr);
        }
        assert!(ends_within(sleeper, Duration::from_secs(5)), "{name}: the hook's grandchild outlived the hook");
        let job = rolled_back(&world, &killed);
        assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), job["id"].to_string(), "{name}: the rollback hook did not run");
        let steps = world.json(&["jobs", "show", &job["id"].to_string()])["job"]["steps"].clone();
        assert!(steps.as_array().unwrap().iter().any(|s| s["name"] == "rollback hook" && s["status"] == "ok"), "{steps:#}");
        assert_eq!(content(&world.dump("acme")), content(&before), "{name}: the tenant file changed");
        assert_eq!(world.installed("acme").keys().collect::<Vec<_>>(), ["a"]);
        nothing_left_running(&world);
    }
}

#[test]
fn a_signal_during_a_long_migration_stops_it_and_rolls_back() {
    for (number, code, name) in SIGNALS {
        let world = world(&["acme"]);
        world
            .module("slow", "slow", "1.0.0")
            .dep("a", "^1")
            .migration(
                "V1__slow",
                "CREATE TABLE slow_t (x TEXT);\nUPDATE a_t SET v = 'changed by slow';\n\
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) SELECT count(*) FROM n;",
            )
            .write();
        let before = world.dump("acme");
        // The time limit is far off: only the signal can stop the migration in time.
        let mut child = world.spawn_with(&["install", "slow", "--tenant", "acme", "--json"], &[("MODREG_SQL_TIMEOUT", "600")]);
        let mut stderr = Stderr::of(&mut child);
        // Said just before its migrations start; the last one runs for minutes.
        stderr.wait_for("Installing slow 1.0.0 for acme");
        let signalled = std::time::Instant::now();
        signal(&child, number);
        let run = finished(child, stderr, true);
        run.code(code);
        assert!(signalled.elapsed() < Duration::from_secs(20), "{name}: not stopped at once: {:?}", signalled.elapsed());
        let file = if world.tenants_url.is_some() { "migrations/postgres/V1__slow.sql" } else { "migrations/V1__slow.sql" };
        let stopped = format!("interrupted by {name}: migration `V1__slow` of `slow` was stopped at `{file}` line 3");
        assert_eq!(run.error()["kind"], "interrupted");
        assert_eq!(run.error()["message"], stopped.as_str());
        let job = rolled_back(&world, &stopped);
        let steps = world.json(&["jobs", "show", &job["id"].to_string()])["job"]["steps"].clone();
        let migrate = steps.as_array().unwrap().iter().find(|s| s["name"] == "migrate V1__slow").cloned().unwrap();
        assert_eq!(migrate["status"], "failed", "{steps:#}");
        assert_eq!(content(&world.dump("acme")), content(&before), "{name}: the tenant file changed");
        assert!(!world.has_object("acme", "slow_t"));
        nothing_left_running(&world);
    }
}

#[test]
fn a_signal_during_a_fleet_rolls_back_the_tenant_in_flight_and_starts_no_other() {
    let tenants = ["t1", "t2", "t3", "t4", "t5"];
    for (number, code, name) in SIGNALS {
        let world = world(&tenants);
        let (pid, started) = (world.path().join("hook.pid"), fifo(&world.path().join("hook.started")));
        world
            .module("m", "m", "1.0.0")
            .dep("a", "^1")
            .migration("V1__m", "CREATE TABLE m_t (x TEXT);\nUPDATE a_t SET v = 'changed by m';")
            .hook("post_install", &format!("if [ \"$MODREG_TENANT\" = t3 ]; then\n{}\nfi", blocking_hook(&pid, &started)))
            .write();
        let before: Vec<Vec<String>> = tenants.iter().map(|t| content(&world.dump(t))).collect();
        let json = number == libc::SIGINT;
        // One at a time, in order: t1 and t2 complete, t3 blocks in its hook.
        let mut args = vec!["install", "m", "--jobs", "1"];
        for tenant in &tenants {
            args.extend(["--tenant", tenant]);
        }
        let (run, sleeper) = interrupted_in_hook(&world, &args, json, (&started, &pid), number);
        run.code(code);
        let summary = format!("interrupted by {name}: the work in flight on 1 tenant(s) was rolled back, 2 tenant(s) were not started");
        if json {
            let error = run.error();
            assert_eq!((error["kind"].as_str(), error["message"].as_str()), (Some("interrupted"), Some(summary.as_str())));
            let outcomes: Vec<(&str, &str)> = error["tenants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t["tenant"].as_str().unwrap(), t["outcome"].as_str().unwrap()))
                .collect();
            assert_eq!(outcomes, [("t1", "completed"), ("t2", "completed"), ("t3", "failed"), ("t4", "skipped"), ("t5", "skipped")]);
            assert_eq!(error["tenants"][2]["error_kind"], "interrupted");
            assert_eq!(error["tenants"][3]["error"], format!("interrupted by {name}: not started"));
            assert_eq!(error["summary"], serde_json::json!({"completed": 2, "failed": 1, "unchanged": 0}));
        } else {
            assert_eq!(run.stderr_lines("error:"), [format!("error: {summary}")]);
            let status = run.stderr.lines().find(|l| l.contains("Interrupted install:")).unwrap_or_else(|| panic!("{}", run.stderr));
            assert!(status.ends_with("tenants: 2 completed, 1 failed, 0 unchanged, 2 skipped"), "{status}");
            // The summary table lists the tenants left undone, and why.
            for tenant in ["t3", "t4", "t5"] {
                assert!(run.stdout.lines().any(|l| l.contains(tenant) && l.contains(&format!("interrupted by {name}"))), "{}", run.stdout);
            }
        }
        assert!(ends_within(sleeper, Duration::from_secs(5)), "{name}: the hook's grandchild outlived the hook");
        let jobs: Vec<(String, String)> = world
            .jobs()
            .iter()
            .filter(|j| j["module"] == "m")
            .map(|j| (j["tenant"].as_str().unwrap().to_string(), j["status"].as_str().unwrap().to_string()))
            .collect();
        let expected = [("t1", "completed"), ("t2", "completed"), ("t3", "rolled_back")].map(|(t, s)| (t.to_string(), s.to_string()));
        assert_eq!(jobs, expected, "{name}");
        rolled_back(&world, &format!("interrupted by {name}: post_install hook of `m 1.0.0` was killed"));
        for (tenant, before) in tenants.iter().zip(&before) {
            let done = ["t1", "t2"].contains(tenant);
            assert_eq!(world.has_object(tenant, "m_t"), done, "{name}: {tenant}");
            assert_eq!(world.installed(tenant).contains_key("m"), done, "{name}: {tenant}");
            if !done {
                assert_eq!(&content(&world.dump(tenant)), before, "{name}: {tenant} changed");
            }
        }
        nothing_left_running(&world);
    }
}

#[test]
fn a_second_signal_while_rolling_back_says_so_and_the_rollback_finishes() {
    let world = world(&["acme"]);
    let dir = world.path();
    let (pid, started) = (dir.join("hook.pid"), fifo(&dir.join("hook.started")));
    let (undoing, go, marker) = (fifo(&dir.join("rollback.started")), fifo(&dir.join("rollback.go")), dir.join("rb"));
    world
        .module("c", "c", "1.0.0")
        .dep("a", "^1")
        .migration("V1__c", "CREATE TABLE c_t (x TEXT);\nDELETE FROM a_t;")
        .hook("post_install", &blocking_hook(&pid, &started))
        .hook(
            "rollback",
            &format!(
                "echo started > {}\nread answer < {}\necho \"$MODREG_JOB_ID\" >> {}",
                undoing.display(),
                go.display(),
                marker.display()
            ),
        )
        .write();
    let before = world.dump("acme");
    let mut child = world.spawn(&["install", "c", "--tenant", "acme"]);
    let mut stderr = Stderr::of(&mut child);
    assert_eq!(read_fifo(&started), "started\n");
    signal(&child, libc::SIGINT);
    stderr.wait_for(ROLLING_BACK);
    // The rollback hook runs, and waits: a second Ctrl-C now.
    assert_eq!(read_fifo(&undoing), "started\n");
    signal(&child, libc::SIGINT);
    stderr.wait_for(STILL_ROLLING_BACK);
    write_fifo(&go, "go\n");
    let run: Run = finished(child, stderr, false);
    run.code(130);
    let job = rolled_back(&world, "interrupted by SIGINT: post_install hook of `c 1.0.0` was killed");
    assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), job["id"].to_string(), "the rollback hook was cut short");
    assert_eq!(content(&world.dump("acme")), content(&before));
    nothing_left_running(&world);
}

#[test]
fn a_signal_ends_a_wait_for_the_tenant_lock_without_touching_it() {
    let world = world(&["acme"]);
    let (started, go): (PathBuf, PathBuf) = (fifo(&world.path().join("slow.started")), fifo(&world.path().join("slow.go")));
    world
        .module("slow", "slow", "1.0.0")
        .migration("V1__slow", "CREATE TABLE slow_t (x TEXT);")
        .hook("post_install", &format!("echo started > {}\nread answer < {}", started.display(), go.display()))
        .write();
    world.module("quick", "quick", "1.0.0").migration("V1__quick", "CREATE TABLE quick_t (x TEXT);").write();
    let mut first = world.spawn(&["install", "slow", "--tenant", "acme"]);
    let first_stderr = Stderr::of(&mut first);
    assert_eq!(read_fifo(&started), "started\n");
    let mut second = world.spawn(&["install", "quick", "--tenant", "acme", "--json", "--lock-timeout", "600"]);
    let mut second_stderr = Stderr::of(&mut second);
    second_stderr.wait_for("Blocking waiting for lock on tenant acme");
    signal(&second, libc::SIGTERM);
    let run = finished(second, second_stderr, true);
    run.code(143);
    assert_eq!(
        run.error()["message"],
        "interrupted by SIGTERM: stopped waiting for the lock on tenant `acme`; nothing was changed",
        "{:#}",
        run.error()
    );
    // The first goes on, untouched.
    write_fifo(&go, "0\n");
    finished(first, first_stderr, false).code(0);
    assert_eq!(world.installed("acme").keys().collect::<Vec<_>>(), ["a", "slow"]);
    assert!(!world.jobs().iter().any(|j| j["module"] == "quick"), "the interrupted command started a job");
    nothing_left_running(&world);
}

#[test]
fn events_follow_ends_cleanly_on_a_signal() {
    for (number, code, name) in SIGNALS {
        let world = world(&["acme"]);
        let events = world.events(None);
        let last = events.last().unwrap()["id"].clone();
        let mut child = world.spawn(&["events", "--follow"]);
        let mut stderr = Stderr::of(&mut child);
        stderr.wait_for("Following events after");
        signal(&child, number);
        let run = finished(child, stderr, false);
        run.exit(code);
        assert!(run.stderr_lines("error:").is_empty(), "{}", run.stderr);
        assert!(run.stderr.contains(&format!("Stopped following events after {last} ({name})")), "{}", run.stderr);
        // It printed every event, each a whole line of JSON.
        let printed: Vec<Json> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(printed, events);
    }
}
