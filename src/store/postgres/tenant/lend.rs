//! A hook's connection inside the job's transaction: while a hook runs, modreg lends it
//! the transaction's session through a PostgreSQL endpoint of its own on 127.0.0.1 (a
//! port and password for that hook alone), which speaks the simple query protocol (what
//! `psql` and psycopg2 use) and runs each statement in the open transaction. So a hook
//! sees the job's work before it commits, and what it writes commits or rolls back with
//! the job: no checkpoint of the schema is needed.
//!
//! The hook's view is an ordinary session in autocommit: each statement is its own, in a
//! savepoint, so that a failing one leaves the job's transaction usable and the hook
//! decides (a hook that fails fails the job); `BEGIN`, `COMMIT` and `ROLLBACK` are a
//! savepoint of the hook's, never the job's. A hook that may not write the tenant
//! database (not in `writes_tenant_db`) runs each statement read-only, rolled back after.
//! Values come back as text (type `text`), with PostgreSQL's own errors; the extended
//! query protocol (parameters bound by the driver), `COPY` and two-phase commit are
//! refused with an error that says so.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use postgres::error::ErrorPosition;
use postgres::{NoTls, SimpleQueryMessage};

use super::ident;
use crate::domain::statements::{code_start, statements};
use crate::domain::{Error, Result};
use crate::store::postgres::pool;
use crate::store::{HookOutcome, HookStatus};

/// How often a waiting session looks whether the hook is done.
const POLL: Duration = Duration::from_millis(20);

/// The savepoints modreg keeps around the hook's statements; a statement naming them is
/// refused.
const STATEMENT: &str = "_modreg_hook_statement";
const BLOCK: &str = "_modreg_hook_block";

/// What every session of one lending shares.
struct Lent<'a> {
    conn: Mutex<&'a mut pool::Connection>,
    password: String,
    writes: bool,
    /// What a session is told of the server (`ParameterStatus`).
    parameters: Vec<(String, String)>,
    /// The key a cancel request names (`BackendKeyData`).
    key: (i32, i32),
    cancel: postgres::CancelToken,
    done: AtomicBool,
    busy: AtomicBool,
}

