//! `modreg serve` under load from a second process on loopback, against the CLI's
//! `modreg check` per call:
//!
//! 1. **The HTTP API**: `wrk` (another process, on 127.0.0.1) drives the release
//!    `modreg serve` with a bearer token on `GET /v1/tenants/{t}/check/{module}` (what an
//!    application asks before it shows a module), `GET /v1/tenants/{t}/modules` (the
//!    tenant's status: the catalog read from the modules folder, the landlord's rows) and,
//!    as the floor of the HTTP stack, `GET /healthz` (no token, no landlord). Each
//!    endpoint at each connection count gets a warm-up run, then a timed one; reported:
//!    requests per second, wrk's p50 and p99 latency, errors (socket errors, non-2xx
//!    answers), and the CPU time the server, wrk and the rest of the machine used
//!    meanwhile (a two-core machine shares its cores between the server and the load).
//! 2. **The CLI**: `modreg check --tenant T MODULE`, process spawn to exit, N sequential
//!    calls; beside it `modreg --version` (process start alone).
//!
//! The world, in a temporary folder: a copy of the sample catalog (`modules/`), a data
//! folder, tenant `acme` with `finance` (which pulls in `membership` and `digital_card`)
//! and `forum` installed, `MODREG_BENCH_TENANTS` other tenants with `forum` (so that the
//! landlord is not a toy: status reads every tenant's rows), and a token from
//! `modreg token create`.
//!
//! Run with `cargo bench --bench serve` (needs `wrk`: `apt-get install -y wrk`).
//! Environment: `MODREG_BENCH_SECS` (timed seconds per run, default 10),
//! `MODREG_BENCH_WARMUP_SECS` (default 2), `MODREG_BENCH_CONNECTIONS` (default `1,16,64`),
//! `MODREG_BENCH_THREADS` (wrk threads, default 2, never more than connections),
//! `MODREG_BENCH_CALLS` (CLI calls, default 200), `MODREG_BENCH_TENANTS` (other tenants,
//! default 1000), `MODREG_BENCH_ONLY` (comma-separated subset of `http,cli`),
//! `MODREG_BENCH_BIN` (another `modreg` binary), `MODREG_BENCH_DIR` (default
//! `target/bench-tmp`). BENCHMARKS.md has the method, the machine and the figures.

#[path = "support/env.rs"]
mod env;
use env::number;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TENANT: &str = "acme";

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: don't spend minutes there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("serve: run with `cargo bench --bench serve`");
        return;
    }
    let Some(wrk) = wrk_version() else {
        eprintln!("error: this benchmark drives the server with `wrk`, which is not installed here");
        eprintln!("hint: install it (`apt-get install -y wrk` on Debian), then run `cargo bench --bench serve` again");
        std::process::exit(2);
    };
    let only = std::env::var("MODREG_BENCH_ONLY").ok();
    let includes = |part: &str| only.as_deref().is_none_or(|o| o.split(',').any(|s| s.trim() == part));
    // Cargo builds the binary targets (with the bench profile, which is the release
    // profile) before a bench, and tells us where.
    let bin = std::env::var_os("MODREG_BENCH_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_modreg")), PathBuf::from);
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from);
    let dir = std::env::var_os("MODREG_BENCH_DIR").map_or_else(|| target.join("bench-tmp"), PathBuf::from);
    std::fs::create_dir_all(&dir).expect("create the benchmark folder");
    let work = tempfile::Builder::new().prefix("serve-").tempdir_in(&dir).expect("a temporary folder");
    println!("modreg binary: {}\nload generator: {wrk}\nworking in {}", bin.display(), work.path().display());
    println!("load average at start: {}", load_average());

    let m = world(&bin, work.path());
    let token = m.run(&["token", "create", "bench", "-q"]).trim().to_string();
    assert!(token.starts_with("modreg_"), "`token create` printed `{token}`");

    if includes("http") {
        http(&m, &token);
    }
    if includes("cli") {
        cli(&m);
    }
    println!("\nload average at end: {}", load_average());
}

