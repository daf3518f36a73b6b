//! The test world: a temporary folder with a modules catalog and a data folder, the real
//! `modreg` binary, and ways to look at what a user would: exit codes, output, and the
//! tenant files and landlord themselves.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::mpsc;
use std::time::Duration;

use assert_cmd::Command;
use rusqlite::Connection;
use rusqlite::types::Value;
use serde_json::Value as Json;
use tempfile::TempDir;

/// The host every test run names (`MODREG_HOST`), so that output does not depend on
/// the machine.
pub const TEST_HOST: &str = "test-host";

pub struct World {
    pub dir: TempDir,
    /// The PostgreSQL landlord of this world (a database of its own), when this test
    /// binary runs the suite against PostgreSQL.
    pub landlord_url: Option<String>,
    /// The PostgreSQL database of this world's tenant schemas (`MODREG_TENANTS`), when
    /// the test binary runs on PostgreSQL tenants (`pg_tenants`).
    pub tenants_url: Option<String>,
}

/// Snapshots named alike by both test binaries (`cli__<module>__<name>`), so that the
/// PostgreSQL run is held to the same output as the SQLite one.
pub fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/snapshots"));
    settings
}

/// [`snapshot_settings`], with what changes from run to run replaced by a placeholder:
/// the world's folder, times, batch ids and step durations.
pub fn world_snapshot_settings(world: &World) -> insta::Settings {
    let mut settings = snapshot_settings();
    settings.add_filter(&regex_escape(&world.path().display().to_string()), "[world]");
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[time]");
    settings.add_filter(r"\d{8}T\d{6}Z-[0-9a-f]{8}", "[batch]");
    settings.add_filter(r#""duration_ms": \d+"#, r#""duration_ms": "[ms]""#);
    settings
}

/// `text` with each of `values` replaced by `placeholder` padded to the value's width,
/// so that a table stays a table in a snapshot.
pub fn same_width(text: &str, values: &[&str], placeholder: &str) -> String {
    values.iter().fold(text.to_string(), |text, value| text.replace(value, &format!("{placeholder:<width$}", width = value.len())))
}

fn regex_escape(text: &str) -> String {
    text.chars().flat_map(|c| if c.is_ascii_alphanumeric() || c == '/' { vec![c] } else { vec!['\\', c] }).collect()
}

/// Whether this binary is the suite's run against a PostgreSQL landlord (`cli_postgres`,
/// the same tests as `cli`).
pub fn on_postgres() -> bool {
    env!("CARGO_CRATE_NAME") == "cli_postgres"
}

/// Whether this binary runs its tests on tenant databases in PostgreSQL schemas
/// (`pg_tenants`).
pub fn on_pg_tenants() -> bool {
    matches!(env!("CARGO_CRATE_NAME"), "pg_tenants" | "cli_pg_tenants")
}

/// Whether module fixtures carry their SQL for both engines: in `cli_pg_tenants`, the
/// suite of `cli` on PostgreSQL tenants. `pg_tenants` writes its PostgreSQL SQL itself,
/// and tests there that a module without it is refused.
fn both_engines() -> bool {
    env!("CARGO_CRATE_NAME") == "cli_pg_tenants"
}

/// How a run ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// It ran with `--json`.
    pub json: bool,
}

impl Run {
    fn of(args: &[&str], output: std::process::Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            json: args.contains(&"--json"),
        }
    }

    /// The lines of stderr that start with `prefix` (`error:`, `warning:`).
    pub fn stderr_lines(&self, prefix: &str) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    pub fn json(&self) -> Json {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    /// Requires exit `code`, and what a user is owed with it: on success no `error:`
    /// line; on failure the reason, as the JSON error object with `--json` (and nothing
    /// on stderr but status lines), else an `error:` line on stderr. Runs that answer
    /// with their exit code alone (`check`, a fleet's summary, `validate`'s
    /// diagnostics) use [`Run::exit`].
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        self.exit(code);
        let context = format!("exit {code}\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        match (code, self.json) {
            (0, _) => assert!(self.stderr_lines("error:").is_empty(), "an error line on success: {context}"),
            (_, true) => {
                assert!(self.json()["error"]["message"].is_string(), "no JSON error object: {context}");
                assert!(self.stderr_lines("error:").is_empty(), "the error went to stderr too: {context}");
            }
            (_, false) => assert_eq!(self.stderr_lines("error:").len(), 1, "no (or more than one) `error:` line: {context}"),
        }
        self
    }

    /// Requires exit `code`, and nothing else.
    #[track_caller]
    pub fn exit(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        assert!(!self.stderr.contains("panicked") && !self.stderr.contains("hit a bug"), "a panic: {}", self.stderr);
        self
    }

    /// The JSON error object of a failed `--json` run.
    pub fn error(&self) -> Json {
        self.json()["error"].clone()
    }
}

