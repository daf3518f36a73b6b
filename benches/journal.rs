//! What recording one job costs the landlord, on each engine: starting it
//! (`JobStore::start_jobs`) and completing it with eight steps, its flags, history and
//! event (`ChangeStore::commit` of `change::complete_job`), for one tenant after another,
//! as a fleet records them. A fleet pays this once per tenant, beside the tenant's own
//! work, so it bounds what the landlord adds to a fleet install.
//!
//! The PostgreSQL server is a throwaway cluster on 127.0.0.1 (`tests/support/postgres.rs`)
//! with `fsync=on` and `synchronous_commit=off`, the counterpart of the SQLite landlord's
//! WAL with `synchronous=NORMAL`; the SQLite landlord is a file in a temporary folder.
//!
//! Run with `cargo bench --bench journal`. Environment: `MODREG_BENCH_JOBS` (jobs a round,
//! default 2000), `MODREG_BENCH_REPS` (rounds, default 3), `MODREG_BENCH_DIR`.

#[path = "../tests/support/postgres.rs"]
#[allow(dead_code)]
mod pg;

#[path = "support/env.rs"]
mod env;
use env::number;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use modreg::domain::change::{self, Commit};
use modreg::domain::job::{Effect, JobKind, Step, StepStatus};
use modreg::store::postgres::PostgresLandlord;
use modreg::store::sqlite::SqliteLandlord;
use modreg::store::{Landlord, NewJob};

const AT: &str = "2026-12-06T00:00:00.000Z";

/// Opens a fresh landlord of one engine, for round N.
type Opener = Box<dyn Fn(usize) -> Box<dyn Landlord>>;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("journal: run with `cargo bench --bench journal`");
        return;
    }
    if std::env::var_os("MODREG_PG_OPTIONS").is_none() {
        // SAFETY: set before any thread starts.
        unsafe { std::env::set_var("MODREG_PG_OPTIONS", "-c fsync=on -c synchronous_commit=off") };
    }
    let (jobs, reps) = (number("MODREG_BENCH_JOBS", 2000), number("MODREG_BENCH_REPS", 3));
    let dir = match std::env::var_os("MODREG_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("a temporary folder");
    let cluster = pg::cluster();
    println!("journal: {jobs} jobs a round, {reps} rounds; per job, median round (min–max)");
    println!("| landlord | start a job | complete it (8 steps, 3 flags) |");
    println!("| --- | ---: | ---: |");
    let mut engines: Vec<(&str, Opener)> = Vec::new();
    let root = dir.path().to_path_buf();
    engines.push((
        "SQLite",
        Box::new(move |rep| {
            let data = root.join(format!("sqlite-{rep}"));
            std::fs::create_dir_all(&data).unwrap();
            Box::new(SqliteLandlord::open(&data, Duration::from_secs(30)).expect("the SQLite landlord"))
        }),
    ));
    match cluster {
        Some(cluster) => engines.push((
            "PostgreSQL",
            Box::new(move |_| {
                Box::new(PostgresLandlord::open(&cluster.database(), Duration::from_secs(30)).expect("the PostgreSQL landlord"))
            }),
        )),
        None => println!("journal: PostgreSQL could not be started here; only SQLite is measured"),
    }
    for (name, open) in &engines {
        let mut start = Vec::new();
        let mut complete = Vec::new();
        for rep in 0..reps {
            let landlord = open(rep);
            let (s, c) = round(landlord.as_ref(), jobs);
            start.push(s);
            complete.push(c);
        }
        println!("| {name} | {} | {} |", spread(&start), spread(&complete));
    }
}

/// Adds `jobs` tenants, then starts and completes one job on each, one tenant at a time;
/// the time per job of each half.
fn round(landlord: &dyn Landlord, jobs: usize) -> (Duration, Duration) {
    let tenants: Vec<String> = (0..jobs).map(|i| format!("t{i:05}")).collect();
    for tenant in &tenants {
        assert_eq!(landlord.commit(&change::add_tenant(tenant, Some("bench"), AT)).unwrap(), Commit::Done);
    }
    let flags: BTreeMap<String, bool> =
        [("alpha", true), ("beta", false), ("gamma", true)].into_iter().map(|(k, v)| (k.into(), v)).collect();
    let effect = Effect::Install { version: "1.0.0".into(), flags, restored_from: None };
    let steps: Vec<Step> = (0..8)
        .map(|i| Step { name: format!("migrate V{i}__step"), status: StepStatus::Ok, duration_ms: 3, detail: None, output: None })
        .collect();
    let (mut starting, mut completing) = (Duration::ZERO, Duration::ZERO);
    for tenant in &tenants {
        let job = NewJob {
            batch: "bench".into(),
            tenant: tenant.clone(),
            module: "app".into(),
            kind: JobKind::Install,
            from_version: None,
            to_version: Some("1.0.0".into()),
            actor: "bench".into(),
            effect: effect.clone(),
            host: "bench".into(),
            lease: Duration::from_secs(60),
        };
        let started = Instant::now();
        let id = landlord.start_jobs(std::slice::from_ref(&job), AT).unwrap()[0];
        starting += started.elapsed();
        let changes = change::complete_job(&job.started(id, AT), &effect, steps.clone(), AT);
        let started = Instant::now();
        assert_eq!(landlord.commit(&changes).unwrap(), Commit::Done);
        completing += started.elapsed();
    }
    (starting / jobs as u32, completing / jobs as u32)
}

/// The median of the rounds, with their range.
fn spread(samples: &[Duration]) -> String {
    let mut s = samples.to_vec();
    s.sort();
    let us = |d: Duration| format!("{:.0} µs", d.as_secs_f64() * 1e6);
    format!("{} ({}–{})", us(s[s.len() / 2]), us(s[0]), us(s[s.len() - 1]))
}
