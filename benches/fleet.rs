//! End-to-end benchmarks of the `modreg` binary, each set side by side with a baseline
//! measured in the same run:
//!
//! 1. **Fleet install**: `modreg install bench --all-tenants --jobs 2` of a module with two
//!    migrations across 10,000 tenants, against (a) the floor, a bare rusqlite loop on two
//!    threads that opens each tenant file and applies the same SQL in one transaction with
//!    no bookkeeping, and (b) a sequential shell loop running the `sqlite3` CLI once per
//!    tenant. Each side works on its own copy of one set of tenant files made by
//!    `modreg tenant add`, so all start from the same bytes.
//! 2. **No-op re-run** of that fleet install, everything already installed.
//! 3. **One install**, process start to exit: `modreg install finance --tenant T` on the
//!    sample catalog (three modules, three hooks that only read, so one transaction and
//!    three hook processes), for a fresh tenant each time; beside it `install forum` (no
//!    install hooks) and `modreg --version` (process start alone).
//! 4. **Tenant size**: installing a small module without hooks, one with a trivial
//!    `post_install` hook that only reads (runs inside the transaction), and one whose
//!    trivial hook is listed in `writes_tenant_db` (so a whole-file rollback copy and a
//!    commit per module), into a tenant of about 1 GB against a tenant with the same
//!    schema and no rows; uninstalling them; and, for reference, copying the 1 GB file
//!    with `std::fs::copy` and with SQLite's backup API, and whether the file system
//!    takes a reflink (`FICLONE`).
//! 5. **Views**: installing, upgrading and uninstalling a small module (`shop` of the
//!    `tests/fixtures/views` catalog: four tables, about thirty rows) on a tenant that
//!    also has fifty views built on each other (`reports`, one of them recursive),
//!    against the same on a tenant without them.
//!
//! Run with `cargo bench --bench fleet`. Environment: `MODREG_BENCH_TENANTS` (fleet size,
//! default 10000), `MODREG_BENCH_REPS` (fleet repetitions, default 3),
//! `MODREG_BENCH_RUNS` (single-install runs, default 20), `MODREG_BENCH_BULK_MB` (size of
//! the big tenant, default 1024), `MODREG_BENCH_ONLY` (comma-separated subset of
//! `fleet,single,bulk,views`), `MODREG_BENCH_BIN` (another `modreg` binary to measure,
//! e.g. an older build), `MODREG_BENCH_DIR` (where the temporary folders go, default
//! `target/bench-tmp`), `MODREG_BENCH_SETTLE_SECS` (see below). The fleet case needs about
//! 50 KB of disk per tenant for the template and for each of its copies (three per
//! repetition, all kept until the end: 8 GB for 10,000 tenants and 5 repetitions), the
//! bulk case about 2.5 times `MODREG_BENCH_BULK_MB`; the program checks free space first.
//!
//! Medians are reported with min and max. Before each timed command the page cache's
//! dirty pages are written out (`sync`), so one run's writeback does not land in the next.
//! Before each fleet run, and before the timed loops of the other cases, the program also
//! waits `MODREG_BENCH_SETTLE_SECS` (default 60): ext4 without a journal (this machine's
//! root file system) will not reuse an inode freed less than 60 seconds ago, and checks
//! every free candidate's deletion time in the inode table to find out, so creating files
//! just after thousands were deleted costs up to a millisecond a file. Without the pause,
//! each side paid for the files the previous side had churned (every SQLite open creates
//! and deletes `-wal` and `-shm`). Nothing is deleted until the end.
//! The fleet runs also report CPU time (user + system) of each side and what the rest of
//! the machine used meanwhile, since a busy neighbour on a two-core machine shows up
//! directly in the wall-clock figures.
//! BENCHMARKS.md has the method, the machine and the figures.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

#[path = "support/report.rs"]
mod report;
use report::{Report, Stats, fmt, ms, paired, ratio};

/// The module of the fleet case: two migrations, no hooks.
const BENCH_V1: &str = "CREATE TABLE bench_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT);\n";
const BENCH_V2: &str = "CREATE INDEX bench_items_name ON bench_items(name);\n";

