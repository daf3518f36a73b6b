//! What a tenant's schema holds, read from PostgreSQL's catalogs, and who owns it, from
//! `_modreg_objects`: shared by the tenant database, the archives and the checks.

use postgres::GenericClient;

use super::{ident, literal};

/// modreg's own tables in every tenant's schema, as in a SQLite tenant file: its modules,
/// the objects each owns (by name and kind: a trigger and its function often share a
/// name), the jobs whose work committed, when the tenant was added, and
/// each module's enabled state and flags, and every module's migration history. Owned by modreg's user; no module role has any
/// right on them.
pub(super) fn internal_schema(schema: &str) -> String {
    let s = ident(schema);
    format!(
        "CREATE TABLE IF NOT EXISTS {s}._modreg_modules (
             module text PRIMARY KEY, version text NOT NULL, checksum text NOT NULL,
             installed_at text NOT NULL, updated_at text NOT NULL);
         CREATE TABLE IF NOT EXISTS {s}._modreg_objects (
             name text NOT NULL, module text NOT NULL, type text NOT NULL, tbl_name text NOT NULL, PRIMARY KEY (name, type));
         CREATE TABLE IF NOT EXISTS {s}._modreg_jobs (job_id bigint PRIMARY KEY, batch text NOT NULL, at text NOT NULL);
         CREATE TABLE IF NOT EXISTS {s}._modreg_tenant (key text PRIMARY KEY, value text NOT NULL);
         CREATE TABLE IF NOT EXISTS {s}._modreg_enabled (module text PRIMARY KEY, enabled boolean NOT NULL, updated_at text NOT NULL);
         CREATE TABLE IF NOT EXISTS {s}._modreg_history (
             module text NOT NULL, version int4 NOT NULL, name varchar(255), applied_on varchar(255), checksum varchar(255),
             PRIMARY KEY (module, version));
         CREATE TABLE IF NOT EXISTS {s}._modreg_flags (
             module text NOT NULL, flag text NOT NULL, value boolean NOT NULL, updated_at text NOT NULL,
             PRIMARY KEY (module, flag));"
    )
}

/// The name refinery is given for a module's history table: the driver reads and
/// writes that module's rows of the tenant's one `_modreg_history` in its place, so that
/// installing a module creates no table of modreg's.
pub(super) fn history_table(module: &str) -> String {
    format!("_modreg_history_{module}")
}

/// An object of a schema: a relation (`table`, `index`, `view`, `sequence`), a
/// `function`, a `trigger`, a `type`, an `operator`, a `collation`, a `text search
/// dictionary` or a `text search configuration`, with the table it belongs to (itself for most),
/// its owner, and the text that names other objects (a view's query, a function's body).
#[derive(Debug, Clone)]
pub(super) struct Object {
    pub name: String,
    pub kind: String,
    pub tbl_name: String,
    pub owner: String,
    pub body: Option<String>,
    /// Made or changed by the current transaction.
    pub fresh: bool,
}

/// Every object of `schema`, oldest first (by `_modreg.objects_in_v4`, [`OBJECTS_IN`]).
/// The index of a primary key, unique or exclusion constraint is part of its table, as
/// SQLite's autoindexes are: it is not listed.
pub(super) fn list(conn: &mut crate::store::postgres::pool::Connection, schema: &str) -> Result<Vec<Object>, postgres::Error> {
    // The same statement for every tenant, prepared once a connection; the function's
    // plan is made once a session (`objects_in_v4`).
    let rows = conn.query("SELECT name, kind, tbl_name, owner, body, fresh FROM _modreg.objects_in_v4($1)", &[&ident(schema)])?;
    Ok(rows
        .iter()
        .map(|r| Object { name: r.get(0), kind: r.get(1), tbl_name: r.get(2), owner: r.get(3), body: r.get(4), fresh: r.get(5) })
        .collect())
}

/// The statement of [`list`] for `schema`, to send as text in the round trip of other
/// statements ([`objects`] reads its answer).
pub(super) fn list_query(schema: &str) -> String {
    format!("SELECT name, kind, tbl_name, owner, body, fresh FROM _modreg.objects_in_v4({})", literal(&ident(schema)))
}

/// The objects of the answer to [`list_query`].
pub(super) fn objects(messages: &[postgres::SimpleQueryMessage]) -> Vec<Object> {
    let mut found = Vec::new();
    for message in messages {
        if let postgres::SimpleQueryMessage::Row(row) = message {
            let text = |i: usize| row.get(i).unwrap_or_default().to_string();
            let (body, fresh) = (row.get(4).map(str::to_string), row.get(5) == Some("t"));
            found.push(Object { name: text(0), kind: text(1), tbl_name: text(2), owner: text(3), body, fresh });
        }
    }
    found
}

