//! The PostgreSQL landlord against the SQLite one, side by side in one run:
//!
//! 1. **Fleet install**: `modreg install bench --all-tenants --jobs 2` of a module with two
//!    migrations across 10,000 tenants, with the landlord in PostgreSQL (`--landlord`) and
//!    with the SQLite landlord in the data folder. Each side works on its own copy of one
//!    set of tenant files (and, for PostgreSQL, its own copy of the landlord database,
//!    `CREATE DATABASE … TEMPLATE`), made by `modreg tenant add`, so both start alike.
//! 2. **Library checks** on a PostgreSQL landlord (`Registry::connect`): a cached check, and
//!    one whose cache was just dropped; the same on the SQLite landlord (`Registry::open`).
//! 3. **Change to seen**: one handle on the landlord (another host) flips a flag; the time
//!    until the library, connected to the same landlord, answers with the new value
//!    (NOTIFY; its fallback poll is set to ten minutes, so it plays no part).
//!
//! The PostgreSQL server is a throwaway cluster on 127.0.0.1 started by this program from
//! the PostgreSQL installed here (`tests/support/postgres.rs`), with `fsync=on` and
//! `synchronous_commit=off`: the PostgreSQL counterpart of the SQLite landlord's
//! `journal_mode=WAL` with `synchronous=NORMAL` (a crash may lose the last commits, never
//! consistency). Server options can be changed with `MODREG_PG_OPTIONS`.
//!
//! Run with `cargo bench --bench landlords`. Environment: `MODREG_BENCH_TENANTS` (default
//! 10000), `MODREG_BENCH_REPS` (fleet repetitions, default 3), `MODREG_BENCH_CHANGES`
//! (change-to-seen samples, default 200), `MODREG_BENCH_SETTLE_SECS` (pause before each
//! fleet run, default 60: see `benches/fleet.rs` on ext4's inode reuse), `MODREG_BENCH_DIR`.

#[path = "../tests/support/postgres.rs"]
#[allow(dead_code)]
mod pg;

#[path = "support/env.rs"]
mod env;
use env::number;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use modreg::api::Registry;
use modreg::domain::change::{self, Commit};
use modreg::store::postgres::PostgresLandlord;
use modreg::store::{ChangeStore, Landlord};

const BENCH_V1: &str = "CREATE TABLE bench_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT);\n";
const BENCH_V2: &str = "CREATE INDEX bench_items_name ON bench_items(name);\n";

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("landlords: run with `cargo bench --bench landlords`");
        return;
    }
    if std::env::var_os("MODREG_PG_OPTIONS").is_none() {
        // SAFETY: set before any thread starts.
        unsafe { std::env::set_var("MODREG_PG_OPTIONS", "-c fsync=on -c synchronous_commit=off") };
    }
    let Some(cluster) = pg::cluster() else {
        println!("landlords: PostgreSQL could not be started here; nothing measured");
        return;
    };
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_modreg"));
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from);
    let dir = std::env::var_os("MODREG_BENCH_DIR").map_or_else(|| target.join("bench-tmp"), PathBuf::from);
    std::fs::create_dir_all(&dir).expect("create the benchmark folder");
    let work = tempfile::Builder::new().prefix("landlords-").tempdir_in(&dir).expect("a temporary folder");
    println!(
        "modreg binary: {}\nworking in {}\nPostgreSQL options: {}",
        bin.display(),
        work.path().display(),
        std::env::var("MODREG_PG_OPTIONS").unwrap_or_default()
    );

    let mut goals = Vec::new();
    fleet(cluster, &bin, work.path(), &mut goals);
    library(cluster, work.path(), &mut goals);
    println!("\n| goal | measured | met |\n| --- | --- | --- |");
    for (goal, figure, met) in goals {
        println!("| {goal} | {figure} | {} |", if met { "yes" } else { "**no**" });
    }
}

/// `modreg` with a modules folder, a data folder and, for PostgreSQL, a landlord URL.
struct Modreg<'a> {
    bin: &'a Path,
    modules: PathBuf,
    data: PathBuf,
    landlord: Option<String>,
}