/// Names per `modreg tenant add` call, keeping each argument list well under 100 KB.
const TENANTS_PER_CALL: usize = 2000;

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: don't spend minutes there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("fleet: run with `cargo bench --bench fleet`");
        return;
    }
    let config = Config::from_env();
    // Cargo builds the binary targets (with the bench profile, which is the release
    // profile) before a bench, and tells us where.
    let bin = std::env::var_os("MODREG_BENCH_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_modreg")), PathBuf::from);
    std::fs::create_dir_all(&config.dir).expect("create the benchmark folder");
    let work = tempfile::Builder::new().prefix("fleet-").tempdir_in(&config.dir).expect("create a temporary folder");
    println!("modreg binary: {}", bin.display());
    println!("working in {}", work.path().display());
    check_free_disk(work.path(), &config);

    let mut report = Report::default();
    if config.includes("fleet") {
        fleet(&config, &bin, work.path(), &mut report);
    }
    if config.includes("single") {
        single(&config, &bin, work.path(), &mut report);
    }
    if config.includes("bulk") {
        bulk(&config, &bin, work.path(), &mut report);
    }
    if config.includes("views") {
        views(&config, &bin, work.path(), &mut report);
    }
    report.print();
}

struct Config {
    tenants: usize,
    reps: usize,
    runs: usize,
    bulk_bytes: u64,
    settle: Duration,
    only: Option<Vec<String>>,
    dir: PathBuf,
}

impl Config {
    fn from_env() -> Config {
        let number = |name: &str, default: usize| -> usize {
            match std::env::var(name) {
                Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name} must be a number, not `{v}`")),
                Err(_) => default,
            }
        };
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from);
        Config {
            tenants: number("MODREG_BENCH_TENANTS", 10_000),
            reps: number("MODREG_BENCH_REPS", 3).max(1),
            runs: number("MODREG_BENCH_RUNS", 20).max(1),
            bulk_bytes: number("MODREG_BENCH_BULK_MB", 1024) as u64 * 1024 * 1024,
            settle: Duration::from_secs(number("MODREG_BENCH_SETTLE_SECS", 60) as u64),
            only: std::env::var("MODREG_BENCH_ONLY").ok().map(|v| v.split(',').map(|s| s.trim().to_string()).collect()),
            dir: std::env::var_os("MODREG_BENCH_DIR").map_or_else(|| target.join("bench-tmp"), PathBuf::from),
        }
    }

    fn includes(&self, section: &str) -> bool {
        self.only.as_ref().is_none_or(|only| only.iter().any(|s| s == section))
    }
}

// ---------------------------------------------------------------------------------------
// 1 and 2: fleet install and its no-op re-run
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Modreg,
    Floor,
    Shell,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Modreg => "modreg",
            Side::Floor => "floor",
            Side::Shell => "shell",
        }
    }
}