impl Default for World {
    fn default() -> World {
        World::new()
    }
}

impl World {
    pub fn new() -> World {
        let landlord_url = if on_postgres() { crate::pg::cluster().map(|c| c.database()) } else { None };
        let tenants_url = if on_pg_tenants() { crate::pg::cluster().map(|c| c.database()) } else { None };
        let world = World { dir: tempfile::tempdir().expect("temp dir"), landlord_url, tenants_url };
        std::fs::create_dir_all(world.modules()).expect("modules dir");
        world
    }

    /// A world whose catalog is a copy of the repository's sample `modules/`.
    pub fn sample() -> World {
        World::copy_of(Path::new(env!("CARGO_MANIFEST_DIR")).join("modules"))
    }

    /// A world whose catalog is a copy of `tests/fixtures/<name>`.
    pub fn fixture(name: &str) -> World {
        World::copy_of(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name))
    }

    fn copy_of(catalog: PathBuf) -> World {
        let world = World::new();
        let status = StdCommand::new("cp").arg("-R").arg(catalog.join(".")).arg(world.modules()).status().expect("cp");
        assert!(status.success());
        world
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn modules(&self) -> PathBuf {
        self.path().join("modules")
    }

    pub fn data(&self) -> PathBuf {
        self.path().join("data")
    }

    pub fn tenant_path(&self, tenant: &str) -> PathBuf {
        self.data().join("tenants").join(format!("{tenant}.db"))
    }

    /// The binary, run in the world's folder, with the world's catalog and data folder
    /// and none of the caller's `MODREG_*` settings.
    pub fn command(&self) -> Command {
        let mut cmd = Command::cargo_bin("modreg").expect("binary");
        cmd.current_dir(self.path());
        for (key, _) in std::env::vars() {
            if key.starts_with("MODREG_") || key == "NO_COLOR" {
                cmd.env_remove(key);
            }
        }
        cmd.env("MODREG_MODULES", self.modules())
            .env("MODREG_DATA", self.data())
            .env("MODREG_ACTOR", "tester")
            .env("MODREG_HOST", TEST_HOST);
        cmd.envs(self.landlord_env());
        cmd
    }

    /// `MODREG_LANDLORD` for this world's PostgreSQL landlord (none on SQLite), and
    /// `MODREG_TENANTS` for its PostgreSQL tenant schemas.
    pub fn landlord_env(&self) -> Vec<(&'static str, String)> {
        let landlord = self.landlord_url.iter().map(|url| ("MODREG_LANDLORD", url.clone()));
        landlord.chain(self.tenants_url.iter().map(|url| ("MODREG_TENANTS", url.clone()))).collect()
    }

    /// A connection to this world's tenant schemas, as an application makes one
    /// (`pg_tenants` worlds only), with `search_path` set to the tenant's schema.
    pub fn tenant_client(&self, tenant: &str) -> postgres::Client {
        let url = self.tenants_url.as_deref().expect("a world with PostgreSQL tenants");
        let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect to the tenants database");
        client.batch_execute(&format!("SET search_path = \"{tenant}\"")).expect("set search_path");
        client
    }

    /// The library's handle on this world's landlord.
    pub fn registry(&self) -> modreg::domain::Result<modreg::api::Registry> {
        match &self.landlord_url {
            Some(url) => modreg::api::Registry::connect(url),
            None => modreg::api::Registry::open(self.data()),
        }
    }

    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command();
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::of(args, cmd.output().expect("run modreg"))
    }

    /// Runs with no `MODREG_*` variables at all (help text shows the environment).
    pub fn run_bare(&self, args: &[&str]) -> Run {
        let mut cmd = self.command();
        cmd.env_remove("MODREG_MODULES").env_remove("MODREG_DATA").env_remove("MODREG_ACTOR").env_remove("MODREG_HOST").args(args);
        Run::of(args, cmd.output().expect("run modreg"))
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// Starts the binary in the background, stdout and stderr piped, for tests that
    /// need it running while they act (kill it, race it, follow its output).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.spawn_with(args, &[])
    }

    /// As [`World::spawn`], with more environment.
    pub fn spawn_with(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("modreg"));
        for (key, _) in std::env::vars() {
            if key.starts_with("MODREG_") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(self.path())
            .env("MODREG_MODULES", self.modules())
            .env("MODREG_DATA", self.data())
            .env("MODREG_HOST", TEST_HOST)
            .envs(self.landlord_env())
            .envs(env.iter().copied())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn modreg")
    }

    /// `modreg serve` of this world on a free port of 127.0.0.1, with `args` after it,
    /// once it says where it listens. SIGTERMed (then killed) when dropped.
    pub fn serve(&self, args: &[&str]) -> Server {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend(args);
        let mut child = self.spawn(&all);
        let mut stderr = Stderr::of(&mut child);
        let line = stderr.wait_for("Listening on http://");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server { addr, child: Some(child), stderr: Some(stderr) }
    }

    /// Runs and requires exit 0 with no `error:` or `warning:` line.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        run.code(0);
        assert!(run.stderr_lines("warning:").is_empty(), "an unexpected warning: {}", run.stderr);
        run
    }

    /// Runs and requires exit 0 with a warning that contains `needle`.
    #[track_caller]
    pub fn ok_warning(&self, args: &[&str], needle: &str) -> Run {
        let run = self.run(args);
        run.code(0);
        assert!(run.stderr_lines("warning:").iter().any(|l| l.contains(needle)), "no warning with {needle:?}: {}", run.stderr);
        run
    }

    /// Runs with `--json` and requires exit 0.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Json {
        let mut all = args.to_vec();
        all.push("--json");
        self.ok(&all).json()
    }

    pub fn module(&self, folder: &str, name: &str, version: &str) -> ModuleBuilder<'_> {
        ModuleBuilder {
            dir: self.modules().join(folder),
            name: name.into(),
            version: version.into(),
            body: String::new(),
            deps: Vec::new(),
            optional: Vec::new(),
            features: Vec::new(),
            hooks: Vec::new(),
            writes_tenant_db: None,
            migrations: Vec::new(),
            seeds: Vec::new(),
            pg_sql: Vec::new(),
            _world: self,
        }
    }

    pub fn tenant_db(&self, tenant: &str) -> Connection {
        Connection::open(self.tenant_path(tenant)).expect("open tenant db")
    }

    /// The SQLite landlord file (SQLite worlds only).
    pub fn landlord(&self) -> Connection {
        Connection::open(self.data().join("landlord.db")).expect("open landlord")
    }

    /// Runs SQL on the landlord, whichever engine holds it, for what no command does
    /// (a file kept long ago).
    pub fn landlord_sql(&self, sql: &str) {
        match &self.landlord_url {
            Some(url) => postgres::Client::connect(url, postgres::NoTls)
                .and_then(|mut client| client.batch_execute(sql))
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            None => self.landlord().execute_batch(sql).unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// A logical dump of a tenant's database: every object's SQL and every table's rows,
    /// on whichever engine holds it.
    pub fn dump(&self, tenant: &str) -> String {
        if self.tenants_url.is_some() {
            return pg_dump(&mut self.tenant_client(tenant), tenant);
        }
        dump(&self.tenant_db(tenant))
    }

    /// Whether the tenant has a database: its file, or its schema on PostgreSQL.
    pub fn has_tenant_db(&self, tenant: &str) -> bool {
        if let Some(url) = &self.tenants_url {
            let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect to the tenants database");
            let found = client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&tenant]).expect("look for the schema");
            return !found.is_empty();
        }
        self.tenant_path(tenant).is_file()
    }

    /// The one value `sql` selects from a tenant's database, as text (`None` for NULL),
    /// on whichever engine holds it; `Err` with the engine's message when it fails.
    pub fn try_value(&self, tenant: &str, sql: &str) -> Result<Option<String>, String> {
        if self.tenants_url.is_some() {
            let wrapped = format!("SELECT v::text FROM ({sql}) AS q(v)");
            return match self.tenant_client(tenant).query_one(&wrapped, &[]) {
                Ok(row) => Ok(row.get(0)),
                Err(e) => Err(pg_message(&e)),
            };
        }
        self.tenant_db(tenant)
            .query_row(sql, [], |r| r.get::<_, Value>(0))
            .map(|value| match value {
                Value::Null => None,
                Value::Integer(i) => Some(i.to_string()),
                Value::Real(f) => Some(f.to_string()),
                Value::Text(t) => Some(t),
                Value::Blob(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            })
            .map_err(|e| e.to_string())
    }

    /// The text `sql` selects from a tenant's database.
    #[track_caller]
    pub fn text(&self, tenant: &str, sql: &str) -> String {
        self.try_value(tenant, sql).unwrap_or_else(|e| panic!("{sql}: {e}")).unwrap_or_else(|| panic!("{sql}: NULL"))
    }

    /// The integer `sql` selects from a tenant's database.
    #[track_caller]
    pub fn int(&self, tenant: &str, sql: &str) -> i64 {
        let text = self.text(tenant, sql);
        text.parse().unwrap_or_else(|_| panic!("{sql}: {text:?} is not an integer"))
    }

    /// A logical dump of the SQLite file at `path`.
    pub fn dump_file(&self, path: &Path) -> String {
        dump(&Connection::open(path).expect("open the file"))
    }

    /// Names of the objects in a tenant's database (tables, indexes, views, triggers;
    /// on PostgreSQL also sequences, functions and types).
    pub fn objects(&self, tenant: &str) -> Vec<String> {
        if self.tenants_url.is_some() {
            let rows = self.tenant_client(tenant).query(
                "SELECT relname::text FROM pg_class WHERE relnamespace = $1::text::regnamespace
                 UNION SELECT proname::text FROM pg_proc WHERE pronamespace = $1::text::regnamespace
                 UNION SELECT tgname::text FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
                       WHERE c.relnamespace = $1::text::regnamespace AND NOT g.tgisinternal
                 ORDER BY 1",
                &[&format!("\"{tenant}\"")],
            );
            return rows.expect("list the schema's objects").iter().map(|r| r.get(0)).collect();
        }
        let conn = self.tenant_db(tenant);
        let mut stmt = conn.prepare("SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_autoindex%' ORDER BY name").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }

    /// The schemas kept aside for a tenant on PostgreSQL tenants (`_modreg_k_<letter>_…`:
    /// `a` uninstall archives, `c` pre-upgrade copies, `t` removed tenants), by name;
    /// none on SQLite.
    pub fn kept_schemas(&self, tenant: &str, letter: &str) -> Vec<String> {
        let Some(url) = &self.tenants_url else { return Vec::new() };
        let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect to the tenants database");
        let prefix = format!("_modreg_k_{letter}_");
        let schemas: Vec<String> = client
            .query("SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY nspname", &[&prefix])
            .expect("list the kept schemas")
            .iter()
            .map(|r| r.get(0))
            .collect();
        schemas
            .into_iter()
            .filter(|schema| {
                let sql = format!("SELECT value FROM \"{schema}\"._modreg_archive WHERE key = 'tenant'");
                client.query_opt(&sql, &[]).ok().flatten().is_some_and(|row| row.get::<_, String>(0) == tenant)
            })
            .collect()
    }

    pub fn has_object(&self, tenant: &str, name: &str) -> bool {
        self.objects(tenant).iter().any(|o| o == name)
    }

    /// Runs SQL on a tenant's database, as an application would.
    pub fn sql(&self, tenant: &str, sql: &str) {
        if self.tenants_url.is_some() {
            return self.tenant_client(tenant).batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {}", pg_message(&e)));
        }
        self.tenant_db(tenant).execute_batch(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub fn count(&self, tenant: &str, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM \"{table}\"");
        if self.tenants_url.is_some() {
            return self
                .tenant_client(tenant)
                .query_one(&sql, &[])
                .map(|r| r.get(0))
                .unwrap_or_else(|e| panic!("{sql}: {}", pg_message(&e)));
        }
        self.tenant_db(tenant).query_row(&sql, [], |r| r.get(0)).unwrap()
    }

    /// All jobs, oldest first, as `jobs list --json` shows them.
    pub fn jobs(&self) -> Vec<Json> {
        let mut jobs = self.json(&["jobs", "list", "--limit", "100000"])["jobs"].as_array().cloned().unwrap_or_default();
        jobs.reverse();
        jobs
    }

    /// The events `modreg events` prints (after `after`), oldest first.
    pub fn events(&self, after: Option<i64>) -> Vec<Json> {
        let after = after.map(|a| a.to_string());
        let mut args = vec!["events"];
        if let Some(after) = &after {
            args.extend(["--after", after]);
        }
        self.ok(&args).stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// Module to version, as the landlord records them for a tenant.
    pub fn installed(&self, tenant: &str) -> BTreeMap<String, String> {
        let status = self.json(&["status", "--tenant", tenant]);
        status["tenants"][0]["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["name"].as_str().unwrap().to_string(), m["version"].as_str().unwrap().to_string()))
            .collect()
    }

    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn render(value: Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => format!("{f:?}"),
        Value::Text(t) => format!("'{t}'"),
        Value::Blob(b) => format!("x'{}'", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
    }
}

/// A logical dump like `sqlite3 FILE .dump`, but ordered so that two dumps of the same
/// logical content are equal: objects by name with their SQL, then each table's rows
/// (with rowids where the table has them), sorted.
pub fn dump(conn: &Connection) -> String {
    let mut out = String::new();
    let objects: Vec<(String, String, Option<String>)> = conn
        .prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY name, type")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (kind, name, sql) in &objects {
        out.push_str(&format!("{kind} {name}: {}\n", sql.as_deref().unwrap_or("-")));
    }
    for (kind, name, sql) in &objects {
        let is_virtual = sql.as_deref().is_some_and(|s| s.to_uppercase().starts_with("CREATE VIRTUAL"));
        if kind != "table" || is_virtual {
            continue;
        }
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        // Like `.dump`, the rowids of SQLite's counters are not content.
        let with_rowid = if name == "sqlite_sequence" { "" } else { "rowid, " };
        let mut stmt = match conn.prepare(&format!("SELECT {with_rowid}* FROM {quoted}")) {
            Ok(stmt) => stmt,
            Err(_) => conn.prepare(&format!("SELECT * FROM {quoted}")).unwrap(),
        };
        let columns = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| Ok((0..columns).map(|i| render(r.get::<_, Value>(i).unwrap())).collect::<Vec<_>>().join(", ")))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        for row in rows {
            out.push_str(&format!("{name}: ({row})\n"));
        }
    }
    out
}

/// What PostgreSQL said, where the client's error shows only "db error".
pub fn pg_message(e: &postgres::Error) -> String {
    e.as_db_error().map(|d| d.message().to_string()).unwrap_or_else(|| e.to_string())
}

/// [`dump`]'s lines for a tenant schema on PostgreSQL: each object (tables with their
/// columns and constraints, indexes, views, sequences, triggers, functions, types) by
/// name with its definition, then each table's rows as quoted text, sorted. Sequences'
/// positions are left out: PostgreSQL does not roll them back, and they are not content.
pub fn pg_dump(client: &mut postgres::Client, schema: &str) -> String {
    let objects = client
        .query(
            "WITH s AS (SELECT oid FROM pg_namespace WHERE nspname = $1)
             SELECT kind, name, def FROM (
               SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'view'
                        WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' ELSE 'relation ' || c.relkind::text END AS kind,
                      c.relname::text AS name,
                      CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid)
                           WHEN c.relkind = 'i' THEN pg_get_indexdef(c.oid)
                           WHEN c.relkind IN ('r', 'p') THEN (
                             SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
                                      || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                                      || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum)
                             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
                           ELSE '' END AS def
               FROM pg_class c, s WHERE c.relnamespace = s.oid AND c.relkind <> 't'
               UNION ALL
               SELECT 'constraint', r.conname::text, c.relname || ': ' || pg_get_constraintdef(r.oid)
               FROM pg_constraint r JOIN pg_class c ON c.oid = r.conrelid, s WHERE c.relnamespace = s.oid
               UNION ALL
               SELECT 'trigger', g.tgname::text, pg_get_triggerdef(g.oid)
               FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid, s WHERE c.relnamespace = s.oid AND NOT g.tgisinternal
               UNION ALL
               SELECT 'function', p.proname::text, pg_get_functiondef(p.oid) FROM pg_proc p, s WHERE p.pronamespace = s.oid
               UNION ALL
               SELECT 'type', t.typname::text, format_type(t.oid, NULL) FROM pg_type t, s
               WHERE t.typnamespace = s.oid AND t.typrelid = 0 AND t.typelem = 0
             ) o ORDER BY name, kind, def",
            &[&schema],
        )
        .expect("list the schema's objects");
    let mut out = String::new();
    let mut tables = Vec::new();
    for row in &objects {
        let (kind, name, def): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        out.push_str(&format!("{kind} {name}: {def}\n"));
        if kind == "table" {
            tables.push(name);
        }
    }
    for table in tables {
        let columns = client
            .query(
                "SELECT string_agg('quote_nullable(t.' || quote_ident(attname) || '::text)', ' || '', '' || ' ORDER BY attnum)
                 FROM pg_attribute WHERE attrelid = format('%I.%I', $1::text, $2::text)::regclass AND attnum > 0 AND NOT attisdropped",
                &[&schema, &table],
            )
            .expect("list the table's columns");
        let Some(columns) = columns[0].get::<_, Option<String>>(0) else { continue };
        let sql = format!("SELECT {columns} FROM \"{schema}\".\"{}\" t", table.replace('"', "\"\""));
        let mut rows: Vec<String> =
            client.query(&sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).iter().map(|r| r.get::<_, String>(0)).collect();
        rows.sort();
        for row in rows {
            out.push_str(&format!("{table}: ({row})\n"));
        }
    }
    out
}

/// A dump's lines without modreg's bookkeeping rows (`_modreg_jobs`, `_modreg_modules`),
/// which record the jobs themselves, and with the enabled state and flags it keeps but
/// not when they were written (a restore writes them anew): what must be as before after
/// an undo or a restore.
pub fn content(dump: &str) -> Vec<String> {
    dump.lines()
        .filter(|l| !l.starts_with("_modreg_jobs:") && !l.starts_with("_modreg_modules:"))
        .map(|l| match l.rsplit_once(", '") {
            Some((values, _time)) if l.starts_with("_modreg_enabled:") || l.starts_with("_modreg_flags:") => format!("{values})"),
            _ => l.to_string(),
        })
        .collect()
}

/// Writes a module folder: manifest, migrations, seeds and hooks.
pub struct ModuleBuilder<'a> {
    dir: PathBuf,
    name: String,
    version: String,
    body: String,
    deps: Vec<(String, String)>,
    optional: Vec<(String, String)>,
    features: Vec<(String, bool)>,
    hooks: Vec<(String, String)>,
    /// `[hooks] writes_tenant_db`, as written.
    writes_tenant_db: Option<String>,
    migrations: Vec<(String, String)>,
    seeds: Vec<(String, String)>,
    /// PostgreSQL texts that differ from the SQLite ones: path in the module, SQL.
    pg_sql: Vec<(String, String)>,
    _world: &'a World,
}

