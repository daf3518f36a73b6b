//! Two hosts on one machine sharing one PostgreSQL landlord: two data folders (each
//! host's tenant files), `MODREG_HOST` `a` and `b`. Built only into `cli_postgres`.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::support::{Run, Stderr, World, fifo, read_fifo, write_fifo};

struct Hosts {
    world: World,
}

impl Hosts {
    /// A catalog with `m` (one table) and `slow` (a pre_install hook that says it
    /// started on `<tenant>.started`, then waits for a line on `<tenant>.go`); `None`
    /// without PostgreSQL.
    fn new() -> Option<Hosts> {
        let world = World::new();
        world.landlord_url.as_ref()?;
        world.module("m", "m", "1.0.0").migration("V1__m", "CREATE TABLE m_t (x);").write();
        world
            .module("slow", "slow", "1.0.0")
            .migration("V1__slow", "CREATE TABLE slow_t (x);")
            .hook(
                "pre_install",
                &format!("echo started > {0}/$MODREG_TENANT.started; read line < {0}/$MODREG_TENANT.go", world.path().display()),
            )
            .write();
        Some(Hosts { world })
    }

    fn data(&self, host: &str) -> String {
        self.world.path().join(format!("data-{host}")).display().to_string()
    }

    fn env<'a>(&'a self, host: &'a str, data: &'a str) -> [(&'a str, &'a str); 2] {
        [("MODREG_HOST", host), ("MODREG_DATA", data)]
    }

    fn run(&self, host: &str, args: &[&str]) -> Run {
        let data = self.data(host);
        self.world.run_with(args, &self.env(host, &data))
    }

    #[track_caller]
    fn ok(&self, host: &str, args: &[&str]) -> Run {
        let run = self.run(host, args);
        run.code(0);
        run
    }

    #[track_caller]
    fn json(&self, host: &str, args: &[&str]) -> Json {
        let mut all = args.to_vec();
        all.push("--json");
        self.ok(host, &all).json()
    }

    fn spawn(&self, host: &str, args: &[&str], extra: &[(&str, &str)]) -> Child {
        let data = self.data(host);
        let mut env = self.env(host, &data).to_vec();
        env.extend_from_slice(extra);
        self.world.spawn_with(args, &env)
    }

    /// The pipes of the `slow` hook for a tenant.
    fn gate(&self, tenant: &str) -> (PathBuf, PathBuf) {
        (fifo(&self.world.path().join(format!("{tenant}.started"))), fifo(&self.world.path().join(format!("{tenant}.go"))))
    }

    fn jobs(&self) -> Vec<Json> {
        let mut jobs = self.json("a", &["jobs", "list", "--limit", "100000"])["jobs"].as_array().cloned().unwrap_or_default();
        jobs.reverse();
        jobs
    }

    fn job(&self, id: &Json) -> Json {
        self.json("a", &["jobs", "show", &id.to_string()])["job"].clone()
    }

    fn events(&self, host: &str) -> Vec<Json> {
        self.ok(host, &["events"]).stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

fn names(tenants: &Json) -> Vec<(String, String)> {
    tenants["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t["host"].as_str().unwrap_or("-").to_string()))
        .collect()
}

#[test]
fn each_host_works_only_on_the_tenants_whose_files_it_holds() {
    let Some(hosts) = Hosts::new() else { return };
    hosts.ok("a", &["tenant", "add", "acme"]);
    hosts.ok("b", &["tenant", "add", "globex"]);
    assert_eq!(names(&hosts.json("a", &["tenant", "list"])), [("acme".into(), "a".into()), ("globex".into(), "b".into())]);
    assert!(PathBuf::from(hosts.data("a")).join("tenants/acme.db").exists());
    assert!(!PathBuf::from(hosts.data("a")).join("tenants/globex.db").exists());

    let elsewhere = hosts.run("a", &["install", "m", "--tenant", "globex"]);
    elsewhere.code(2);
    assert!(elsewhere.stderr.contains("tenant `globex` lives on host `b`, and this is host `a`"), "{}", elsewhere.stderr);
    assert!(elsewhere.stderr.contains("hint: run the command on host `b`"), "{}", elsewhere.stderr);
    let again = hosts.run("a", &["tenant", "add", "globex"]);
    again.code(2);

    let fleet = hosts.json("a", &["install", "m", "--all-tenants"]);
    let planned: Vec<&str> = fleet["plan"].as_array().unwrap().iter().map(|r| r["tenant"].as_str().unwrap()).collect();
    assert_eq!(planned, ["acme"], "--all-tenants is this host's tenants");
    let all_hosts = hosts.run("a", &["install", "m", "--all-hosts", "--json"]);
    all_hosts.code(2);
    assert!(all_hosts.error()["hint"].as_str().unwrap().contains("`--all-tenants` on every host"), "{}", all_hosts.stdout);

    // Reading the landlord works from any host.
    let status = hosts.json("b", &["status"]);
    assert_eq!(status["tenants"].as_array().unwrap().len(), 2);
    hosts.ok("b", &["check", "--tenant", "acme", "m"]);
    let jobs = hosts.jobs();
    assert_eq!(jobs.iter().map(|j| j["host"].as_str().unwrap()).collect::<Vec<_>>(), ["a"]);
}

#[test]
fn a_tenant_moves_to_another_host_with_its_file() {
    let Some(hosts) = Hosts::new() else { return };
    hosts.ok("a", &["tenant", "add", "acme"]);
    hosts.ok("a", &["install", "m", "--tenant", "acme"]);
    let moved = hosts.run("a", &["tenant", "move", "acme", "--to", "b"]);
    moved.code(0);
    assert!(moved.stderr.contains("Moved tenant acme from host a to host b"), "{}", moved.stderr);
    assert!(moved.stderr.contains("copy it to the data folder of host `b`"), "{}", moved.stderr);
    assert_eq!(names(&hosts.json("a", &["tenant", "list"])), [("acme".into(), "b".into())]);
    let again = hosts.ok("a", &["tenant", "move", "acme", "--to", "b"]);
    assert!(again.stderr.contains("Unchanged tenant acme already lives on host b"), "{}", again.stderr);
    hosts.run("a", &["install", "slow", "--tenant", "acme"]).code(2);
    let b_tenants = PathBuf::from(hosts.data("b")).join("tenants");
    std::fs::create_dir_all(&b_tenants).unwrap();
    std::fs::rename(PathBuf::from(hosts.data("a")).join("tenants/acme.db"), b_tenants.join("acme.db")).unwrap();
    hosts.ok("b", &["uninstall", "m", "--tenant", "acme", "--purge"]);
    assert!(hosts.json("b", &["status", "--tenant", "acme"])["tenants"][0]["modules"].as_array().unwrap().is_empty());
    let moved_events: Vec<Json> = hosts.events("a").into_iter().filter(|e| e["type"] == "tenant.moved").collect();
    assert_eq!(moved_events.len(), 1);
}

#[test]
fn fleets_on_both_hosts_at_once_and_one_event_order_for_every_reader() {
    let Some(hosts) = Hosts::new() else { return };
    let a_tenants: Vec<String> = (0..8).map(|i| format!("a{i}")).collect();
    let b_tenants: Vec<String> = (0..8).map(|i| format!("b{i}")).collect();
    let args = |list: &[String]| ["tenant", "add"].into_iter().map(String::from).chain(list.iter().cloned()).collect::<Vec<_>>();
    hosts.ok("a", &args(&a_tenants).iter().map(String::as_str).collect::<Vec<_>>());
    hosts.ok("b", &args(&b_tenants).iter().map(String::as_str).collect::<Vec<_>>());
    let before = hosts.events("a").last().unwrap()["id"].as_i64().unwrap();

    let mut follower = hosts.spawn("b", &["events", "--follow", "--after", &before.to_string()], &[]);
    let mut follower_stderr = Stderr::of(&mut follower);
    follower_stderr.wait_for("Following");
    let fleet_a = hosts.spawn("a", &["install", "m", "--all-tenants", "--jobs", "2"], &[]);
    let fleet_b = hosts.spawn("b", &["install", "m", "--all-tenants", "--jobs", "2"], &[]);
    assert!(fleet_a.wait_with_output().unwrap().status.success());
    assert!(fleet_b.wait_with_output().unwrap().status.success());

    // What the follower printed, up to the sixteen installs.
    use std::io::BufRead;
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut followed = Vec::new();
    while followed.len() < 16 {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the follower stopped short");
        followed.push(serde_json::from_str::<Json>(&line).unwrap()["id"].as_i64().unwrap());
    }
    follower.kill().unwrap();

    let installed: Vec<i64> =
        hosts.events("a").iter().filter(|e| e["type"] == "module.installed").map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(installed.len(), 16, "one event per tenant");
    assert_eq!(followed, installed, "the follower saw every event once, in the same order as a reader from the start");
    let from_b: Vec<i64> =
        hosts.events("b").iter().filter(|e| e["type"] == "module.installed").map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(from_b, installed);
    let jobs = hosts.jobs();
    for job in &jobs {
        let tenant = job["tenant"].as_str().unwrap();
        assert_eq!(job["host"].as_str().unwrap(), &tenant[..1], "{job}");
        assert_eq!(job["status"], "completed");
    }
    for tenant in a_tenants.iter().chain(&b_tenants) {
        let host = &tenant[..1];
        let file = PathBuf::from(hosts.data(host)).join(format!("tenants/{tenant}.db"));
        let conn = rusqlite::Connection::open(file).unwrap();
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'm_t'", [], |r| r.get(0)).unwrap();
        assert_eq!(tables, 1, "{tenant}");
    }
}

#[test]
fn a_killed_hosts_job_is_given_up_after_its_lease_and_no_live_job_is_touched() {
    let Some(hosts) = Hosts::new() else { return };
    hosts.ok("a", &["tenant", "add", "dead", "live"]);
    let before = hosts.world.dump_file(&PathBuf::from(hosts.data("a")).join("tenants/dead.db"));
    let lease = [("MODREG_LEASE_SECONDS", "1")];
    let (dead_started, _dead_go) = hosts.gate("dead");
    let (live_started, live_go) = hosts.gate("live");
    let mut dead = hosts.spawn("a", &["install", "slow", "--tenant", "dead"], &lease);
    let live = hosts.spawn("a", &["install", "slow", "--tenant", "live"], &lease);
    assert_eq!(read_fifo(&dead_started), "started\n");
    assert_eq!(read_fifo(&live_started), "started\n");
    dead.kill().unwrap();
    assert_eq!(dead.wait().unwrap().signal(), Some(9));

    let jobs = hosts.jobs();
    let of = |tenant: &str| jobs.iter().find(|j| j["tenant"] == tenant).cloned().expect("a job of the tenant");
    let (dead_job, live_job) = (&of("dead"), &of("live"));
    // Wait out the dead job's lease (by the landlord's clock, this machine's too).
    let until =
        time::OffsetDateTime::parse(dead_job["lease_until"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
    let left = until - time::OffsetDateTime::now_utc();
    std::thread::sleep(Duration::try_from(left).unwrap_or_default() + Duration::from_millis(200));

    // Host b gives up the dead job; the live one, renewed all along, is left running.
    let report = hosts.json("b", &["recover"]);
    assert_eq!(report["abandoned"], serde_json::json!([dead_job["id"]]), "{report}");
    let dead_now = hosts.job(&dead_job["id"]);
    assert_eq!(dead_now["status"], "failed");
    assert!(dead_now["error"].as_str().unwrap().contains("host `a` stopped renewing this job's lease"), "{dead_now}");
    assert_eq!(hosts.job(&live_job["id"])["status"], "running", "a live job of another host is never touched");
    let outcomes = |job: &Json| -> Vec<String> {
        let outcome = ["module.installed", "module.install_failed"];
        hosts
            .events("b")
            .iter()
            .filter(|e| e["job_id"] == *job && outcome.contains(&e["type"].as_str().unwrap()))
            .map(|e| e["type"].to_string())
            .collect()
    };
    assert!(outcomes(&dead_job["id"]).is_empty(), "giving up on a job announces no outcome: only its home host knows it");

    write_fifo(&live_go, "go\n");
    assert!(live.wait_with_output().unwrap().status.success(), "the live job completes: its compare-and-set holds");
    assert_eq!(hosts.job(&live_job["id"])["status"], "completed");

    // Host a, back, finishes the dead job from the tenant file: nothing had committed.
    let home = hosts.json("a", &["recover"]);
    assert_eq!(home["tenants"][0]["rolled_back"], serde_json::json!([dead_job["id"]]), "{home}");
    assert_eq!(hosts.job(&dead_job["id"])["status"], "rolled_back");
    assert_eq!(hosts.world.dump_file(&PathBuf::from(hosts.data("a")).join("tenants/dead.db")), before);
    assert!(hosts.jobs().iter().all(|j| j["status"] != "running" && j["status"] != "failed"));
    assert_eq!(outcomes(&dead_job["id"]), ["\"module.install_failed\""], "one outcome event, from the home host");
    assert_eq!(outcomes(&live_job["id"]), ["\"module.installed\""]);
}

/// Shuts the landlord's database to every connection, ending those it has (a restart,
/// as far as modreg can tell); dropping the guard lets connections in again. From
/// another database: a database cannot shut its own connections out.
struct Outage {
    admin: postgres::Client,
    db: String,
}

impl Outage {
    fn start(hosts: &Hosts) -> Outage {
        let url = hosts.world.landlord_url.clone().unwrap();
        let (server, db) = url.rsplit_once('/').unwrap();
        let mut admin = postgres::Client::connect(&format!("{server}/postgres"), postgres::NoTls).unwrap();
        admin.batch_execute(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false")).unwrap();
        admin
            .batch_execute(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'modreg' AND datname = '{db}'"
            ))
            .unwrap();
        Outage { admin, db: db.to_string() }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        let _ = self.admin.batch_execute(&format!("ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true", self.db));
    }
}

#[test]
fn following_events_rides_over_the_landlord_going_away() {
    let Some(hosts) = Hosts::new() else { return };
    hosts.ok("a", &["tenant", "add", "acme"]);
    let mut follower = hosts.spawn("a", &["events", "--follow", "--lock-timeout", "0.2"], &[]);
    let mut stderr = Stderr::of(&mut follower);
    stderr.wait_for("Following");
    use std::io::BufRead;
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first: Json = serde_json::from_str(&rx.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
    assert_eq!(first["tenant"], "acme");
    let outage = Outage::start(&hosts);
    stderr.wait_for("waiting for it to come back (following from event");
    std::thread::sleep(Duration::from_secs(2));
    assert!(follower.try_wait().unwrap().is_none(), "the follower waits for the landlord instead of exiting");
    drop(outage);
    hosts.ok("a", &["tenant", "add", "globex"]);
    let next: Json = serde_json::from_str(&rx.recv_timeout(Duration::from_secs(20)).expect("the event after the outage")).unwrap();
    assert_eq!((next["tenant"].as_str(), next["id"].as_i64()), (Some("globex"), Some(first["id"].as_i64().unwrap() + 1)), "none skipped");
    stderr.wait_for("Reconnected");
    assert!(rx.try_recv().is_err(), "none repeated");
    follower.kill().unwrap();
}

#[test]
fn a_host_that_loses_the_landlord_for_a_while_records_its_committed_job_itself() {
    let Some(hosts) = Hosts::new() else { return };
    hosts.ok("a", &["tenant", "add", "acme"]);
    let (started, go) = hosts.gate("acme");
    // A short wait for a connection: the outage below outlasts it many times.
    let child = hosts.spawn("a", &["install", "slow", "--tenant", "acme", "--lock-timeout", "0.2"], &[]);
    assert_eq!(read_fifo(&started), "started\n");
    // The landlord goes away for a few seconds.
    let outage = Outage::start(&hosts);
    write_fifo(&go, "go\n");
    std::thread::sleep(Duration::from_secs(3));
    drop(outage);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the host waited for the landlord and recorded the job: {}", String::from_utf8_lossy(&output.stderr));
    let jobs = hosts.jobs();
    assert_eq!((jobs.len(), jobs[0]["status"].as_str()), (1, Some("completed")), "{jobs:?}");
    let outcomes: Vec<Json> = hosts
        .events("a")
        .into_iter()
        .filter(|e| e["job_id"] == jobs[0]["id"] && e["type"] != "tenant.added")
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(outcomes, ["module.installed"]);
    assert_eq!(hosts.json("a", &["status", "--tenant", "acme"])["tenants"][0]["modules"][0]["name"], "slow");
}

#[test]
fn the_library_on_one_host_sees_another_hosts_change_at_once() {
    let Some(hosts) = Hosts::new() else { return };
    hosts.ok("b", &["tenant", "add", "globex"]);
    hosts.ok("b", &["install", "m", "--tenant", "globex"]);
    // Staleness far above the wait below: what makes the change seen is NOTIFY.
    let registry = modreg::api::Registry::connect_with(hosts.world.landlord_url.as_deref().unwrap(), Duration::from_secs(600)).unwrap();
    assert!(registry.allows("globex", "m", None).unwrap());
    hosts.ok("b", &["disable", "m", "--tenant", "globex"]);
    let changed = Instant::now();
    while registry.allows("globex", "m", None).unwrap() {
        assert!(changed.elapsed() < Duration::from_secs(5), "host a's library did not see host b's disable");
        std::thread::yield_now();
    }
    assert!(!registry.is_enabled("globex", "m").unwrap());
}

#[test]
fn a_connection_dropped_mid_job_is_replaced_and_nothing_is_left_half_done() {
    let Some(hosts) = Hosts::new() else { return };
    hosts.ok("a", &["tenant", "add", "acme"]);
    let (started, go) = hosts.gate("acme");
    let child = hosts.spawn("a", &["install", "slow", "--tenant", "acme"], &[]);
    assert_eq!(read_fifo(&started), "started\n");
    // The server ends every connection modreg holds, as a restart or a network cut would.
    let url = hosts.world.landlord_url.clone().unwrap();
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let ended: i64 = admin
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = 'modreg' AND datname = current_database()) t",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(ended >= 1, "modreg held a connection");
    write_fifo(&go, "go\n");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "a new connection took over: {}", String::from_utf8_lossy(&output.stderr));
    let jobs = hosts.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["status"], "completed");
    assert_eq!(hosts.json("a", &["status", "--tenant", "acme"])["tenants"][0]["modules"][0]["name"], "slow");
}

#[test]
fn an_unreachable_or_wrong_landlord_is_a_clear_error() {
    let Some(hosts) = Hosts::new() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = format!("postgres://modreg:s3cret@127.0.0.1:{port}/landlord");
    let run = hosts.world.run_with(&["tenant", "list", "--json", "--landlord", &down], &[]);
    run.code(7);
    assert_eq!(run.error()["kind"], "storage");
    assert!(!run.stdout.contains("s3cret"), "{}", run.stdout);
    let url = hosts.world.landlord_url.clone().unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    let missing = hosts.world.run_with(&["tenant", "list", "--json", "--landlord", &format!("{base}/no_such_db")], &[]);
    missing.code(2);
    assert!(missing.error()["hint"].as_str().unwrap().contains("createdb"));
    let wrong = hosts.world.run_with(&["tenant", "list", "--landlord", "mysql://x"], &[]);
    wrong.code(2);
    assert!(wrong.stderr.contains("`--landlord` takes a `postgres://` URL"), "{}", wrong.stderr);
}

#[test]
fn doctor_checks_only_this_hosts_tenants_and_names_a_moved_tenants_file_left_here() {
    let Some(hosts) = Hosts::new() else { return };
    hosts.ok("a", &["tenant", "add", "acme", "initech"]);
    hosts.ok("b", &["tenant", "add", "globex"]);
    hosts.ok("a", &["install", "m", "--all-tenants"]);
    hosts.ok("b", &["install", "m", "--all-tenants"]);
    let on_a = hosts.json("a", &["doctor"]);
    assert_eq!(on_a["healthy"], true, "{on_a:#}");
    assert_eq!(on_a["checked"]["tenants"], 2);
    assert_eq!(hosts.json("b", &["doctor"])["checked"]["tenants"], 1);
    // Another host's tenant is not this host's to check.
    let elsewhere = hosts.run("a", &["doctor", "--tenant", "globex", "--json"]);
    elsewhere.code(2);
    assert!(elsewhere.error()["message"].as_str().unwrap().contains("lives on host `b`"), "{}", elsewhere.stdout);
    // A tenant moved to b, whose old file stays on a: b checks it, a points at the copy.
    hosts.ok("a", &["tenant", "move", "initech", "--to", "b"]);
    let from = PathBuf::from(hosts.data("a")).join("tenants/initech.db");
    std::fs::copy(&from, PathBuf::from(hosts.data("b")).join("tenants/initech.db")).unwrap();
    let run = hosts.run("a", &["doctor", "--json"]);
    run.exit(1);
    let report = run.json();
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report:#}");
    assert_eq!((findings[0]["check"].as_str(), findings[0]["tenant"].as_str()), (Some("tenant.elsewhere"), Some("initech")));
    assert_eq!(report["checked"]["tenants"], 1);
    let on_b = hosts.json("b", &["doctor"]);
    assert_eq!((on_b["healthy"].clone(), on_b["checked"]["tenants"].clone()), (Json::Bool(true), Json::from(2)), "{on_b:#}");
}