fn fleet(config: &Config, bin: &Path, dir: &Path, report: &mut Report) {
    let n = config.tenants;
    println!("\n== fleet install across {n} tenants, {} repetition(s)", config.reps);
    let modules = dir.join("fleet-modules");
    write_module(&modules.join("bench"), "bench", &[("V1__t.sql", BENCH_V1), ("V2__idx.sql", BENCH_V2)], None, false);
    let both_sql = dir.join("both.sql");
    std::fs::write(&both_sql, format!("{BENCH_V1}{BENCH_V2}")).expect("write both.sql");

    // One set of tenant files made by modreg; every run gets its own copy of it.
    let template = dir.join("fleet-template");
    let started = Instant::now();
    add_tenants(&Modreg::new(bin, &modules, &template), &tenant_names("t", n));
    println!("template: {n} tenants by `modreg tenant add` in {}", fmt(started.elapsed()));

    let install_args = ["install", "bench", "--all-tenants", "--jobs", "2", "--json", "-q"];
    let (mut modreg, mut floor, mut shell, mut noop) = (Stats::default(), Stats::default(), Stats::default(), Stats::default());
    // CPU time (user + system) of each side, and what the rest of the machine used meanwhile.
    let (mut modreg_cpu, mut floor_cpu, mut shell_cpu) = (Stats::default(), Stats::default(), Stats::default());
    for rep in 0..config.reps {
        // Rotate the order so that no side always runs first or last.
        let mut order = [Side::Modreg, Side::Floor, Side::Shell];
        order.rotate_left(rep % 3);
        for side in order {
            let set = dir.join(format!("fleet-{rep}-{}", side.label()));
            copy_dir(&template, &set);
            let tenants = set.join("tenants");
            settle(config);
            let cpu = CpuClock::now();
            let elapsed = match side {
                Side::Modreg => {
                    let m = Modreg::new(bin, &modules, &set);
                    let (elapsed, out) = m.timed(&install_args);
                    assert_eq!(summary(&out, "completed"), n, "modreg completed one job per tenant");
                    elapsed
                }
                Side::Floor => floor_install(&tenants, &format!("{BENCH_V1}{BENCH_V2}"), 2),
                Side::Shell => shell_install(&tenants, &both_sql),
            };
            let (ours, others) = CpuClock::now().since(cpu);
            verify_fleet(&tenants, n);
            println!(
                "rep {rep}: {:<6} {} ({:.2} ms per tenant), CPU {}, other processes and kernel threads {}",
                side.label(),
                fmt(elapsed),
                ms(elapsed) / n as f64,
                fmt(ours),
                fmt(others)
            );
            match side {
                Side::Modreg => {
                    modreg.push(elapsed);
                    modreg_cpu.push(ours);
                    // 2: the same command again, with everything in place.
                    let m = Modreg::new(bin, &modules, &set);
                    for _ in 0..5 {
                        sync();
                        let (elapsed, out) = m.timed(&install_args);
                        assert_eq!(summary(&out, "unchanged"), n, "the re-run changes nothing");
                        noop.push(elapsed);
                    }
                }
                Side::Floor => {
                    floor.push(elapsed);
                    floor_cpu.push(ours);
                }
                Side::Shell => {
                    shell.push(elapsed);
                    shell_cpu.push(ours);
                }
            }
        }
    }

    let note = |s: &Stats, cpu: &Stats| format!("{:.3} ms/tenant; CPU {}", ms(s.median()) / n as f64, fmt(cpu.median()));
    report.row(format!("fleet install, {n} tenants: modreg --jobs 2"), &modreg, note(&modreg, &modreg_cpu));
    report.row(format!("fleet install, {n} tenants: floor (rusqlite, 2 threads)"), &floor, note(&floor, &floor_cpu));
    report.row(format!("fleet install, {n} tenants: shell loop (sqlite3 CLI)"), &shell, note(&shell, &shell_cpu));
    report.row(format!("no-op re-run, {n} tenants: modreg"), &noop, format!("{:.4} ms/tenant", ms(noop.median()) / n as f64));
    // The goals are judged on the median of the ratios within each repetition (the sides
    // of one repetition run minutes apart, under the same conditions); the ratio of the
    // medians is shown beside it.
    let (vs_floor, vs_floor_text) = paired(&modreg, &floor);
    let (vs_shell, vs_shell_text) = paired(&modreg, &shell);
    let noop_vs_floor = ratio(&noop, &floor);
    report.goal("fleet install ≤ 2x floor", vs_floor_text, vs_floor <= 2.0);
    report.goal("fleet install ≤ 0.5x shell loop", vs_shell_text, vs_shell <= 0.5);
    report.goal("no-op re-run ≤ 0.1x floor", format!("{noop_vs_floor:.3}x (median no-op / median floor)"), noop_vs_floor <= 0.1);
}

/// The floor: each file opened, the SQL applied in one transaction, nothing recorded.
fn floor_install(tenants: &Path, sql: &str, threads: usize) -> Duration {
    let started = Instant::now();
    let files = db_files(tenants);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some(file) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let mut conn = Connection::open(file).expect("open a tenant file");
                    let tx = conn.transaction().expect("begin");
                    tx.execute_batch(sql).expect("apply the migrations");
                    tx.commit().expect("commit");
                }
            });
        }
    });
    started.elapsed()
}