/// `modreg` with the world's modules folder and data folder.
struct Modreg {
    bin: PathBuf,
    modules: PathBuf,
    data: PathBuf,
}

impl Modreg {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command.arg("--modules").arg(&self.modules).arg("--data").arg(&self.data).args(args).env("NO_COLOR", "1");
        command
    }

    /// Runs a command that must succeed; its stdout.
    fn run(&self, args: &[&str]) -> String {
        let output = self.command(args).output().expect("run modreg");
        assert!(output.status.success(), "`modreg {}` failed:\n{}", args.join(" "), String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// The sample catalog, `acme` with four modules, and `MODREG_BENCH_TENANTS` tenants with two.
fn world(bin: &Path, dir: &Path) -> Modreg {
    let modules = dir.join("modules");
    // `cp -a` keeps the hooks executable.
    let copied = Command::new("cp").arg("-a").arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("modules")).arg(&modules).status();
    assert!(copied.is_ok_and(|s| s.success()), "copy the sample catalog");
    let m = Modreg { bin: bin.to_path_buf(), modules, data: dir.join("data") };
    let started = Instant::now();
    let others: Vec<String> = (0..number("MODREG_BENCH_TENANTS", 1000)).map(|i| format!("t{i:05}")).collect();
    for chunk in others.chunks(2000) {
        let mut args = vec!["tenant", "add", "-q"];
        args.extend(chunk.iter().map(String::as_str));
        m.run(&args);
    }
    m.run(&["tenant", "add", "-q", TENANT]);
    m.run(&["install", "forum", "--all-tenants", "--jobs", "2", "-q"]);
    m.run(&["subscription", "grant", "--tenant", TENANT, "finance"]);
    m.run(&["install", "finance", "--tenant", TENANT, "-q"]);
    let status: serde_json::Value = serde_json::from_str(&m.run(&["status", "--tenant", TENANT, "--json"])).expect("status --json");
    let installed = status["tenants"][0]["modules"].as_array().map_or(0, Vec::len);
    assert_eq!(installed, 4, "acme has finance, membership, digital_card and forum: {status}");
    println!("world: {} other tenants with forum, {TENANT} with 4 modules, in {:.1} s", others.len(), started.elapsed().as_secs_f64());
    m
}

// ---------------------------------------------------------------------------------------
// 1: the HTTP API under wrk
// ---------------------------------------------------------------------------------------

/// A running `modreg serve`, stopped (SIGTERM) when dropped.
struct Server {
    child: Child,
    addr: String,
    /// What it printed on stderr after its `Listening` line.
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(m: &Modreg) -> Server {
        let mut child = m
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start modreg serve");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if stderr.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                panic!("`modreg serve` stopped before it listened: {}", line.trim());
            }
            if let Some(rest) = line.split_once("Listening on http://").map(|(_, rest)| rest) {
                break rest.split_whitespace().next().unwrap_or_default().to_string();
            }
        };
        // Keep reading, so that the server never blocks on a full pipe.
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        Server { child, addr, log }
    }

    /// User + system CPU time the server has used so far, from `/proc/PID/stat`.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // After the command name in parentheses: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
        let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
        ticks_to_duration(ticks)
    }

    fn stop(mut self) {
        // SAFETY: kill has no memory preconditions; the pid is our own child's.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let status = self.child.wait().expect("wait for modreg serve");
        assert!(
            status.success(),
            "`modreg serve` exited with {status}:\n{}",
            self.log.lock().unwrap_or_else(|p| p.into_inner()).join("\n")
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request on its own connection: the status code and the body.
fn get(addr: &str, path: &str, token: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_string())
}

/// What one wrk run measured.
struct Load {
    requests: u64,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    socket_errors: u64,
    non_2xx: u64,
    server_cpu: Duration,
    wrk_cpu: Duration,
    other_cpu: Duration,
}

fn http(m: &Modreg, token: &str) {
    let secs = number("MODREG_BENCH_SECS", 10).max(1);
    let warmup = number("MODREG_BENCH_WARMUP_SECS", 2);
    let threads = number("MODREG_BENCH_THREADS", 2).max(1);
    let connections: Vec<usize> = std::env::var("MODREG_BENCH_CONNECTIONS")
        .unwrap_or_else(|_| "1,16,64".into())
        .split(',')
        .map(|c| c.trim().parse().unwrap_or_else(|_| panic!("MODREG_BENCH_CONNECTIONS: `{c}` is not a number")))
        .collect();
    let server = Server::start(m);
    println!("\n== the HTTP API on http://{}, wrk with {threads} thread(s), {warmup} s warm-up then {secs} s per run", server.addr);
    let endpoints = [
        ("GET /v1/tenants/acme/check/finance", "/v1/tenants/acme/check/finance", "\"allowed\":true"),
        ("GET /v1/tenants/acme/modules", "/v1/tenants/acme/modules", "\"name\":\"digital_card\""),
        ("GET /healthz (no token, no landlord)", "/healthz", ""),
    ];
    // Each answers as it should before it is measured.
    for (label, path, expected) in endpoints {
        let (status, body) = get(&server.addr, path, token);
        assert!(status == 200 && body.contains(expected), "{label}: {status} {body}");
    }
    let (status, _) = get(&server.addr, "/v1/tenants/acme/modules", "modreg_not_a_token");
    assert_eq!(status, 401, "a request with an unknown token is refused");

    let mut rows = Vec::new();
    for (label, path, _) in endpoints {
        for &c in &connections {
            let url = format!("http://{}{path}", server.addr);
            let t = threads.min(c);
            if warmup > 0 {
                wrk(&server, &url, token, t, c, warmup);
            }
            let load = wrk(&server, &url, token, t, c, secs);
            println!(
                "{label}, {c} connection(s): {:.0} req/s, p50 {}, p99 {}, {} requests, {} socket errors, {} non-2xx; CPU: server {:.2} s, wrk {:.2} s, others {:.2} s",
                load.per_second,
                fmt(load.p50),
                fmt(load.p99),
                load.requests,
                load.socket_errors,
                load.non_2xx,
                load.server_cpu.as_secs_f64(),
                load.wrk_cpu.as_secs_f64(),
                load.other_cpu.as_secs_f64()
            );
            rows.push((label, c, load));
        }
    }
    server.stop();

    println!(
        "\n| endpoint | connections | req/s | p50 | p99 | requests | errors / non-2xx | server CPU per request | CPU s: server / wrk / others |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (label, c, l) in &rows {
        let per_request = l.server_cpu / (l.requests.max(1) as u32);
        println!(
            "| `{label}` | {c} | {:.0} | {} | {} | {} | {} / {} | {} | {:.1} / {:.1} / {:.1} |",
            l.per_second,
            fmt(l.p50),
            fmt(l.p99),
            l.requests,
            l.socket_errors,
            l.non_2xx,
            fmt(per_request),
            l.server_cpu.as_secs_f64(),
            l.wrk_cpu.as_secs_f64(),
            l.other_cpu.as_secs_f64()
        );
    }
}

/// Runs wrk once against `url` and reads its report.
fn wrk(server: &Server, url: &str, token: &str, threads: usize, connections: usize, secs: usize) -> Load {
    let (server_before, children_before, machine_before) = (server.cpu(), children_cpu(), machine_cpu());
    let output = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &connections.to_string(), "-d", &format!("{secs}s"), "--latency"])
        .args(["-H", &format!("Authorization: Bearer {token}"), url])
        .output()
        .expect("run wrk");
    let server_cpu = server.cpu().saturating_sub(server_before);
    let wrk_cpu = children_cpu().saturating_sub(children_before);
    let other_cpu = machine_cpu().saturating_sub(machine_before).saturating_sub(server_cpu + wrk_cpu);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed:\n{text}{}", String::from_utf8_lossy(&output.stderr));
    let field = |prefix: &str| text.lines().map(str::trim).find_map(|l| l.strip_prefix(prefix)).map(str::trim);
    let latency = |prefix: &str| field(prefix).and_then(wrk_duration).unwrap_or_else(|| panic!("no `{prefix}` latency in:\n{text}"));
    let requests = text
        .lines()
        .find_map(|l| l.split_once(" requests in ").and_then(|(n, _)| n.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no request count in:\n{text}"));
    let socket_errors =
        field("Socket errors:").map_or(0, |s| s.split(',').filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok()).sum());
    Load {
        requests,
        per_second: field("Requests/sec:").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no Requests/sec in:\n{text}")),
        p50: latency("50%"),
        p99: latency("99%"),
        socket_errors,
        non_2xx: field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0),
        server_cpu,
        wrk_cpu,
        other_cpu,
    }
}

