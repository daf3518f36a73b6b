//! What a tenant file holds, read from `sqlite_schema` alone, and who owns it, from
//! `_modreg_objects`. Shared by the tenant database and the archives.
//!
//! Nothing here asks `pragma_table_list`: that pragma compiles every view in the file on
//! each call (SQLite needs their column counts), so a schema with dozens of views built
//! on each other made every listing cost as much as compiling all of them. Virtual
//! tables are told from their `CREATE VIRTUAL TABLE` text, their shadow tables by
//! SQLite's own rule, and whether a table has a rowid by preparing a statement on that
//! table alone.

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;

/// modreg's own tables in every tenant file: its modules, the objects each owns, the
/// jobs whose work committed, and what a landlord rebuilt from the file needs beyond
/// those: when the tenant was added (`_modreg_tenant`, key `created_at`), whether each
/// module is enabled and its flags. Later tables come last: `IF NOT EXISTS` adds them to
/// files an older modreg wrote.
pub(crate) const INTERNAL_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _modreg_modules (
    module       TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    checksum     TEXT NOT NULL,
    installed_at TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _modreg_objects (
    name     TEXT PRIMARY KEY COLLATE NOCASE,
    module   TEXT NOT NULL,
    type     TEXT NOT NULL,
    tbl_name TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _modreg_jobs (
    job_id INTEGER PRIMARY KEY,
    batch  TEXT NOT NULL,
    at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS _modreg_tenant (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _modreg_enabled (
    module     TEXT PRIMARY KEY,
    enabled    INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _modreg_flags (
    module     TEXT NOT NULL,
    flag       TEXT NOT NULL,
    value      INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (module, flag)
) WITHOUT ROWID;
";

/// The tables of [`INTERNAL_SCHEMA`]: a file without one of them was written by an
/// older modreg, and gets it when it is opened.
pub(crate) const INTERNAL_TABLES: [&str; 6] =
    ["_modreg_modules", "_modreg_objects", "_modreg_jobs", "_modreg_tenant", "_modreg_enabled", "_modreg_flags"];

/// What the name of every module's refinery history table starts with.
pub(crate) const HISTORY_PREFIX: &str = "_modreg_history_";

/// The name of a module's refinery history table.
pub(crate) fn history_table(module: &str) -> String {
    format!("{HISTORY_PREFIX}{module}")
}

/// Quotes an SQL identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal.
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// An object in `sqlite_schema`. `kind` is SQLite's type, except that tables are
/// `virtual` or `shadow` when they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaObject {
    pub name: String,
    pub kind: String,
    pub tbl_name: String,
    pub sql: Option<String>,
}

/// Every object of the main schema except SQLite's own, in creation order.
pub(crate) fn list(conn: &Connection) -> rusqlite::Result<Vec<SchemaObject>> {
    let mut objects: Vec<SchemaObject> = conn
        .prepare_cached("SELECT name, type, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid")?
        .query_map([], |r| Ok(SchemaObject { name: r.get(0)?, kind: r.get(1)?, tbl_name: r.get(2)?, sql: r.get(3)? }))?
        .collect::<rusqlite::Result<_>>()?;
    // Lowercase virtual table name to the module it uses.
    let mut virtual_tables: HashMap<String, String> = HashMap::new();
    for object in objects.iter_mut().filter(|o| o.kind == "table") {
        if let Some(module) = object.sql.as_deref().and_then(virtual_table_module) {
            object.kind = "virtual".into();
            virtual_tables.insert(object.name.to_lowercase(), module);
        }
    }
    if !virtual_tables.is_empty() {
        for object in objects.iter_mut().filter(|o| o.kind == "table") {
            if is_shadow(&object.name, &virtual_tables) {
                object.kind = "shadow".into();
            }
        }
    }
    Ok(objects)
}

/// SQLite's rule (`sqlite3ShadowTableName`): a table is a shadow table when the part of
/// its name before the last `_` names a virtual table whose module claims the part after
/// it. Module SQL can load no extension, so the modules are the ones built in.
fn is_shadow(name: &str, virtual_tables: &HashMap<String, String>) -> bool {
    let Some((owner, suffix)) = name.rsplit_once('_') else { return false };
    let Some(module) = virtual_tables.get(&owner.to_lowercase()) else { return false };
    shadow_suffixes(module).iter().any(|s| s.eq_ignore_ascii_case(suffix))
}

/// The shadow table suffixes of the virtual table modules the bundled SQLite has (each
/// module's `xShadowName`).
fn shadow_suffixes(module: &str) -> &'static [&'static str] {
    match module.to_ascii_lowercase().as_str() {
        "fts3" | "fts4" => &["content", "docsize", "segdir", "segments", "stat"],
        "fts5" => &["config", "content", "data", "docsize", "idx"],
        "rtree" | "rtree_i32" | "geopoly" => &["node", "parent", "rowid"],
        _ => &[],
    }
}

/// The module of a `CREATE VIRTUAL TABLE [IF NOT EXISTS] [schema.]name USING module…`
/// statement; `None` for anything else.
fn virtual_table_module(sql: &str) -> Option<String> {
    let mut tokens = Tokens { rest: sql };
    for keyword in ["create", "virtual", "table"] {
        if !tokens.next()?.eq_ignore_ascii_case(keyword) {
            return None;
        }
    }
    let token = tokens.after_name()?;
    if !token.eq_ignore_ascii_case("using") {
        return None;
    }
    let module = tokens.next()?;
    Some(module.trim_matches(|c| matches!(c, '"' | '`' | '[' | ']' | '\'')).to_string())
}

/// What fires a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TriggerEvent {
    Insert,
    Update,
    Delete,
}

/// The event of a `CREATE [TEMP] TRIGGER [IF NOT EXISTS] [schema.]name [BEFORE|AFTER|INSTEAD OF]
/// event …` statement; `None` for anything else.
fn trigger_event(sql: &str) -> Option<TriggerEvent> {
    let mut tokens = Tokens { rest: sql };
    if !tokens.next()?.eq_ignore_ascii_case("create") {
        return None;
    }
    let mut token = tokens.next()?;
    if token.eq_ignore_ascii_case("temp") || token.eq_ignore_ascii_case("temporary") {
        token = tokens.next()?;
    }
    if !token.eq_ignore_ascii_case("trigger") {
        return None;
    }
    let mut token = tokens.after_name()?;
    if token.eq_ignore_ascii_case("before") || token.eq_ignore_ascii_case("after") {
        token = tokens.next()?;
    } else if token.eq_ignore_ascii_case("instead") {
        if !tokens.next()?.eq_ignore_ascii_case("of") {
            return None;
        }
        token = tokens.next()?;
    }
    [("insert", TriggerEvent::Insert), ("update", TriggerEvent::Update), ("delete", TriggerEvent::Delete)]
        .into_iter()
        .find(|(keyword, _)| token.eq_ignore_ascii_case(keyword))
        .map(|(_, event)| event)
}

/// Statements that would fire a trigger, to be compiled and never run.
pub(crate) struct TriggerProbes {
    pub statements: Vec<String>,
    /// The statement is for the trigger's own event, so it must compile; otherwise there
    /// is one for each event, and only some of them may.
    pub exact: bool,
}

/// What fires `trigger` (an object of kind `trigger`): an insert, an update that sets
/// every column that can be set (so that `UPDATE OF` any of them fires) or a delete on
/// its table or view; all three when its text does not say which.
pub(crate) fn trigger_probes(conn: &Connection, trigger: &SchemaObject) -> rusqlite::Result<TriggerProbes> {
    let table = quote(&trigger.tbl_name);
    let event = trigger.sql.as_deref().and_then(trigger_event);
    let events = match event {
        Some(event) => vec![event],
        None => vec![TriggerEvent::Insert, TriggerEvent::Update, TriggerEvent::Delete],
    };
    let mut statements = Vec::new();
    for event in events {
        match event {
            TriggerEvent::Insert => statements.push(format!("INSERT INTO main.{table} DEFAULT VALUES")),
            TriggerEvent::Delete => statements.push(format!("DELETE FROM main.{table}")),
            TriggerEvent::Update => {
                // `hidden`: 0 for an ordinary column, 2 and 3 for generated ones.
                let columns: Vec<String> = conn
                    .prepare(&format!("PRAGMA main.table_xinfo({table})"))?
                    .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(6)?)))?
                    .filter_map(|column| match column {
                        Ok((name, 0)) => Some(Ok(format!("{0} = {0}", quote(&name)))),
                        Ok(_) => None,
                        Err(e) => Some(Err(e)),
                    })
                    .collect::<rusqlite::Result<_>>()?;
                if !columns.is_empty() {
                    statements.push(format!("UPDATE main.{table} SET {}", columns.join(", ")));
                }
            }
        }
    }
    Ok(TriggerProbes { statements, exact: event.is_some() })
}