/// What an operator's script would do: one `sqlite3` process per tenant, one after another.
fn shell_install(tenants: &Path, both_sql: &Path) -> Duration {
    let started = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg(r#"for f in *.db; do sqlite3 "$f" < "$1" || exit 1; done"#)
        .arg("sh")
        .arg(both_sql)
        .current_dir(tenants)
        .status()
        .expect("run sh");
    assert!(status.success(), "the sqlite3 loop failed");
    started.elapsed()
}

/// Every tenant file has the table and the index.
fn verify_fleet(tenants: &Path, n: usize) {
    let files = db_files(tenants);
    assert_eq!(files.len(), n, "tenant files in {}", tenants.display());
    for file in files {
        let conn = Connection::open_with_flags(&file, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open a tenant file");
        let found: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema WHERE name IN ('bench_items', 'bench_items_name')", [], |r| r.get(0))
            .expect("read the schema");
        assert_eq!(found, 2, "{} lacks the bench module's objects", file.display());
    }
}

/// A count from the `summary` of an install's JSON report.
fn summary(json: &str, field: &str) -> usize {
    let value: serde_json::Value = serde_json::from_str(json).expect("install --json prints JSON");
    value["summary"][field].as_u64().unwrap_or_else(|| panic!("no summary.{field} in the report")) as usize
}

// ---------------------------------------------------------------------------------------
// 3: one install, process start to exit
// ---------------------------------------------------------------------------------------

fn single(config: &Config, bin: &Path, dir: &Path, report: &mut Report) {
    let runs = config.runs;
    println!("\n== one install on the sample catalog, {runs} runs");
    let catalog = dir.join("sample-modules");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("modules"), &catalog);
    let m = Modreg::new(bin, &catalog, &dir.join("single-data"));
    // Tenant 0 of each kind is a warm-up: its run is the one where the landlord first
    // records the catalog.
    let finance_tenants = tenant_names("fin", runs + 1);
    let forum_tenants = tenant_names("forum", runs + 1);
    add_tenants(&m, &finance_tenants);
    add_tenants(&m, &forum_tenants);
    for t in &finance_tenants {
        m.run(&["subscription", "grant", "--tenant", t, "finance"]);
    }

    let mut version = Stats::default();
    let mut finance = Stats::default();
    let mut forum = Stats::default();
    let first = m.timed(&["install", "finance", "--tenant", &finance_tenants[0], "-q"]).0;
    println!("first install (landlord records the catalog): {}", fmt(first));
    m.run(&["install", "forum", "--tenant", &forum_tenants[0], "-q"]);
    settle(config);
    for i in 1..=runs {
        sync();
        version.push(m.timed(&["--version"]).0);
        sync();
        finance.push(m.timed(&["install", "finance", "--tenant", &finance_tenants[i], "-q"]).0);
        sync();
        forum.push(m.timed(&["install", "forum", "--tenant", &forum_tenants[i], "-q"]).0);
    }
    // The plan really was three modules with hooks, and two without.
    let jobs = m.run(&["jobs", "list", "--tenant", &finance_tenants[1], "--json"]);
    let jobs: serde_json::Value = serde_json::from_str(&jobs).expect("jobs list --json");
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(3), "finance installs three modules");

    println!("finance: {}\nforum:   {}\n--version: {}", finance.describe(), forum.describe(), version.describe());
    report.row("one install: finance (3 modules, 3 hooks that only read)", &finance, String::new());
    report.row("one install: forum (2 modules, no install hooks)", &forum, String::new());
    report.row("process start: modreg --version", &version, String::new());
    report.goal("one install (finance) ≤ 50 ms", fmt(finance.median()), finance.median() <= Duration::from_millis(50));
}

// ---------------------------------------------------------------------------------------
// 4: install into a 1 GB tenant against an empty one
// ---------------------------------------------------------------------------------------