impl ModuleBuilder<'_> {
    pub fn dep(mut self, name: &str, req: &str) -> Self {
        self.deps.push((name.into(), req.into()));
        self
    }

    pub fn optional(mut self, name: &str, req: &str) -> Self {
        self.optional.push((name.into(), req.into()));
        self
    }

    pub fn flag(mut self, name: &str, value: bool) -> Self {
        self.features.push((name.into(), value));
        self
    }

    /// `name` without `.sql`, e.g. `V1__init`.
    pub fn migration(mut self, name: &str, sql: &str) -> Self {
        self.migrations.push((name.into(), sql.into()));
        self
    }

    pub fn seed(mut self, file: &str, sql: &str) -> Self {
        self.seeds.push((file.into(), sql.into()));
        self
    }

    /// The PostgreSQL text of migration `name`, where what [`ModuleBuilder::migration`]
    /// gave is SQLite's alone (written only when the world's tenants are PostgreSQL
    /// schemas; otherwise the migration's text serves both engines).
    pub fn migration_pg(mut self, name: &str, sql: &str) -> Self {
        self.pg_sql.push((format!("migrations/postgres/{name}.sql"), sql.into()));
        self
    }

    /// A POSIX sh hook: `kind` as in the manifest (`post_install`), `script` its body.
    pub fn hook(mut self, kind: &str, script: &str) -> Self {
        self.hooks.push((kind.into(), script.into()));
        self
    }

    /// `[hooks] writes_tenant_db = [kinds…]`: the hooks that write the tenant database.
    pub fn writes_tenant_db(mut self, kinds: &[&str]) -> Self {
        let quoted: Vec<String> = kinds.iter().map(|k| format!("\"{k}\"")).collect();
        self.writes_tenant_db = Some(format!("[{}]", quoted.join(", ")));
        self
    }

    /// Extra lines for the `[module]` table, or whole extra tables.
    pub fn toml(mut self, text: &str) -> Self {
        self.body.push_str(text);
        self.body.push('\n');
        self
    }

    pub fn subscription(self) -> Self {
        self.toml("requires_subscription = true")
    }

    pub fn write(self) -> PathBuf {
        std::fs::create_dir_all(&self.dir).unwrap();
        let mut text =
            format!("[module]\nname = \"{}\"\nversion = \"{}\"\ndescription = \"{} for tests\"\n", self.name, self.version, self.name);
        let (module_lines, tables): (Vec<&str>, Vec<&str>) = {
            let mut in_table = false;
            let mut module_lines = Vec::new();
            let mut tables = Vec::new();
            for line in self.body.lines() {
                if line.trim_start().starts_with('[') {
                    in_table = true;
                }
                if in_table { tables.push(line) } else { module_lines.push(line) }
            }
            (module_lines, tables)
        };
        for line in module_lines {
            text.push_str(line);
            text.push('\n');
        }
        let table = |title: &str, rows: &[(String, String)], text: &mut String| {
            if !rows.is_empty() {
                text.push_str(&format!("[{title}]\n"));
                for (k, v) in rows {
                    text.push_str(&format!("{k} = \"{v}\"\n"));
                }
            }
        };
        table("dependencies", &self.deps, &mut text);
        table("optional-dependencies", &self.optional, &mut text);
        if !self.features.is_empty() {
            text.push_str("[features]\n");
            for (k, v) in &self.features {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        let hook_rows: Vec<(String, String)> = self.hooks.iter().map(|(kind, _)| (kind.clone(), format!("hooks/{kind}.sh"))).collect();
        table("hooks", &hook_rows, &mut text);
        if let Some(list) = &self.writes_tenant_db {
            if hook_rows.is_empty() {
                text.push_str("[hooks]\n");
            }
            text.push_str(&format!("writes_tenant_db = {list}\n"));
        }
        for line in tables {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(self.dir.join("module.toml"), text).unwrap();
        let engines: &[&str] = if both_engines() { &["", "postgres"] } else { &[""] };
        for engine in engines {
            for (name, sql) in &self.migrations {
                let path = self.dir.join("migrations").join(engine).join(format!("{name}.sql"));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, sql).unwrap();
            }
            for (name, sql) in &self.seeds {
                let path = self.dir.join("seeds").join(engine).join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, sql).unwrap();
            }
        }
        if both_engines() {
            for (path, sql) in &self.pg_sql {
                let path = self.dir.join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, sql).unwrap();
            }
        }
        for (kind, script) in &self.hooks {
            let path = self.dir.join("hooks").join(format!("{kind}.sh"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, format!("#!/bin/sh\nset -eu\n{script}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        self.dir
    }
}

/// How long a test waits for another process to reach a point before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// Runs `f` (which blocks) on a thread, and fails the test if it takes longer than
/// `PATIENCE`: bounded waits on pipes, without sleeping or polling.
fn within_patience<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(PATIENCE).unwrap_or_else(|_| panic!("{what}: nothing after {PATIENCE:?}"))
}

/// A named pipe: a hook writes to it and the test reads, or the other way round, so
/// each side waits for the other without sleeping or polling.
pub fn fifo(path: &Path) -> PathBuf {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("a path without NUL");
    // SAFETY: mkfifo only reads the NUL-terminated path it is given.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
    path.to_path_buf()
}

/// Reads what a writer writes to a named pipe, up to its close.
pub fn read_fifo(path: &Path) -> String {
    let owned = path.to_path_buf();
    within_patience(&format!("reading {}", path.display()), move || std::fs::read_to_string(owned).expect("read the pipe"))
}

/// Writes to a named pipe once a reader has it open.
pub fn write_fifo(path: &Path, text: &str) {
    let (owned, text) = (path.to_path_buf(), text.to_string());
    within_patience(&format!("writing {}", path.display()), move || std::fs::write(owned, text).expect("write the pipe"));
}

/// Sends `signal` (`libc::SIGINT`…) to a spawned run.
pub fn signal(child: &std::process::Child, signal: libc::c_int) {
    // SAFETY: kill(2) takes a pid and a signal number.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0, "kill {}", child.id());
}

/// Whether process `pid` (not a child of this one) ends, or has ended, within `timeout`:
/// waits on a pidfd, which is readable once the process is gone (a zombie counts).
pub fn ends_within(pid: libc::pid_t, timeout: Duration) -> bool {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
    if fd < 0 {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd; the descriptor is ours to close.
    let ready = unsafe { libc::poll(&mut poll, 1, timeout.as_millis() as libc::c_int) };
    unsafe { libc::close(fd) };
    ready == 1
}

/// How a spawned run ended: its exit code, its stdout, and its stderr (what `stderr`
/// had seen, and the rest up to its end). Run with `--json` when `json`.
pub fn finished(child: std::process::Child, mut stderr: Stderr, json: bool) -> Run {
    let output = within_patience("waiting for modreg to exit", move || child.wait_with_output().expect("wait for modreg"));
    loop {
        match stderr.lines.recv_timeout(PATIENCE) {
            Ok(line) => stderr.seen.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("stderr did not end; saw:\n{}", stderr.seen.join("\n")),
        }
    }
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: stderr.seen.iter().map(|l| format!("{l}\n")).collect(),
        json,
    }
}

/// A child's stderr, read line by line as it comes.
pub struct Stderr {
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Stderr {
    /// Takes the child's piped stderr; it is read to its end on a thread of its own
    /// (also after this is dropped, so that the child never writes to a closed pipe).
    pub fn of(child: &mut std::process::Child) -> Stderr {
        let pipe = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Stderr { lines: rx, seen: Vec::new() }
    }

    /// Waits for a line that contains `needle` (the child says where it is).
    pub fn wait_for(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {needle:?} on stderr; saw:\n{}", self.seen.join("\n")),
            }
        }
    }
}

/// The `type` of each event, in order.
pub fn event_types(events: &[Json]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap().to_string()).collect()
}

/// A running `modreg serve` ([`World::serve`]).
pub struct Server {
    pub addr: std::net::SocketAddr,
    child: Option<std::process::Child>,
    stderr: Option<Stderr>,
}

impl Server {
    /// The URL of `path` (`/v1/tenants`) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends `number` (`libc::SIGTERM`…) to the server.
    pub fn signal(&self, number: libc::c_int) {
        signal(self.child.as_ref().expect("running"), number);
    }

    /// Waits for the server to end (after [`Server::signal`]): how it ended.
    pub fn finish(mut self) -> Run {
        let (child, stderr) = (self.child.take().expect("running"), self.stderr.take().expect("its stderr"));
        finished(child, stderr, false)
    }

    /// Sends `number` and waits for the server to end: how it ended.
    pub fn stop(self, number: libc::c_int) -> Run {
        self.signal(number);
        self.finish()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A test that failed half-way: let it stop as asked, but not for long.
            signal(&child, libc::SIGTERM);
            if !ends_within(child.id() as libc::pid_t, Duration::from_secs(10)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}