/// The objects `_modreg_objects` of `schema` says a module owns: name, kind and table.
pub(super) fn owned(client: &mut impl GenericClient, schema: &str, module: &str) -> Result<Vec<(String, String, String)>, postgres::Error> {
    let sql = format!("SELECT name, type, tbl_name FROM {}._modreg_objects WHERE module = $1 ORDER BY name", ident(schema));
    Ok(client.query(&sql, &[&module])?.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
}

/// The statement that reads what `_modreg_objects` of `schema` records: each object's
/// name, module and kind (it names the schema, so it is sent as text, not kept prepared).
pub(super) fn records_query(schema: &str) -> String {
    format!("SELECT name, module, type FROM {}._modreg_objects", ident(schema))
}

/// The records among the answer to [`records_query`]: name, module, kind.
pub(super) fn record_rows(messages: &[postgres::SimpleQueryMessage]) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for message in messages {
        if let postgres::SimpleQueryMessage::Row(row) = message {
            let text = |i: usize| row.get(i).unwrap_or_default().to_string();
            found.push((text(0), text(1), text(2)));
        }
    }
    found
}

/// Whether `schema` holds a relation named `name`.
pub(super) fn has_relation(client: &mut impl GenericClient, schema: &str, name: &str) -> Result<bool, postgres::Error> {
    let row = client.query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = $1::text::regnamespace AND relname = $2)",
        &[&ident(schema), &name],
    )?;
    Ok(row.get(0))
}

/// The statement that drops one object of a module, if it is still there.
pub(super) fn drop_statement(schema: &str, name: &str, kind: &str, table: &str) -> String {
    let (s, n) = (ident(schema), ident(name));
    match kind {
        "trigger" => format!("DROP TRIGGER IF EXISTS {n} ON {s}.{}", ident(table)),
        "view" => format!(
            "DO $drop$ BEGIN IF EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = {ns}::regnamespace AND relname = {nl} AND relkind = 'm')
             THEN DROP MATERIALIZED VIEW {s}.{n}; ELSE DROP VIEW IF EXISTS {s}.{n}; END IF; END $drop$",
            ns = literal(&s),
            nl = literal(name)
        ),
        "index" => format!("DROP INDEX IF EXISTS {s}.{n}"),
        "table" => format!("DROP TABLE IF EXISTS {s}.{n}"),
        "sequence" => format!("DROP SEQUENCE IF EXISTS {s}.{n}"),
        "function" => format!(
            "DO $drop$ DECLARE f regprocedure; BEGIN
             FOR f IN SELECT p.oid::regprocedure FROM pg_proc p WHERE p.pronamespace = {ns}::regnamespace AND p.proname = {nl}
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'i') LOOP
             EXECUTE 'DROP ROUTINE ' || f; END LOOP; END $drop$",
            ns = literal(&s),
            nl = literal(name)
        ),
        "type" => format!("DROP TYPE IF EXISTS {s}.{n}"),
        // Every operator of the name (one record for all its operand types).
        "operator" => format!(
            "DO $drop$ DECLARE o text; BEGIN FOR o IN {} LOOP EXECUTE 'DROP OPERATOR ' || o; END LOOP; END $drop$",
            operators_named(schema, name)
        ),
        _ => match named_kind(kind) {
            Some(keyword) => format!("DROP {keyword} IF EXISTS {s}.{n}"),
            None => String::new(),
        },
    }
}

/// The words that name an object of `kind` in `DROP` and `ALTER` when its schema and name
/// alone say which it is: a collation, a text search dictionary or configuration.
pub(super) fn named_kind(kind: &str) -> Option<&'static str> {
    match kind {
        "collation" => Some("COLLATION"),
        "text search dictionary" => Some("TEXT SEARCH DICTIONARY"),
        "text search configuration" => Some("TEXT SEARCH CONFIGURATION"),
        _ => None,
    }
}

/// The query of every operator of schema `schema` named `name` (one for each operand
/// types), as it is named in `DROP OPERATOR` and `ALTER OPERATOR`: `"acme".===(integer, integer)`.
pub(super) fn operators_named(schema: &str, name: &str) -> String {
    format!(
        "SELECT format('%s.%s(%s, %s)', oprnamespace::regnamespace::text, oprname,
                       COALESCE(format_type(NULLIF(oprleft, 0), NULL), 'NONE'), format_type(oprright, NULL))
         FROM pg_operator WHERE oprnamespace = {}::regnamespace AND oprname = {}",
        literal(&ident(schema)),
        literal(name)
    )
}