fn bulk(config: &Config, bin: &Path, dir: &Path, report: &mut Report) {
    let target_mb = config.bulk_bytes / (1024 * 1024);
    println!("\n== install into a {target_mb} MB tenant against an empty one");
    let modules = dir.join("bulk-modules");
    write_module(
        &modules.join("bulk"),
        "bulk",
        &[("V1__rows.sql", "CREATE TABLE bulk_rows (id INTEGER PRIMARY KEY, payload TEXT NOT NULL);\n")],
        None,
        false,
    );
    write_module(
        &modules.join("small"),
        "small",
        &[(
            "V1__small.sql",
            "CREATE TABLE small_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nCREATE INDEX small_items_name ON small_items(name);\n",
        )],
        None,
        false,
    );
    write_module(
        &modules.join("small_hooked"),
        "small_hooked",
        &[(
            "V1__hooked.sql",
            "CREATE TABLE hooked_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nCREATE INDEX hooked_items_name ON hooked_items(name);\n",
        )],
        Some("true"),
        false,
    );
    write_module(
        &modules.join("small_writer"),
        "small_writer",
        &[(
            "V1__writer.sql",
            "CREATE TABLE writer_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nCREATE INDEX writer_items_name ON writer_items(name);\n",
        )],
        Some("true"),
        true,
    );
    // An older binary (`MODREG_BENCH_BIN`) does not know `writes_tenant_db`: measure it
    // without that module.
    let writer_known = Command::new(bin).arg("validate").arg(modules.join("small_writer")).output().is_ok_and(|o| o.status.success());
    if !writer_known {
        println!("this binary refuses `writes_tenant_db`: small_writer is left out");
        std::fs::remove_dir_all(modules.join("small_writer")).expect("remove small_writer");
    }
    let data = dir.join("bulk-data");
    let m = Modreg::new(bin, &modules, &data);
    m.run(&["tenant", "add", "big", "empty"]);
    // Both tenants get `bulk`, so they differ only in its rows.
    m.run(&["install", "bulk", "--tenant", "big", "--tenant", "empty", "-q"]);
    let big_db = data.join("tenants/big.db");
    let started = Instant::now();
    let rows = fill(&big_db, config.bulk_bytes);
    let size = std::fs::metadata(&big_db).expect("big.db").len();
    println!("filled big.db: {rows} rows, {:.0} MB, in {}", size as f64 / 1e6, fmt(started.elapsed()));
    let empty_size = std::fs::metadata(data.join("tenants/empty.db")).expect("empty.db").len();

    // References: what copying the file costs by itself.
    let copy = dir.join("copy.db");
    let (mut fs_copy, mut backup_copy) = (Stats::default(), Stats::default());
    settle(config);
    for _ in 0..3 {
        sync();
        let started = Instant::now();
        std::fs::copy(&big_db, &copy).expect("copy big.db");
        std::fs::File::open(&copy).and_then(|f| f.sync_all()).expect("sync the copy");
        fs_copy.push(started.elapsed());
        std::fs::remove_file(&copy).expect("remove the copy");
        sync();
        let started = Instant::now();
        let conn = Connection::open(&big_db).expect("open big.db");
        conn.backup(rusqlite::MAIN_DB, &copy, None::<fn(rusqlite::backup::Progress)>).expect("backup big.db");
        std::fs::File::open(&copy).and_then(|f| f.sync_all()).expect("sync the copy");
        backup_copy.push(started.elapsed());
        drop(conn);
        std::fs::remove_file(&copy).expect("remove the copy");
    }

    let reflink = reflink_support(&big_db, &dir.join("reflink-probe.db"));
    println!("FICLONE of big.db on this file system: {reflink}");

    let reps = 5;
    let kinds: Vec<&str> = [
        "install small",
        "install small_hooked",
        "install small_writer",
        "uninstall small",
        "uninstall small_hooked",
        "uninstall small_writer",
    ]
    .into_iter()
    .filter(|kind| writer_known || !kind.ends_with("small_writer"))
    .collect();
    // stats[kind][tenant]: tenant 0 is `empty`, 1 is `big`.
    let mut stats: Vec<[Stats; 2]> = vec![Default::default(); kinds.len()];
    for rep in 0..reps {
        let order = if rep % 2 == 0 { [0, 1] } else { [1, 0] };
        for t in order {
            let tenant = ["empty", "big"][t];
            for (k, kind) in kinds.iter().enumerate() {
                let mut args: Vec<&str> = kind.split(' ').collect();
                args.extend(["--tenant", tenant, "-q"]);
                sync();
                stats[k][t].push(m.timed(&args).0);
            }
        }
    }
    let after = std::fs::metadata(&big_db).expect("big.db").len();
    assert!(after.abs_diff(size) < size / 100, "big.db kept its size ({size} bytes before, {after} after)");
    assert!(!data.join("tenants/big.db.rollback").exists(), "the rollback copy is gone");
    let hooked_copy = last_rollback_copy(&m, "big", "small_hooked");
    println!("small_hooked's rollback copy of big.db: {hooked_copy}");

    let big_label = format!("{:.0} MB", size as f64 / 1e6);
    let empty_label = format!("{:.0} KB", empty_size as f64 / 1e3);
    for (kind, [empty, big]) in kinds.iter().zip(&stats) {
        println!("{kind:<24} empty: {}   big: {}", empty.describe(), big.describe());
        report.row(format!("{kind}, empty tenant ({empty_label})"), empty, String::new());
        report.row(format!("{kind}, big tenant ({big_label})"), big, format!("{:.1}x empty", ratio(big, empty)));
    }
    report.row(format!("reference: std::fs::copy + fsync of big.db ({big_label})"), &fs_copy, String::new());
    report.row(format!("reference: SQLite backup API + fsync of big.db ({big_label})"), &backup_copy, String::new());
    let goal = |report: &mut Report, goal: String, [empty, big]: &[Stats; 2]| {
        let r = ratio(big, empty);
        report.goal(&goal, format!("{r:.2}x ({} against {})", fmt(big.median()), fmt(empty.median())), r <= 2.0);
    };
    goal(report, format!("install with a hook into a {big_label} tenant ≤ 2x into an empty one (rollback copy: {hooked_copy})"), &stats[1]);
    if writer_known {
        let copy_step = last_rollback_copy(&m, "big", "small_writer");
        println!("small_writer's rollback copy of big.db: {copy_step}");
        goal(report, format!("the same with the hook in `writes_tenant_db` (FICLONE: {reflink}; rollback copy: {copy_step})"), &stats[2]);
    }
}