/// Just enough of SQLite's tokenizer for the head of a CREATE statement: words, quoted
/// names, single punctuation; whitespace and comments skipped.
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    /// Skips `[IF NOT EXISTS] [schema.]name` of a CREATE statement and gives the token
    /// after it.
    fn after_name(&mut self) -> Option<&'a str> {
        let mut token = self.next()?;
        if token.eq_ignore_ascii_case("if") {
            for keyword in ["not", "exists"] {
                if !self.next()?.eq_ignore_ascii_case(keyword) {
                    return None;
                }
            }
            token = self.next()?;
        }
        let _name = token;
        let mut token = self.next()?;
        if token == "." {
            self.next()?;
            token = self.next()?;
        }
        Some(token)
    }

    fn next(&mut self) -> Option<&'a str> {
        loop {
            self.rest = self.rest.trim_start();
            if let Some(tail) = self.rest.strip_prefix("--") {
                self.rest = tail.split_once('\n').map_or("", |(_, after)| after);
            } else if let Some(tail) = self.rest.strip_prefix("/*") {
                self.rest = tail.split_once("*/").map_or("", |(_, after)| after);
            } else {
                break;
            }
        }
        let first = self.rest.chars().next()?;
        let end = match first {
            '"' | '`' | '\'' => closing(self.rest, first, first),
            '[' => closing(self.rest, '[', ']'),
            c if c.is_alphanumeric() || c == '_' || c == '$' => {
                self.rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).unwrap_or(self.rest.len())
            }
            c => c.len_utf8(),
        };
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(token)
    }
}