/// What other modules have that hangs on `module`'s relations in `schema` and would go
/// with them, or stop them going: their foreign keys to its tables, their views on them
/// (and views on those), and their triggers on its tables. Each as the statements that
/// drop it now and make it again once the module's relations are back (a revert puts
/// the pre-upgrade copy in their place), with names fully qualified.
#[derive(Debug, Default)]
pub(super) struct Dependents {
    pub drop: Vec<String>,
    pub recreate: Vec<String>,
    /// Their names, which stay recorded as their modules'.
    pub names: Vec<String>,
}

pub(super) fn dependents(client: &mut impl GenericClient, schema: &str, module: &str) -> Result<Dependents, postgres::Error> {
    let s = ident(schema);
    // Read with no schema in the path: every name in a definition comes qualified.
    client.batch_execute("SET LOCAL search_path = pg_catalog")?;
    let own = format!(
        "SELECT c.oid FROM {s}._modreg_objects o JOIN pg_class c ON c.relname = o.name AND c.relnamespace = {ns}::regnamespace
         WHERE o.module = $1 AND o.type IN ('table', 'view')",
        ns = literal(&s)
    );
    let mut found = Dependents::default();
    let keys = client.query(
        &format!(
            "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', k.conrelid::regclass, k.conname),
                    format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.conrelid::regclass, k.conname, pg_get_constraintdef(k.oid)),
                    k.conname::text
             FROM pg_constraint k WHERE k.contype = 'f' AND k.confrelid IN ({own}) AND k.conrelid NOT IN ({own})"
        ),
        &[&module],
    )?;
    let views = client.query(
        &format!(
            "WITH RECURSIVE hanging (oid) AS (
                 SELECT DISTINCT r.ev_class FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
                 WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid IN ({own}) AND r.ev_class NOT IN ({own})
                 UNION
                 SELECT r.ev_class FROM hanging h JOIN pg_depend d ON d.refobjid = h.oid
                 JOIN pg_rewrite r ON r.oid = d.objid
                 WHERE d.classid = 'pg_rewrite'::regclass AND r.ev_class <> h.oid
             )
             SELECT format('DROP %s IF EXISTS %s', kind, c.oid::regclass),
                    format('CREATE %s %s%s AS %s; ALTER %s %s OWNER TO %I', kind, c.oid::regclass,
                           CASE WHEN c.reloptions IS NULL THEN '' ELSE ' WITH (' || array_to_string(c.reloptions, ', ') || ')' END,
                           rtrim(pg_get_viewdef(c.oid), ';'), kind, c.oid::regclass, pg_get_userbyid(c.relowner)),
                    c.relname::text
             FROM (SELECT DISTINCT oid FROM hanging) h JOIN pg_class c ON c.oid = h.oid,
                  LATERAL (SELECT CASE c.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END AS kind) k
             ORDER BY c.oid"
        ),
        &[&module],
    )?;
    let triggers = client.query(
        &format!(
            "SELECT format('DROP TRIGGER IF EXISTS %I ON %s', g.tgname, g.tgrelid::regclass), pg_get_triggerdef(g.oid), g.tgname::text
             FROM pg_trigger g JOIN {s}._modreg_objects o ON o.name = g.tgname AND o.type = 'trigger' AND o.module <> $1
             WHERE g.tgrelid IN ({own}) AND NOT g.tgisinternal"
        ),
        &[&module],
    )?;
    client.batch_execute("RESET search_path")?;
    // Dropped: keys and triggers, then views newest first; made again: views oldest
    // first, then keys and triggers.
    for row in keys.iter().chain(&triggers) {
        found.drop.push(row.get(0));
    }
    for row in views.iter().rev() {
        found.drop.push(row.get(0));
    }
    for row in views.iter().chain(&keys).chain(&triggers) {
        found.recreate.push(row.get(1));
        found.names.push(row.get(2));
    }
    Ok(found)
}

/// The function that lists a schema's objects for [`list`]. They are found from the
/// schema's entries in `pg_depend` (every relation, function and type depends on its
/// schema there), and their indexes and triggers from theirs: each an index lookup,
/// where filtering `pg_class` by schema would read every tenant's rows. A function, so
/// that its plan is made once a session: planning the query costs more than running it.
/// Its own `search_path`, since PostgreSQL plans a query again whenever the path differs
/// from the one it was planned under, and each tenant's work sets its own.
/// Made by the first process that opens the database, under the setup lock; a release
/// that changes it gives it a new name (`_v5`), so that opening writes nothing.
pub(super) const OBJECTS_IN: &str = r#"
DO $create$ BEGIN IF to_regprocedure('_modreg.objects_in_v4(text)') IS NULL THEN EXECUTE $definition$
CREATE FUNCTION _modreg.objects_in_v4(schema_name text)
RETURNS TABLE (name text, kind text, tbl_name text, owner text, body text, fresh boolean)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET search_path = pg_catalog AS $objects$
#variable_conflict use_column
BEGIN
    RETURN QUERY