impl Modreg<'_> {
    fn timed(&self, args: &[&str]) -> (Duration, String) {
        let mut command = Command::new(self.bin);
        command.arg("--modules").arg(&self.modules).arg("--data").arg(&self.data).args(args).env("NO_COLOR", "1");
        if let Some(url) = &self.landlord {
            command.arg("--landlord").arg(url);
        }
        let started = Instant::now();
        let output = command.output().expect("run modreg");
        let elapsed = started.elapsed();
        assert!(output.status.success(), "`modreg {}` failed:\n{}", args.join(" "), String::from_utf8_lossy(&output.stderr));
        (elapsed, String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

fn fleet(cluster: &pg::Cluster, bin: &Path, dir: &Path, goals: &mut Vec<(String, String, bool)>) {
    let (n, reps) = (number("MODREG_BENCH_TENANTS", 10_000), number("MODREG_BENCH_REPS", 3).max(1));
    let settle = Duration::from_secs(number("MODREG_BENCH_SETTLE_SECS", 60) as u64);
    println!("\n== fleet install across {n} tenants, {reps} repetition(s), PostgreSQL and SQLite landlords");
    let modules = dir.join("modules");
    std::fs::create_dir_all(modules.join("bench/migrations")).unwrap();
    std::fs::write(modules.join("bench/module.toml"), "[module]\nname = \"bench\"\nversion = \"1.0.0\"\ndescription = \"bench\"\n")
        .unwrap();
    std::fs::write(modules.join("bench/migrations/V1__t.sql"), BENCH_V1).unwrap();
    std::fs::write(modules.join("bench/migrations/V2__idx.sql"), BENCH_V2).unwrap();

    let names: Vec<String> = (0..n).map(|i| format!("t{i:05}")).collect();
    let template_url = cluster.database();
    let templates = [("postgres", Some(template_url.clone())), ("sqlite", None)];
    for (side, landlord) in &templates {
        let m = Modreg { bin, modules: modules.clone(), data: dir.join(format!("template-{side}")), landlord: landlord.clone() };
        let started = Instant::now();
        for chunk in names.chunks(2000) {
            let mut args = vec!["tenant", "add", "-q"];
            args.extend(chunk.iter().map(String::as_str));
            m.timed(&args);
        }
        println!("template ({side}): {n} tenants by `modreg tenant add` in {:.2} s", started.elapsed().as_secs_f64());
    }
    let mut times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for rep in 0..reps {
        let mut order = ["postgres", "sqlite"];
        order.rotate_left(rep % 2);
        for side in order {
            let data = dir.join(format!("fleet-{rep}-{side}"));
            copy_dir(&dir.join(format!("template-{side}")), &data);
            let landlord = (side == "postgres").then(|| cluster.copy_database(&template_url));
            let m = Modreg { bin, modules: modules.clone(), data: data.clone(), landlord };
            let _ = Command::new("sync").status();
            std::thread::sleep(settle);
            let (elapsed, out) = m.timed(&["install", "bench", "--all-tenants", "--jobs", "2", "--json", "-q"]);
            let report: serde_json::Value = serde_json::from_str(&out).expect("install --json");
            assert_eq!(report["summary"]["completed"].as_u64(), Some(n as u64), "one job per tenant");
            println!(
                "rep {rep}: {side:<8} {:.2} s ({:.2} ms per tenant)",
                elapsed.as_secs_f64(),
                elapsed.as_secs_f64() * 1000.0 / n as f64
            );
            times.entry(side).or_default().push(elapsed);
        }
    }
    let ratios: Vec<f64> = times["postgres"].iter().zip(&times["sqlite"]).map(|(p, s)| p.as_secs_f64() / s.as_secs_f64()).collect();
    let ratio = median_f64(ratios.clone());
    let figure = format!(
        "PostgreSQL {:.2} s, SQLite {:.2} s (medians): {ratio:.2}x (per repetition {})",
        median(&times["postgres"]).as_secs_f64(),
        median(&times["sqlite"]).as_secs_f64(),
        ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", ")
    );
    println!("{figure}");
    goals.push((format!("fleet install of {n} tenants, PostgreSQL landlord ≤ 1.3x SQLite"), figure, ratio <= 1.3));
}

fn library(cluster: &pg::Cluster, dir: &Path, goals: &mut Vec<(String, String, bool)>) {
    println!("\n== library checks and change-to-seen");
    let url = cluster.database();
    let writer = PostgresLandlord::open(&url, Duration::from_secs(30)).expect("open the landlord");
    let sqlite_dir = dir.join("library-sqlite");
    let sqlite = modreg::store::sqlite::SqliteLandlord::open(&sqlite_dir, Duration::from_secs(30)).expect("open the SQLite landlord");
    for landlord in [&writer as &dyn Landlord, &sqlite] {
        seed(landlord);
    }
    let on_postgres = Registry::connect_with(&url, Duration::from_secs(600)).expect("connect");
    let on_sqlite = Registry::open(&sqlite_dir).expect("open");
    for (name, registry) in [("PostgreSQL", &on_postgres), ("SQLite", &on_sqlite)] {
        assert!(registry.allows("t042", "app", Some("gamma")).unwrap());
        let cached = per_call(200_000, || black_box(registry.allows(black_box("t042"), "app", Some("gamma")).unwrap()));
        let uncached = per_call(2_000, || {
            registry.invalidate();
            black_box(registry.allows(black_box("t042"), "app", Some("gamma")).unwrap())
        });
        println!("{name}: cached check {cached:.2} µs, uncached {uncached:.2} µs (median of 5 rounds)");
        goals.push((
            format!("library check, cached, {name} landlord ≤ 5 µs"),
            format!("{cached:.2} µs (uncached {uncached:.1} µs)"),
            cached <= 5.0,
        ));
    }

    // Change to seen: flip `beta` of t042 and wait for the library to answer with it.
    let samples = number("MODREG_BENCH_CHANGES", 200);
    let mut seen = Vec::with_capacity(samples);
    let mut value = on_postgres.flag("t042", "app", "beta").unwrap().expect("the flag");
    for _ in 0..samples {
        let changes = change::set_flag("t042", "app", "beta", !value, value, "2026-12-02T00:00:00.000Z");
        let started = Instant::now();
        assert_eq!(writer.commit(&changes).unwrap(), Commit::Done);
        value = !value;
        while on_postgres.flag("t042", "app", "beta").unwrap() != Some(value) {
            assert!(started.elapsed() < Duration::from_secs(10), "the change was never seen");
            std::hint::spin_loop();
        }
        seen.push(started.elapsed());
    }
    seen.sort();
    let (p50, p99) = (seen[seen.len() / 2], seen[seen.len() * 99 / 100]);
    let figure = format!(
        "median {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={samples}; from the commit's call, so one commit's round trip included)",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        seen[seen.len() - 1].as_secs_f64() * 1e3
    );
    println!("change to seen: {figure}");
    goals.push(("change on one host seen by the library on another ≤ 50 ms median".into(), figure, p50 <= Duration::from_millis(50)));
}

/// 200 tenants, each with `app` installed and three flags.
fn seed(landlord: &dyn Landlord) {
    let at = "2026-12-02T00:00:00.000Z";
    for i in 0..200 {
        let tenant = format!("t{i:03}");
        assert_eq!(landlord.commit(&change::add_tenant(&tenant, Some("bench"), at)).unwrap(), Commit::Done);
        let flags = [("alpha", true), ("beta", false), ("gamma", true)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let job = modreg::store::NewJob {
            batch: "seed".into(),
            tenant: tenant.clone(),
            module: "app".into(),
            kind: modreg::domain::job::JobKind::Install,
            from_version: None,
            to_version: Some("1.0.0".into()),
            actor: "bench".into(),
            effect: modreg::domain::job::Effect::Install { version: "1.0.0".into(), flags, restored_from: None },
            host: "bench".into(),
            lease: Duration::from_secs(60),
        };
        let id = landlord.start_jobs(std::slice::from_ref(&job), at).unwrap()[0];
        let started = job.started(id, at);
        assert_eq!(landlord.commit(&change::complete_job(&started, &job.effect, Vec::new(), at)).unwrap(), Commit::Done);
    }
}

/// Microseconds a call: the median of 5 rounds of `calls` calls each.
fn per_call<T>(calls: usize, mut f: impl FnMut() -> T) -> f64 {
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..calls {
                black_box(f());
            }
            started.elapsed().as_secs_f64() * 1e6 / calls as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

fn median(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn median_f64(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A copy of a folder, as `cp -a` makes it.
fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().expect("run cp");
    assert!(status.success(), "cp -a {} {}", from.display(), to.display());
}