/// A wrk duration: `812.00us`, `1.23ms`, `2.01s`, `1.50m`.
fn wrk_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (value, unit) = text.split_at(split);
    let value: f64 = value.parse().ok()?;
    let seconds = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

/// wrk's name and version, or `None` when it is not installed. (`wrk --version` prints
/// its banner and usage, and exits 1.)
fn wrk_version() -> Option<String> {
    let output = Command::new("wrk").arg("--version").output().ok()?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let first = text.lines().next().unwrap_or("wrk");
    Some(first.split(" Copyright").next().unwrap_or(first).trim().to_string())
}

// ---------------------------------------------------------------------------------------
// 2: the CLI's check, one process per call
// ---------------------------------------------------------------------------------------

fn cli(m: &Modreg) {
    let calls = number("MODREG_BENCH_CALLS", 200).max(1);
    println!("\n== `modreg check --tenant {TENANT} finance`, {calls} sequential calls, spawn to exit");
    let timed = |args: &[&str]| {
        let mut samples = Vec::with_capacity(calls);
        let started = Instant::now();
        for _ in 0..calls {
            let t = Instant::now();
            let status = m.command(args).stdout(Stdio::null()).stderr(Stdio::null()).status().expect("run modreg");
            samples.push(t.elapsed());
            assert!(status.success(), "`modreg {}` answered {status}", args.join(" "));
        }
        let per_second = calls as f64 / started.elapsed().as_secs_f64();
        samples.sort();
        (per_second, samples)
    };
    let (check_rate, check) = timed(&["check", "--tenant", TENANT, "finance"]);
    let (version_rate, version) = timed(&["--version"]);
    println!("\n| command | calls | calls/s | p50 | p99 | max |\n| --- | ---: | ---: | ---: | ---: | ---: |");
    for (label, rate, samples) in [("modreg check --tenant acme finance", check_rate, &check), ("modreg --version", version_rate, &version)]
    {
        println!(
            "| `{label}` | {calls} | {rate:.0} | {} | {} | {} |",
            fmt(percentile(samples, 50.0)),
            fmt(percentile(samples, 99.0)),
            fmt(samples[samples.len() - 1])
        );
    }
}

/// The nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------------------
// Clocks and formatting
// ---------------------------------------------------------------------------------------

fn ticks_to_duration(ticks: u64) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

/// User + system CPU time of this process's children that have ended (wrk runs).
fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time the whole machine has used (user, nice, system, irq, softirq), from `/proc/stat`.
fn machine_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq …
    let busy = [0, 1, 2, 5, 6].iter().filter_map(|&i| fields.get(i)).sum();
    ticks_to_duration(busy)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn fmt(d: Duration) -> String {
    match d.as_secs_f64() {
        s if s >= 1.0 => format!("{s:.2} s"),
        s if s >= 1e-3 => format!("{:.2} ms", s * 1e3),
        s => format!("{:.0} µs", s * 1e6),
    }
}