/// Whether the file system of `source` takes a reflink: tries `FICLONE` into `probe`
/// (removed after).
fn reflink_support(source: &Path, probe: &Path) -> String {
    use std::os::fd::AsRawFd;
    let from = std::fs::File::open(source).expect("open the source");
    let to = std::fs::File::create(probe).expect("create the probe");
    // SAFETY: FICLONE takes the source descriptor by value; both stay open for the call.
    let ok = unsafe { libc::ioctl(to.as_raw_fd(), libc::FICLONE, from.as_raw_fd()) } == 0;
    let error = std::io::Error::last_os_error();
    drop(to);
    let _ = std::fs::remove_file(probe);
    if ok { "supported".into() } else { format!("not supported ({error})") }
}

/// The detail of the `rollback copy` step of the last install of `module` on `tenant`,
/// or `none` when it had no such step.
fn last_rollback_copy(m: &Modreg, tenant: &str, module: &str) -> String {
    let jobs: serde_json::Value =
        serde_json::from_str(&m.run(&["jobs", "list", "--tenant", tenant, "--module", module, "--limit", "10", "--json"]))
            .expect("jobs list");
    let install = jobs["jobs"].as_array().and_then(|jobs| jobs.iter().find(|j| j["kind"] == "install")).expect("an install job");
    let shown: serde_json::Value =
        serde_json::from_str(&m.run(&["jobs", "show", &install["id"].to_string(), "--json"])).expect("jobs show");
    let steps = shown["job"]["steps"].as_array().cloned().unwrap_or_default();
    match steps.iter().find(|s| s["name"] == "rollback copy") {
        Some(step) => step["detail"].as_str().unwrap_or("?").to_string(),
        None => "none recorded".into(),
    }
}

// ---------------------------------------------------------------------------------------
// 5: a small module beside fifty views
// ---------------------------------------------------------------------------------------