/// The end (exclusive) of a quoted token starting at `text[0]`; a doubled closing quote
/// is part of the name.
fn closing(text: &str, open: char, close: char) -> usize {
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c == close {
            if open == close && chars.peek().is_some_and(|(_, next)| *next == close) {
                chars.next();
                continue;
            }
            return i + c.len_utf8();
        }
    }
    text.len()
}

/// Whether an ordinary table has a rowid of its own (it is not `WITHOUT ROWID`), asked
/// by preparing a statement on that table alone. `alias` is one of `rowid`, `_rowid_`,
/// `oid` that no column of the table shadows.
pub(crate) fn has_rowid(conn: &Connection, schema: &str, table: &str, alias: &str) -> bool {
    conn.prepare(&format!("SELECT {alias} FROM {}.{} LIMIT 0", quote(schema), quote(table))).is_ok()
}

/// Lowercase object name to owning module.
pub(crate) fn owners(conn: &Connection) -> rusqlite::Result<HashMap<String, String>> {
    conn.prepare_cached("SELECT name, module FROM _modreg_objects")?
        .query_map([], |r| Ok((r.get::<_, String>(0)?.to_lowercase(), r.get(1)?)))?
        .collect()
}

/// The names `_modreg_objects` lists for a module.
pub(crate) fn owned_names(conn: &Connection, module: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached("SELECT name FROM _modreg_objects WHERE module = ?1")?.query_map([module], |r| r.get(0))?.collect()
}

/// Objects of a module that exist, in creation order.
pub(crate) fn module_objects(conn: &Connection, module: &str) -> rusqlite::Result<Vec<SchemaObject>> {
    let owned: HashSet<String> = owned_names(conn, module)?.into_iter().map(|n| n.to_lowercase()).collect();
    Ok(list(conn)?.into_iter().filter(|o| owned.contains(&o.name.to_lowercase())).collect())
}