/// Runs `run` (the hook) with the variables that lend it `conn`'s open transaction on
/// tenant schema `schema`: `MODREG_TENANT_URL`, `MODREG_TENANT_SCHEMA`. Afterwards, what
/// the hook may have changed of the session for the rest of the job (settings, its role,
/// cursors, `LISTEN`) is reset; its prepared statements and temporary tables go when the
/// caller discards the session.
pub(super) fn lend(
    conn: &mut pool::Connection,
    schema: &str,
    writes: bool,
    run: &mut dyn FnMut(Vec<(String, String)>) -> HookOutcome,
) -> Result<HookOutcome> {
    let io = cannot_lend::<std::io::Error>;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io)?;
    listener.set_nonblocking(true).map_err(io)?;
    let port = listener.local_addr().map_err(io)?.port();
    let secret = random(24).map_err(io)?;
    let password: String = secret[..16].iter().map(|b| format!("{b:02x}")).collect();
    let number = |at: usize| i32::from_be_bytes([secret[at], secret[at + 1], secret[at + 2], secret[at + 3]]) & i32::MAX;
    let key = (number(16), number(20));
    let db = cannot_lend::<postgres::Error>;
    let row = conn
        .client()
        .query_one(
            "SELECT current_user::text, current_database()::text, current_setting('server_version'), current_setting('TimeZone'),
                    current_setting('DateStyle'), current_setting('IntervalStyle')",
            &[],
        )
        .map_err(db)?;
    let (user, database): (String, String) = (row.get(0), row.get(1));
    let mut parameters: Vec<(String, String)> =
        [("server_version", row.get::<_, String>(2)), ("TimeZone", row.get(3)), ("DateStyle", row.get(4)), ("IntervalStyle", row.get(5))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    for (name, value) in [
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("integer_datetimes", "on"),
        ("standard_conforming_strings", "on"),
        ("application_name", ""),
    ] {
        parameters.push((name.to_string(), value.to_string()));
    }
    parameters.push(("session_authorization".to_string(), user.clone()));
    conn.client().batch_execute(&format!("SET LOCAL search_path = {}", ident(schema))).map_err(db)?;
    let cancel = conn.client().cancel_token();
    let lent = Lent {
        conn: Mutex::new(conn),
        password: password.clone(),
        writes,
        parameters,
        key,
        cancel,
        done: AtomicBool::new(false),
        busy: AtomicBool::new(false),
    };
    let url = format!("postgres://{}:{password}@127.0.0.1:{port}/{}?sslmode=disable", encode(&user), encode(&database));
    let env = vec![("MODREG_TENANT_URL".to_string(), url), ("MODREG_TENANT_SCHEMA".to_string(), schema.to_string())];
    let outcome = std::thread::scope(|scope| {
        let lent = &lent;
        let listener = &listener;
        scope.spawn(move || {
            while !lent.done.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        scope.spawn(move || serve(stream, lent));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(2)),
                    Err(_) => std::thread::sleep(POLL),
                }
            }
        });
        let outcome = run(env);
        lent.done.store(true, Ordering::Release);
        // A statement the hook left running (it was killed) is stopped.
        if lent.busy.load(Ordering::Acquire) {
            let _ = lent.cancel.cancel_query(NoTls);
        }
        outcome
    });
    let conn = lent.conn.into_inner().unwrap_or_else(|p| p.into_inner());
    const RESET: &str = "RESET ALL; RESET ROLE; RESET SESSION AUTHORIZATION; CLOSE ALL; UNLISTEN *";
    let mut reset = conn.client().batch_execute(RESET);
    if reset.is_err() {
        // A statement of the hook's was stopped mid-way (the hook was killed): its
        // savepoint goes, and the transaction is usable again.
        for savepoint in [STATEMENT, BLOCK] {
            if conn.client().batch_execute(&format!("ROLLBACK TO SAVEPOINT {savepoint}; RELEASE SAVEPOINT {savepoint}")).is_ok() {
                break;
            }
        }
        reset = conn.client().batch_execute(RESET);
    }
    match reset {
        Ok(()) => Ok(outcome),
        // The job fails for the hook's own reason, and rolls back.
        Err(_) if outcome.status != HookStatus::Succeeded => Ok(outcome),
        Err(e) => Err(Error::failed(format!("the hook left the job's transaction unusable: {}", super::message(&e)))),
    }
}

fn cannot_lend<E: std::fmt::Display>(e: E) -> Error {
    Error::storage(format!("cannot lend the transaction to the hook: {e}"))
}

/// `n` random bytes.
fn random(n: usize) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// `text` for a URL's user or path: what is not unreserved, percent-encoded.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One connection of the hook's, on its own thread, until the hook closes it or is done.
fn serve(stream: TcpStream, lent: &Lent<'_>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_nodelay(true);
    let mut wire = Wire { stream, out: Vec::new(), done: &lent.done };
    let _ = session(&mut wire, lent);
    let _ = wire.flush();
    let _ = wire.stream.shutdown(Shutdown::Both);
}

/// The hook's transaction block, as it sees it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Open,
    /// A statement in it failed: the rest is refused until its end.
    Failed,
}

impl Block {
    /// An error, as PostgreSQL has it: an open block fails with it; outside one, nothing stays.
    fn fail(&mut self) {
        if *self == Block::Open {
            *self = Block::Failed;
        }
    }

    fn status(self) -> u8 {
        match self {
            Block::None => b'I',
            Block::Open => b'T',
            Block::Failed => b'E',
        }
    }
}