fn views(config: &Config, bin: &Path, dir: &Path, report: &mut Report) {
    let runs = config.runs;
    println!("\n== install, upgrade and uninstall of `shop` beside fifty views, {runs} runs");
    let catalog = dir.join("views-modules");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/views"), &catalog);
    let m = Modreg::new(bin, &catalog, &dir.join("views-data"));
    m.run(&["tenant", "add", "viewful", "plain", "-q"]);
    m.run(&["install", "reports", "--tenant", "viewful", "-q"]);
    let kinds = [["install", "shop@=1.0.0"], ["upgrade", "shop"], ["uninstall", "shop"]];
    // stats[tenant][kind]: tenant 0 is `plain`, 1 is `viewful`.
    let mut stats: [[Stats; 3]; 2] = Default::default();
    settle(config);
    for run in 0..runs {
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for t in order {
            let tenant = ["plain", "viewful"][t];
            for (k, kind) in kinds.iter().enumerate() {
                let mut args = kind.to_vec();
                args.extend(["--tenant", tenant, "-q"]);
                sync();
                stats[t][k].push(m.timed(&args).0);
            }
        }
    }
    let views = Connection::open_with_flags(dir.join("views-data/tenants/viewful.db"), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'view'", [], |r| r.get::<_, i64>(0)))
        .expect("count the views");
    assert_eq!(views, 50, "the viewful tenant has the fifty views of `reports` (shop is uninstalled)");
    for (k, kind) in kinds.iter().enumerate() {
        let what = kind.join(" ");
        println!("{what:<24} plain: {}   viewful: {}", stats[0][k].describe(), stats[1][k].describe());
        report.row(format!("{what}, tenant without views"), &stats[0][k], String::new());
        report.row(format!("{what}, tenant with 50 views"), &stats[1][k], format!("{:.2}x without", ratio(&stats[1][k], &stats[0][k])));
    }
    let (uninstall, uninstall_text) = paired(&stats[1][2], &stats[0][2]);
    report.goal("uninstall beside 50 views ≤ 2x without views", uninstall_text, uninstall <= 2.0);
}

/// Inserts rows of about 1 KB in transactions of 25,000 until the file reaches `bytes`,
/// then folds the WAL into the file. Returns the number of rows.
fn fill(db: &Path, bytes: u64) -> u64 {
    let mut conn = Connection::open(db).expect("open big.db");
    let filler = "x".repeat(1000);
    let wal = with_suffix(db, "-wal");
    let size = || [db, wal.as_path()].iter().map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum::<u64>();
    let mut rows = 0u64;
    while size() < bytes {
        let tx = conn.transaction().expect("begin");
        {
            let mut insert = tx.prepare("INSERT INTO bulk_rows (id, payload) VALUES (?1, ?2)").expect("prepare");
            for _ in 0..25_000 {
                rows += 1;
                insert.execute(rusqlite::params![rows as i64, format!("{rows:012} {filler}")]).expect("insert");
            }
        }
        tx.commit().expect("commit");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
    }
    rows
}

// ---------------------------------------------------------------------------------------
// Driving the binary, files, statistics
// ---------------------------------------------------------------------------------------

/// `modreg --modules DIR --data DIR …`.
struct Modreg {
    bin: PathBuf,
    modules: PathBuf,
    data: PathBuf,
}

impl Modreg {
    fn new(bin: &Path, modules: &Path, data: &Path) -> Modreg {
        Modreg { bin: bin.to_path_buf(), modules: modules.to_path_buf(), data: data.to_path_buf() }
    }

    /// Runs a command to its end; panics with its output if it fails. Returns how long
    /// it took, process start to exit, and its stdout.
    fn timed(&self, args: &[&str]) -> (Duration, String) {
        let mut command = Command::new(&self.bin);
        command.arg("--modules").arg(&self.modules).arg("--data").arg(&self.data).args(args).env("NO_COLOR", "1");
        let started = Instant::now();
        let output = command.output().expect("run modreg");
        let elapsed = started.elapsed();
        assert!(
            output.status.success(),
            "`modreg {}` failed ({}):\n{}\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (elapsed, String::from_utf8(output.stdout).expect("UTF-8 output"))
    }

    fn run(&self, args: &[&str]) -> String {
        self.timed(args).1
    }
}

fn add_tenants(m: &Modreg, names: &[String]) {
    for chunk in names.chunks(TENANTS_PER_CALL) {
        let mut args = vec!["tenant", "add", "-q"];
        args.extend(chunk.iter().map(String::as_str));
        m.run(&args);
    }
}

fn tenant_names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:05}")).collect()
}