/// Objects that exist and are not `module`'s (nor modreg's): lowercase name to owning
/// module (`None`: created outside modreg). What the module's SQL may not create, drop
/// or alter.
pub(crate) fn foreign_objects(
    conn: &Connection,
    module: &str,
    schema: &[SchemaObject],
) -> rusqlite::Result<HashMap<String, Option<String>>> {
    let owners = owners(conn)?;
    Ok(schema
        .iter()
        .map(|o| o.name.to_lowercase())
        .filter(|name| owners.get(name).map(String::as_str) != Some(module))
        .map(|name| {
            let owner = owners.get(&name).cloned();
            (name, owner)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds `pragma_table_list` gives, for comparison.
    fn pragma_kinds(conn: &Connection) -> HashMap<String, String> {
        conn.prepare("SELECT name, type FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn kinds_agree_with_sqlite_for_every_built_in_virtual_table_module() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE plain (a);
             CREATE TABLE docs_extra (a);
             CREATE VIRTUAL TABLE docs USING fts5(body);
             CREATE VIRTUAL TABLE IF NOT EXISTS \"old docs\" USING fts4(body);
             CREATE VIRTUAL TABLE main.notes USING fts3(body);
             CREATE VIRTUAL TABLE /* where */ places USING rtree(id, x0, x1);
             CREATE VIRTUAL TABLE boxes USING rtree_i32(id, x0, x1);
             CREATE TABLE places_note (a PRIMARY KEY) WITHOUT ROWID;
             CREATE VIEW v AS SELECT * FROM plain;",
        )
        .unwrap();
        let expected = pragma_kinds(&conn);
        let found = list(&conn).unwrap();
        for object in found.iter().filter(|o| matches!(o.kind.as_str(), "table" | "virtual" | "shadow" | "view")) {
            assert_eq!(Some(&object.kind), expected.get(&object.name), "{}", object.name);
        }
        assert_eq!(found.iter().filter(|o| o.kind == "shadow").count(), expected.values().filter(|k| *k == "shadow").count());
        assert!(expected.values().filter(|k| *k == "shadow").count() >= 13);
    }

    #[test]
    fn the_module_of_a_virtual_table_is_read_from_its_text() {
        assert_eq!(virtual_table_module("CREATE VIRTUAL TABLE t USING fts5(a)").as_deref(), Some("fts5"));
        assert_eq!(virtual_table_module("create virtual table if not exists \"a\"\"b\" using \"fts4\"").as_deref(), Some("fts4"));
        assert_eq!(virtual_table_module("CREATE VIRTUAL TABLE [x].[using] -- c\n USING rtree(id,a,b)").as_deref(), Some("rtree"));
        assert_eq!(virtual_table_module("CREATE TABLE t (a)"), None);
        assert_eq!(virtual_table_module("CREATE VIRTUAL TABLE"), None);
    }

    #[test]
    fn the_event_of_a_trigger_is_read_from_its_text() {
        use TriggerEvent::*;
        assert_eq!(trigger_event("CREATE TRIGGER t AFTER INSERT ON x BEGIN SELECT 1; END"), Some(Insert));
        assert_eq!(
            trigger_event("create temp trigger if not exists main.\"a b\" before update of c on x begin select 1; end"),
            Some(Update)
        );
        assert_eq!(trigger_event("CREATE TRIGGER [t] /* when */ INSTEAD OF DELETE ON v BEGIN SELECT 1; END"), Some(Delete));
        assert_eq!(trigger_event("CREATE TRIGGER t DELETE ON x BEGIN SELECT 1; END"), Some(Delete));
        assert_eq!(trigger_event("CREATE TRIGGER t INSTEAD DELETE ON x"), None);
        assert_eq!(trigger_event("CREATE TABLE t (a)"), None);
    }

    #[test]
    fn rowids_are_found_without_the_pragma() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE a (x); CREATE TABLE b (x PRIMARY KEY) WITHOUT ROWID;").unwrap();
        assert!(has_rowid(&conn, "main", "a", "rowid"));
        assert!(!has_rowid(&conn, "main", "b", "rowid"));
    }
}
