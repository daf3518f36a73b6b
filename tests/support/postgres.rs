//! A throwaway PostgreSQL cluster for the tests that need one: started once per test
//! binary on 127.0.0.1 and a free port, from the PostgreSQL installed on the machine
//! (`initdb` refuses to run as root, so as root it runs as the `postgres` user), and
//! stopped when the binary exits, or by a watcher once it is gone (killed from outside).
//! Each test gets a database of its own.
//!
//! Without PostgreSQL the tests that need it say so and pass without checking anything;
//! with `MODREG_REQUIRE_POSTGRES=1` (set by `.ci/run`) that is a failure instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Cluster {
    port: u16,
}

struct Running {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static RUNNING: OnceLock<Running> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// The cluster, started on first use; `None` (with the reason printed) when PostgreSQL
/// is not installed and the run does not require it.
pub fn cluster() -> Option<&'static Cluster> {
    match CLUSTER.get_or_init(start) {
        Ok(cluster) => Some(cluster),
        Err(why) if std::env::var_os("MODREG_REQUIRE_POSTGRES").is_some_and(|v| v == "1") => {
            panic!("PostgreSQL is required (MODREG_REQUIRE_POSTGRES=1) but could not be started: {why}")
        }
        Err(why) => {
            // Written to the real stderr (the test harness captures only `eprintln!`), once.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: the PostgreSQL landlord tests pass without checking anything, since PostgreSQL could not be started here: {why}"
                );
            });
            None
        }
    }
}

impl Cluster {
    /// A new, empty database; its URL.
    pub fn database(&self) -> String {
        let name = format!("t{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::Relaxed));
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("connect to the test cluster");
        client.batch_execute(&format!("CREATE DATABASE {name}")).expect("create a test database");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Cluster {
    /// A new database made from the one at `url` (`CREATE DATABASE … TEMPLATE`, a file
    /// copy on the server); its URL. Nothing may be connected to the template meanwhile.
    #[allow(dead_code)] // for the benchmarks, which share this file with the tests
    pub fn copy_database(&self, url: &str) -> String {
        let template = url.rsplit('/').next().expect("a database name");
        let name = format!("t{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::Relaxed));
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("connect to the test cluster");
        client.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")).expect("copy a database");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The folder of PostgreSQL's server programs: `MODREG_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`, else `pg_config --bindir`.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MODREG_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Some(bin);
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    dir.join("initdb").is_file().then_some(dir)
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root.
fn run(running: &Running, program: &str, args: &[String]) -> Result<(), String> {
    let path = running.bin.join(program);
    let output = if running.as_postgres {
        let quoted: Vec<String> =
            std::iter::once(path.display().to_string()).chain(args.iter().cloned()).map(|a| format!("'{a}'")).collect();
        Command::new("su").args(["postgres", "-s", "/bin/sh", "-c", &quoted.join(" ")]).output()
    } else {
        Command::new(&path).args(args).output()
    }
    .map_err(|e| format!("cannot run {program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{program} failed: {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn start() -> Result<Cluster, String> {
    let bin = bin_dir().ok_or("no PostgreSQL server programs (initdb) found; install the `postgresql` package")?;
    let dir = std::env::temp_dir().join(format!("modreg-pg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let as_postgres = is_root();
    if as_postgres {
        std::os::unix::fs::chown(&dir, Some(uid("postgres")?), None)
            .map_err(|e| format!("cannot give {} to postgres: {e}", dir.display()))?;
    }
    let running = RUNNING.get_or_init(|| Running { bin, dir: dir.clone(), as_postgres });
    // SAFETY: registering a plain function to run at exit; it stops the cluster (if it
    // started) and removes its folder.
    unsafe { libc::atexit(stop) };
    let data = dir.join("data").display().to_string();
    run(running, "initdb", &["-D".into(), data.clone(), "-A".into(), "trust".into(), "-U".into(), "postgres".into(), "--no-sync".into()])?;
    let port = free_port()?;
    // Tests need no durability: fsync off. `MODREG_PG_OPTIONS` adds server options (and
    // overrides these: the benchmarks turn fsync back on).
    let extra = std::env::var("MODREG_PG_OPTIONS").unwrap_or_default();
    let options = format!("-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c max_connections=200 {extra}", dir.display());
    let log = dir.join("server.log").display().to_string();
    run(
        running,
        "pg_ctl",
        &["-D".into(), data.clone(), "-o".into(), options, "-l".into(), log, "-w".into(), "-t".into(), "60".into(), "start".into()],
    )?;
    watch(running, &data);
    Ok(Cluster { port })
}

/// Stops the cluster once this process is gone, however it went: `atexit` does not run
/// for a binary killed from outside (a timeout), which would leave the server running.
#[allow(clippy::zombie_processes)]
fn watch(running: &Running, data: &str) {
    let pg_ctl = format!("'{}' -D '{data}' -m immediate stop", running.bin.join("pg_ctl").display());
    let stop = if running.as_postgres { format!("su postgres -s /bin/sh -c \"{pg_ctl}\"") } else { pg_ctl };
    let script = format!(
        "while [ -d /proc/{pid} ]; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = running.dir.display()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

fn uid(user: &str) -> Result<u32, String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())?;
    passwd
        .lines()
        .find_map(|l| {
            let mut fields = l.split(':');
            (fields.next() == Some(user)).then(|| fields.nth(1)?.parse().ok())?
        })
        .ok_or_else(|| format!("no `{user}` user"))
}

extern "C" fn stop() {
    if let Some(running) = RUNNING.get() {
        let data = running.dir.join("data").display().to_string();
        let _ = run(running, "pg_ctl", &["-D".into(), data, "-m".into(), "immediate".into(), "-w".into(), "stop".into()]);
        let _ = std::fs::remove_dir_all(Path::new(&running.dir));
    }
}