WITH members AS (
             SELECT classid, objid, xmin FROM pg_catalog.pg_depend
             WHERE refclassid = 'pg_catalog.pg_namespace'::regclass AND refobjid = schema_name::regnamespace AND deptype = 'n'
         ),
         relations AS (
             SELECT c.oid, c.relname, c.relkind, c.relowner, c.xmin FROM pg_catalog.pg_class c
             WHERE c.oid IN (SELECT objid FROM members WHERE classid = 'pg_catalog.pg_class'::regclass)
         )
         SELECT objects.name, objects.kind, objects.tbl_name, objects.owner, objects.body, COALESCE(objects.xmin = this.xid, false) FROM (
             SELECT r.oid, r.relname::text AS name,
                    CASE WHEN r.relkind IN ('r', 'p', 'f') THEN 'table' WHEN r.relkind IN ('v', 'm') THEN 'view' ELSE 'sequence' END AS kind,
                    r.relname::text AS tbl_name, pg_get_userbyid(r.relowner)::text AS owner,
                    CASE WHEN r.relkind IN ('v', 'm') THEN pg_get_viewdef(r.oid) END AS body, r.xmin
             FROM relations r WHERE r.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
             UNION ALL
             SELECT i.oid, i.relname::text, 'index', r.relname::text, pg_get_userbyid(i.relowner)::text, NULL, i.xmin
             FROM relations r JOIN pg_catalog.pg_index x ON x.indrelid = r.oid JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
             WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = r.oid AND k.conindid = i.oid AND k.contype IN ('p', 'u', 'x'))
             UNION ALL
             SELECT g.oid, g.tgname::text, 'trigger', r.relname::text, pg_get_userbyid(r.relowner)::text, NULL, g.xmin
             FROM relations r JOIN pg_catalog.pg_trigger g ON g.tgrelid = r.oid WHERE NOT g.tgisinternal
             UNION ALL
             SELECT p.oid, p.proname::text, 'function', p.proname::text, pg_get_userbyid(p.proowner)::text, p.prosrc, p.xmin
             FROM pg_catalog.pg_proc p WHERE p.oid IN (SELECT objid FROM members WHERE classid = 'pg_catalog.pg_proc'::regclass)
             UNION ALL
             SELECT t.oid, t.typname::text, 'type', t.typname::text, pg_get_userbyid(t.typowner)::text, NULL, t.xmin
             FROM pg_catalog.pg_type t WHERE t.oid IN (SELECT objid FROM members WHERE classid = 'pg_catalog.pg_type'::regclass)
             UNION ALL
             -- The rest of the schema's members, at one look at them: its operators,
             -- collations, text search dictionaries and configurations, and what else
             -- it holds (conversions, text search parsers and templates…), described;
             -- extended statistics go with their table.
             SELECT m.objid, COALESCE(o.oprname::text, l.collname::text, d.dictname::text, f.cfgname::text,
                                      pg_catalog.pg_describe_object(m.classid, m.objid, 0)),
                    CASE WHEN o.oid IS NOT NULL THEN 'operator' WHEN l.oid IS NOT NULL THEN 'collation'
                         WHEN d.oid IS NOT NULL THEN 'text search dictionary' WHEN f.oid IS NOT NULL THEN 'text search configuration'
                         ELSE 'other' END,
                    COALESCE(o.oprname::text, l.collname::text, d.dictname::text, f.cfgname::text, ''),
                    COALESCE(pg_get_userbyid(COALESCE(o.oprowner, l.collowner, d.dictowner, f.cfgowner))::text, ''), NULL,
                    COALESCE(o.xmin, l.xmin, d.xmin, f.xmin, m.xmin)
             FROM members m
             LEFT JOIN pg_catalog.pg_operator o ON m.classid = 'pg_catalog.pg_operator'::regclass AND o.oid = m.objid
             LEFT JOIN pg_catalog.pg_collation l ON m.classid = 'pg_catalog.pg_collation'::regclass AND l.oid = m.objid
             LEFT JOIN pg_catalog.pg_ts_dict d ON m.classid = 'pg_catalog.pg_ts_dict'::regclass AND d.oid = m.objid
             LEFT JOIN pg_catalog.pg_ts_config f ON m.classid = 'pg_catalog.pg_ts_config'::regclass AND f.oid = m.objid
             WHERE m.classid NOT IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_proc'::regclass,
                                     'pg_catalog.pg_type'::regclass, 'pg_catalog.pg_statistic_ext'::regclass)
         ) objects,
         -- The transaction's id, when it has one (only then can anything be fresh).
         (SELECT pg_catalog.pg_current_xact_id_if_assigned()::text::xid AS xid) this
         ORDER BY objects.oid;
END $objects$
$definition$; END IF; END $create$;
"#;