/// A module folder: manifest, migrations, and optionally a `post_install` hook script,
/// listed in `writes_tenant_db` when `writes`.
fn write_module(dir: &Path, name: &str, migrations: &[(&str, &str)], post_install: Option<&str>, writes: bool) {
    std::fs::create_dir_all(dir.join("migrations")).expect("create a module folder");
    let mut manifest = format!("[module]\nname = \"{name}\"\nversion = \"1.0.0\"\ndescription = \"benchmark module\"\n");
    for (file, sql) in migrations {
        std::fs::write(dir.join("migrations").join(file), sql).expect("write a migration");
    }
    if let Some(body) = post_install {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir.join("hooks")).expect("create hooks/");
        let hook = dir.join("hooks/post_install.sh");
        std::fs::write(&hook, format!("#!/bin/sh\n{body}\n")).expect("write the hook");
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("make the hook executable");
        manifest.push_str("\n[hooks]\npost_install = \"hooks/post_install.sh\"\n");
        if writes {
            manifest.push_str("writes_tenant_db = [\"post_install\"]\n");
        }
    }
    std::fs::write(dir.join("module.toml"), manifest).expect("write module.toml");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a folder");
    for entry in std::fs::read_dir(from).expect("read a folder") {
        let entry = entry.expect("read a folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            // Keeps permissions, so hook scripts stay executable.
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

fn db_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read the tenants folder")
        .map(|e| e.expect("read a folder entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "db"))
        .collect();
    files.sort();
    files
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes out dirty pages, so that a run does not pay for the previous one's writeback.
fn sync() {
    let _ = Command::new("sync").status();
}

/// `sync`, then a pause that lets the inodes freed by earlier steps age past ext4's
/// "recently deleted" window (see the header).
fn settle(config: &Config) {
    sync();
    std::thread::sleep(config.settle);
}

/// Prints `df -h` for the benchmark folder, and stops early if the runs would not fit.
fn check_free_disk(dir: &Path, config: &Config) {
    if let Ok(out) = Command::new("df").arg("-h").arg(dir).output() {
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    let mut need = 0u64;
    if config.includes("fleet") {
        // The template and every side's copy of it, kept until the end.
        need += config.tenants as u64 * 50_000 * (3 * config.reps as u64 + 1);
    }
    if config.includes("bulk") {
        need += config.bulk_bytes * 5 / 2;
    }
    let avail = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).lines().nth(1).and_then(|l| l.trim().parse::<u64>().ok()));
    if let Some(avail) = avail {
        assert!(
            avail > need,
            "{} has {:.1} GB free; these runs need about {:.1} GB (lower MODREG_BENCH_TENANTS or MODREG_BENCH_BULK_MB, or set MODREG_BENCH_DIR)",
            dir.display(),
            avail as f64 / 1e9,
            need as f64 / 1e9
        );
    }
}

/// CPU time used so far, user + system: by this process with the children it has waited
/// for, and by the whole machine. The difference over a run is what other processes (and
/// kernel threads, such as writeback) took from the two cores meanwhile.
#[derive(Clone, Copy)]
struct CpuClock {
    ours: Duration,
    machine: Duration,
}

impl CpuClock {
    fn now() -> CpuClock {
        let usage = |who| {
            // SAFETY: getrusage only writes the struct it is given.
            let mut r: libc::rusage = unsafe { std::mem::zeroed() };
            unsafe { libc::getrusage(who, &mut r) };
            let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
            tv(r.ru_utime) + tv(r.ru_stime)
        };
        // The first line of /proc/stat: `cpu user nice system idle …`, in clock ticks.
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let ticks: u64 =
            stat.lines().next().unwrap_or_default().split_whitespace().skip(1).take(3).filter_map(|v| v.parse::<u64>().ok()).sum();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        CpuClock { ours: usage(libc::RUSAGE_SELF) + usage(libc::RUSAGE_CHILDREN), machine: Duration::from_millis(ticks * 1000 / hz) }
    }

    /// (ours, others) since `start`.
    fn since(self, start: CpuClock) -> (Duration, Duration) {
        let ours = self.ours.saturating_sub(start.ours);
        (ours, self.machine.saturating_sub(start.machine).saturating_sub(ours))
    }
}