fn session(wire: &mut Wire<'_>, lent: &Lent<'_>) -> std::io::Result<()> {
    // The startup: encryption refused (the connection is local), or a cancel request.
    loop {
        let packet = wire.startup()?;
        let code = packet.get(..4).map_or(0, |c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        match code {
            80_877_103 | 80_877_104 => {
                wire.out.push(b'N');
                wire.flush()?;
            }
            80_877_102 => {
                let at = |i: usize| packet.get(i..i + 4).map_or(0, |c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                if (at(4), at(8)) == lent.key && lent.busy.load(Ordering::Acquire) {
                    let _ = lent.cancel.cancel_query(NoTls);
                }
                return Ok(());
            }
            196_608 => break,
            _ => {
                wire.error("08P01", "modreg's hook connection speaks protocol 3.0 only", None)?;
                return Ok(());
            }
        }
    }
    wire.send(b'R', &3i32.to_be_bytes())?;
    let (tag, body) = wire.message()?;
    let given = body.strip_suffix(&[0]).unwrap_or(&body);
    if tag != b'p' || given != lent.password.as_bytes() {
        wire.error("28P01", "password authentication failed for modreg's hook connection", None)?;
        return Ok(());
    }
    wire.send(b'R', &0i32.to_be_bytes())?;
    for (name, value) in &lent.parameters {
        wire.send(b'S', &[name.as_bytes(), &[0], value.as_bytes(), &[0]].concat())?;
    }
    wire.send(b'K', &[lent.key.0.to_be_bytes(), lent.key.1.to_be_bytes()].concat())?;
    let mut block = Block::None;
    wire.send(b'Z', &[block.status()])?;
    let mut skipping = false;
    loop {
        let (tag, body) = wire.message()?;
        match tag {
            b'Q' => {
                let sql = String::from_utf8_lossy(body.strip_suffix(&[0]).unwrap_or(&body)).into_owned();
                query(wire, lent, &sql, &mut block)?;
                wire.send(b'Z', &[block.status()])?;
            }
            b'X' => return Ok(()),
            b'S' => {
                skipping = false;
                wire.send(b'Z', &[block.status()])?;
            }
            b'P' | b'B' | b'D' | b'E' | b'C' | b'H' | b'F' => {
                if !skipping {
                    skipping = true;
                    block.fail();
                    wire.error(
                        "0A000",
                        "modreg's hook connection speaks the simple query protocol only: the driver bound parameters \
                         (the extended protocol)",
                        Some("send SQL as text, with the values in it: psql, or psycopg2's `execute`"),
                    )?;
                }
            }
            _ => {
                wire.error("08P01", &format!("unexpected message `{}` on modreg's hook connection", tag as char), None)?;
                return Ok(());
            }
        }
    }
}

/// What a statement is, for the hook's transaction block.
#[derive(PartialEq, Eq)]
enum Kind {
    Begin,
    Commit,
    Rollback,
    Refused(&'static str),
    Other,
}

fn kind(statement: &str) -> Kind {
    let statement = &statement[code_start(statement)..];
    let words: Vec<String> =
        statement.split(|c: char| c.is_whitespace() || c == ';').filter(|w| !w.is_empty()).take(2).map(str::to_lowercase).collect();
    let first = words.first().map_or("", String::as_str);
    let second = words.get(1).map_or("", String::as_str);
    match (first, second) {
        ("prepare", "transaction") | ("commit" | "rollback", "prepared") => Kind::Refused("two-phase commit"),
        ("begin" | "start", _) => Kind::Begin,
        ("commit" | "end", _) => Kind::Commit,
        ("rollback" | "abort", "to") => Kind::Other,
        ("rollback" | "abort", _) => Kind::Rollback,
        // The job's own prepared statements live in the same session.
        ("deallocate" | "discard", _) => Kind::Refused("`DEALLOCATE` and `DISCARD`"),
        ("copy", _) if statement.to_lowercase().contains("stdin") || statement.to_lowercase().contains("stdout") => {
            Kind::Refused("`COPY` from or to the client")
        }
        _ => Kind::Other,
    }
}

/// The command tag of `statement`, which answered `rows` rows (or changed them).
fn command_tag(statement: &str, rows: u64, returned_rows: bool) -> String {
    let statement = &statement[code_start(statement)..];
    let words: Vec<String> = statement.split_whitespace().take(4).map(|w| w.trim_end_matches(';').to_uppercase()).collect();
    let first = words.first().map_or("", String::as_str);
    match first {
        "INSERT" => format!("INSERT 0 {rows}"),
        "UPDATE" | "DELETE" | "MERGE" | "FETCH" | "MOVE" | "COPY" => format!("{first} {rows}"),
        "SELECT" | "VALUES" | "TABLE" | "WITH" | "SHOW" if returned_rows || first != "WITH" => {
            if first == "SHOW" {
                "SHOW".to_string()
            } else {
                format!("SELECT {rows}")
            }
        }
        "CREATE" | "ALTER" | "DROP" => {
            let object: Vec<&str> = words[1..]
                .iter()
                .map(String::as_str)
                .filter(|w| !matches!(*w, "OR" | "REPLACE" | "UNIQUE" | "TEMP" | "TEMPORARY" | "UNLOGGED" | "IF" | "NOT" | "EXISTS"))
                .take(1)
                .collect();
            match object.first() {
                Some(&"MATERIALIZED") => format!("{first} MATERIALIZED VIEW"),
                Some(object) => format!("{first} {object}"),
                None => first.to_string(),
            }
        }
        _ => first.to_string(),
    }
}

/// Runs the statements of one `Query` message, answering each.
fn query(wire: &mut Wire<'_>, lent: &Lent<'_>, sql: &str, block: &mut Block) -> std::io::Result<()> {
    let parts = statements(sql);
    if parts.is_empty() {
        return wire.send(b'I', &[]);
    }
    let read_only = if lent.writes { "" } else { "SET LOCAL transaction_read_only = on;" };
    for (offset, statement) in parts {
        if statement.contains("_modreg_hook_") {
            block.fail();
            return wire.error("42501", "a hook may not name modreg's own savepoints", None);
        }
        let kind = kind(statement);
        let (before, after, on_error) = match (&kind, *block) {
            (Kind::Refused(_) | Kind::Other, Block::Failed) => {
                return wire.error("25P02", "current transaction is aborted, commands ignored until end of transaction block", None);
            }
            (Kind::Refused(what), _) => {
                // Refused as PostgreSQL refuses a statement: the hook's block fails with it.
                block.fail();
                return wire.error("0A000", &format!("{what} is not available on modreg's hook connection"), None);
            }
            (Kind::Begin, Block::None) => {
                run(lent, &format!("SAVEPOINT {BLOCK}; {read_only}")).map_err(|_| broken())?;
                *block = Block::Open;
                wire.send(b'C', b"BEGIN\0")?;
                continue;
            }
            (Kind::Begin, _) => {
                wire.send(b'C', b"BEGIN\0")?;
                continue;
            }
            (Kind::Commit | Kind::Rollback, Block::None) => {
                wire.send(b'C', if kind == Kind::Commit { b"COMMIT\0" } else { b"ROLLBACK\0" })?;
                continue;
            }
            (end @ (Kind::Commit | Kind::Rollback), open) => {
                // A hook's block that may not write is rolled back whatever it says.
                let keep = *end == Kind::Commit && open == Block::Open && lent.writes;
                let sql = if keep {
                    format!("RELEASE SAVEPOINT {BLOCK}")
                } else {
                    format!("ROLLBACK TO SAVEPOINT {BLOCK}; RELEASE SAVEPOINT {BLOCK}")
                };
                run(lent, &sql).map_err(|_| broken())?;
                *block = Block::None;
                wire.send(b'C', if *end == Kind::Commit && open == Block::Open { b"COMMIT\0" } else { b"ROLLBACK\0" })?;
                continue;
            }
            (Kind::Other, Block::Open) => (String::new(), String::new(), format!("ROLLBACK TO SAVEPOINT {BLOCK}")),
            (Kind::Other, Block::None) => (
                format!("SAVEPOINT {STATEMENT}; {read_only}"),
                if lent.writes {
                    format!("RELEASE SAVEPOINT {STATEMENT}")
                } else {
                    format!("ROLLBACK TO SAVEPOINT {STATEMENT}; RELEASE SAVEPOINT {STATEMENT}")
                },
                format!("ROLLBACK TO SAVEPOINT {STATEMENT}; RELEASE SAVEPOINT {STATEMENT}"),
            ),
        };
        let ours_before = before.matches(';').count();
        // On a line of its own: the statement may end in a comment.
        let text = format!("{before}{statement}\n;{after}");
        match run(lent, &text) {
            Ok(messages) => answer(wire, statement, &messages, ours_before)?,
            Err(Failure::Db(e)) => {
                run(lent, &on_error).map_err(|_| broken())?;
                block.fail();
                let position = match e.as_db_error().and_then(|d| d.position()) {
                    Some(ErrorPosition::Original(at)) => {
                        let within = (*at as usize).saturating_sub(before.chars().count());
                        Some(sql[..offset].chars().count() + within)
                    }
                    _ => None,
                };
                return wire.db_error(&e, position);
            }
            Err(Failure::Broken) => return Err(broken()),
        }
    }
    Ok(())
}

fn broken() -> std::io::Error {
    std::io::Error::other("the job's connection broke")
}

enum Failure {
    Db(postgres::Error),
    Broken,
}

/// Runs `sql` on the lent connection.
fn run(lent: &Lent<'_>, sql: &str) -> std::result::Result<Vec<SimpleQueryMessage>, Failure> {
    if sql.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = lent.conn.lock().unwrap_or_else(|p| p.into_inner());
    if lent.done.load(Ordering::Acquire) {
        return Err(Failure::Broken);
    }
    lent.busy.store(true, Ordering::Release);
    let result = conn.client().simple_query(sql);
    lent.busy.store(false, Ordering::Release);
    match result {
        Ok(messages) => Ok(messages),
        Err(e) if e.as_db_error().is_some() => Err(Failure::Db(e)),
        Err(_) => Err(Failure::Broken),
    }
}

/// Answers the hook's `statement` from `messages`, leaving out those of modreg's own
/// statements around it (`skip` before it, the rest after).
fn answer(wire: &mut Wire<'_>, statement: &str, messages: &[SimpleQueryMessage], skip: usize) -> std::io::Result<()> {
    let mut ends = 0;
    let mut returned_rows = false;
    let mut rows = 0u64;
    for message in messages {
        if ends < skip {
            if matches!(message, SimpleQueryMessage::CommandComplete(_)) {
                ends += 1;
            }
            continue;
        }
        match message {
            SimpleQueryMessage::RowDescription(columns) => {
                returned_rows = true;
                let mut body = (columns.len() as i16).to_be_bytes().to_vec();
                for column in columns.iter() {
                    body.extend_from_slice(column.name().as_bytes());
                    body.push(0);
                    body.extend_from_slice(&0i32.to_be_bytes());
                    body.extend_from_slice(&0i16.to_be_bytes());
                    body.extend_from_slice(&25i32.to_be_bytes());
                    body.extend_from_slice(&(-1i16).to_be_bytes());
                    body.extend_from_slice(&(-1i32).to_be_bytes());
                    body.extend_from_slice(&0i16.to_be_bytes());
                }
                wire.send(b'T', &body)?;
            }
            SimpleQueryMessage::Row(row) => {
                let mut body = (row.len() as i16).to_be_bytes().to_vec();
                for i in 0..row.len() {
                    match row.get(i) {
                        Some(value) => {
                            body.extend_from_slice(&(value.len() as i32).to_be_bytes());
                            body.extend_from_slice(value.as_bytes());
                        }
                        None => body.extend_from_slice(&(-1i32).to_be_bytes()),
                    }
                }
                wire.send(b'D', &body)?;
            }
            SimpleQueryMessage::CommandComplete(count) => {
                rows = *count;
                break;
            }
            _ => {}
        }
    }
    let tag = command_tag(statement, rows, returned_rows);
    wire.send(b'C', &[tag.as_bytes(), &[0]].concat())
}

/// The hook's side of one connection: what is sent waits in `out` until modreg waits for
/// the hook's next message, so that an answer goes in one write.
struct Wire<'a> {
    stream: TcpStream,
    out: Vec<u8>,
    done: &'a AtomicBool,
}

impl Wire<'_> {
    fn flush(&mut self) -> std::io::Result<()> {
        let out = std::mem::take(&mut self.out);
        self.stream.write_all(&out)
    }

    /// Fills `buffer`, waiting as long as the hook runs.
    fn fill(&mut self, buffer: &mut [u8]) -> std::io::Result<()> {
        self.flush()?;
        let mut at = 0;
        while at < buffer.len() {
            match self.stream.read(&mut buffer[at..]) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => at += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    if self.done.load(Ordering::Acquire) {
                        return Err(ErrorKind::ConnectionAborted.into());
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn length(&mut self) -> std::io::Result<usize> {
        let mut length = [0u8; 4];
        self.fill(&mut length)?;
        let length = i32::from_be_bytes(length);
        if !(4..=64 * 1024 * 1024).contains(&length) {
            return Err(ErrorKind::InvalidData.into());
        }
        Ok(length as usize - 4)
    }

    /// A startup packet (without its length): its code, then its body.
    fn startup(&mut self) -> std::io::Result<Vec<u8>> {
        let length = self.length()?;
        let mut body = vec![0; length];
        self.fill(&mut body)?;
        Ok(body)
    }

    fn message(&mut self) -> std::io::Result<(u8, Vec<u8>)> {
        let mut tag = [0u8; 1];
        self.fill(&mut tag)?;
        let length = self.length()?;
        let mut body = vec![0; length];
        self.fill(&mut body)?;
        Ok((tag[0], body))
    }

    fn send(&mut self, tag: u8, body: &[u8]) -> std::io::Result<()> {
        self.out.push(tag);
        self.out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        self.out.extend_from_slice(body);
        Ok(())
    }

    fn error(&mut self, code: &str, message: &str, hint: Option<&str>) -> std::io::Result<()> {
        let mut fields = vec![(b'S', "ERROR"), (b'V', "ERROR"), (b'C', code), (b'M', message)];
        if let Some(hint) = hint {
            fields.push((b'H', hint));
        }
        self.fields(&fields)
    }

    fn db_error(&mut self, e: &postgres::Error, position: Option<usize>) -> std::io::Result<()> {
        let Some(db) = e.as_db_error() else { return self.error("08006", &e.to_string(), None) };
        let position = position.map(|p| p.to_string());
        let mut fields = vec![(b'S', db.severity()), (b'V', db.severity()), (b'C', db.code().code()), (b'M', db.message())];
        for (tag, value) in [(b'D', db.detail()), (b'H', db.hint()), (b'P', position.as_deref())] {
            if let Some(value) = value {
                fields.push((tag, value));
            }
        }
        self.fields(&fields)
    }

    fn fields(&mut self, fields: &[(u8, &str)]) -> std::io::Result<()> {
        let mut body = Vec::new();
        for (tag, value) in fields {
            body.push(*tag);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        self.send(b'E', &body)
    }
}

#[cfg(test)]
mod tests {
    use super::{Kind, command_tag, encode, kind};

    #[test]
    fn transaction_control_is_told_apart_from_savepoints_and_two_phase_commit() {
        assert!(kind("BEGIN") == Kind::Begin && kind("start transaction read write") == Kind::Begin);
        assert!(kind("COMMIT") == Kind::Commit && kind("end work;") == Kind::Commit);
        assert!(kind("rollback") == Kind::Rollback && kind("ABORT") == Kind::Rollback);
        assert!(kind("ROLLBACK TO SAVEPOINT a") == Kind::Other && kind("savepoint a") == Kind::Other);
        assert!(matches!(kind("PREPARE TRANSACTION 'x'"), Kind::Refused(_)) && matches!(kind("commit prepared 'x'"), Kind::Refused(_)));
        assert!(matches!(kind("COPY t FROM STDIN"), Kind::Refused(_)) && kind("COPY t FROM '/x'") == Kind::Other);
        assert!(kind("INSERT INTO t VALUES (1)") == Kind::Other && kind("-- a note\nCOMMIT") == Kind::Commit);
        assert!(matches!(kind("DEALLOCATE ALL"), Kind::Refused(_)) && matches!(kind("discard all"), Kind::Refused(_)));
    }

    #[test]
    fn command_tags_are_postgresqls() {
        assert_eq!(command_tag("insert into t values (1), (2)", 2, false), "INSERT 0 2");
        assert_eq!(command_tag("UPDATE t SET x = 1", 3, false), "UPDATE 3");
        assert_eq!(command_tag("select 1", 1, true), "SELECT 1");
        assert_eq!(command_tag("CREATE OR REPLACE VIEW v AS SELECT 1", 0, false), "CREATE VIEW");
        assert_eq!(command_tag("create unique index i on t (x)", 0, false), "CREATE INDEX");
        assert_eq!(command_tag("DROP TABLE IF EXISTS t", 0, false), "DROP TABLE");
        assert_eq!(command_tag("create materialized view m as select 1", 0, false), "CREATE MATERIALIZED VIEW");
        assert_eq!(command_tag("vacuum", 0, false), "VACUUM");
    }

    #[test]
    fn a_urls_user_and_database_are_percent_encoded() {
        assert_eq!(encode("app_db-1"), "app_db-1");
        assert_eq!(encode("a b@c/d"), "a%20b%40c%2Fd");
    }
}
