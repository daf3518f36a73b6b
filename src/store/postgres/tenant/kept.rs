//! What is kept aside of a tenant, as schemas of their own (`_modreg_k_…`), each with a
//! `_modreg_archive` table saying whose it is and what it holds:
//!
//! - an uninstall archive (`_modreg_k_a_…`): the module's objects, moved there whole in
//!   the uninstall's transaction (`ALTER … SET SCHEMA`: no rows copied), with its
//!   migration history; `install --restore` moves them back;
//! - a pre-upgrade copy (`_modreg_k_c_…`): the module's types and sequences, and its
//!   tables (partitioned ones with their partitions) copied with their rows, indexes,
//!   constraints, rights, comments, statistics, foreign keys, row security, policies and
//!   rules, views, triggers, functions and aggregates, owned by the module's role;
//!   `revert` moves the copy in place of the module;
//! - a removed tenant (`_modreg_k_t_…`): its whole schema, renamed.

use std::collections::{BTreeMap, HashMap};

use postgres::GenericClient;

use super::catalog;
use super::{KEPT_PREFIX, Shared, ident, literal};
use crate::domain::Error;
use crate::domain::change::FileKind;
use crate::store::{ArchiveSummary, Kept, KeptItem};

/// A failure while keeping or restoring: the database's, or modreg's own refusal.
#[derive(Debug)]
pub(super) enum Failure {
    Db(postgres::Error),
    Other(Error),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Db(e)
    }
}

impl Failure {
    pub(super) fn into_error(self, shared: &Shared, what: String) -> Error {
        match self {
            Failure::Db(e) if e.as_db_error().is_some() => Error::failed(format!("{what}: {}", super::message(&e))),
            Failure::Db(e) => shared.err(e).context(what),
            Failure::Other(e) => e,
        }
    }
}

/// What a kept schema can hold: the letter its name carries after the prefix, and the
/// word its `_modreg_archive` table says.
const KINDS: [(FileKind, &str, &str); 3] =
    [(FileKind::Uninstall, "a", "archive"), (FileKind::UpgradeCopy, "c", "copy"), (FileKind::Tenant, "t", "tenant")];

/// The letter of a kept schema's name for what it holds.
pub(super) fn letter(kind: FileKind) -> &'static str {
    KINDS.iter().find(|(k, _, _)| *k == kind).map_or("a", |(_, letter, _)| letter)
}

/// What a kept schema holds, by its name.
fn kind_of(schema: &str) -> FileKind {
    let letter = schema.strip_prefix(KEPT_PREFIX).and_then(|rest| rest.split('_').next());
    KINDS.iter().find(|(_, l, _)| Some(*l) == letter).map_or(FileKind::Uninstall, |(kind, _, _)| *kind)
}

/// The statements that give the kept schema `schema` its `_modreg_archive` table, saying
/// whose it is and what it holds.
pub(super) fn meta_table(schema: &str, tenant: &str, now: &str) -> String {
    let k = ident(schema);
    let kind = kind_of(schema);
    let kind = KINDS.iter().find(|(k, _, _)| *k == kind).map_or("archive", |(_, _, word)| word);
    format!(
        "CREATE TABLE {k}._modreg_archive (key text PRIMARY KEY, value text NOT NULL);
         INSERT INTO {k}._modreg_archive (key, value) VALUES ('tenant', {tenant}), ('kind', {kind}), ('written_at', {now});",
        tenant = literal(tenant),
        kind = literal(kind),
        now = literal(now),
    )
}

/// The statement that moves the extended statistics in schema `from` of tables now in
/// schema `tables` to schema `to`.
fn move_statistics(from: &str, to: &str, tables: &str) -> String {
    format!(
        "DO $move$ DECLARE s record; BEGIN
         FOR s IN SELECT x.stxname FROM pg_statistic_ext x JOIN pg_class c ON c.oid = x.stxrelid
                  WHERE x.stxnamespace = {f}::regnamespace AND c.relnamespace = {t}::regnamespace LOOP
             EXECUTE format('ALTER STATISTICS %I.%I SET SCHEMA %I', {fl}, s.stxname, {tl});
         END LOOP; END $move$",
        f = literal(&ident(from)),
        t = literal(&ident(tables)),
        fl = literal(from),
        tl = literal(to),
    )
}

/// The statement that moves one object of a module from schema `from` to `to`, or none
/// for a kind that moves with its table (an index, a trigger, a sequence a column owns).
fn move_statement(from: &str, to: &str, name: &str, kind: &str) -> String {
    let (f, t, n) = (ident(from), ident(to), ident(name));
    let (fl, nl) = (literal(&f), literal(name));
    match kind {
        "table" => format!("ALTER TABLE {f}.{n} SET SCHEMA {t}"),
        "view" => format!(
            "DO $move$ BEGIN IF EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = {fl}::regnamespace AND relname = {nl} AND relkind = 'm')
             THEN ALTER MATERIALIZED VIEW {f}.{n} SET SCHEMA {t}; ELSE ALTER VIEW {f}.{n} SET SCHEMA {t}; END IF; END $move$"
        ),
        "sequence" => format!(
            "DO $move$ BEGIN IF EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = {fl}::regnamespace AND c.relname = {nl}
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
             THEN ALTER SEQUENCE {f}.{n} SET SCHEMA {t}; END IF; END $move$"
        ),
        "function" => format!(
            "DO $move$ DECLARE r regprocedure; BEGIN
             FOR r IN SELECT oid::regprocedure FROM pg_proc WHERE pronamespace = {fl}::regnamespace AND proname = {nl} LOOP
             EXECUTE 'ALTER ROUTINE ' || r || ' SET SCHEMA ' || {tl}; END LOOP; END $move$",
            tl = literal(&t)
        ),
        "type" => format!(
            "DO $move$ BEGIN IF EXISTS (SELECT 1 FROM pg_type WHERE typnamespace = {fl}::regnamespace AND typname = {nl} AND typtype = 'd')
             THEN ALTER DOMAIN {f}.{n} SET SCHEMA {t}; ELSE ALTER TYPE {f}.{n} SET SCHEMA {t}; END IF; END $move$"
        ),
        "operator" => format!(
            "DO $move$ DECLARE o text; BEGIN FOR o IN {} LOOP EXECUTE 'ALTER OPERATOR ' || o || ' SET SCHEMA ' || {tl}; END LOOP; END $move$",
            catalog::operators_named(from, name),
            tl = literal(&t)
        ),
        _ => match catalog::named_kind(kind) {
            Some(keyword) => format!("ALTER {keyword} {f}.{n} SET SCHEMA {t}"),
            None => String::new(),
        },
    }
}

fn value(client: &mut impl GenericClient, schema: &str, key: &str) -> std::result::Result<Option<String>, postgres::Error> {
    let sql = format!("SELECT value FROM {}._modreg_archive WHERE key = $1", ident(schema));
    Ok(client.query(&sql, &[&key])?.first().map(|r| r.get(0)))
}

fn exists(client: &mut impl GenericClient, schema: &str) -> std::result::Result<bool, postgres::Error> {
    Ok(!client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])?.is_empty())
}

/// Rows of every table in `schema` that `tables` names.
fn count_rows(client: &mut impl GenericClient, schema: &str, tables: &[String]) -> std::result::Result<u64, postgres::Error> {
    let mut rows = 0;
    for table in tables {
        let row = client.query_one(&format!("SELECT count(*) FROM {}.{}", ident(schema), ident(table)), &[])?;
        rows += row.get::<_, i64>(0).max(0) as u64;
    }
    Ok(rows)
}

/// Keeps `module` of tenant schema `schema` as the kept schema `kept`: moved, for an
/// archive; copied (owned by the module's `role`), for a pre-upgrade copy. Inside the
/// caller's transaction.
pub(super) fn save(
    client: &mut impl GenericClient,
    schema: &str,
    module: &str,
    role: &str,
    flags: &BTreeMap<String, bool>,
    kept: &str,
    now: &str,
) -> std::result::Result<ArchiveSummary, Failure> {
    let (s, k) = (ident(schema), ident(kept));
    let record = client.query(&format!("SELECT version, checksum FROM {s}._modreg_modules WHERE module = $1"), &[&module])?;
    let Some(record) = record.first() else {
        return Err(Failure::Other(Error::not_found(format!("module `{module}` is not installed in schema `{schema}`"))));
    };
    let (version, checksum): (String, String) = (record.get(0), record.get(1));
    let objects = catalog::owned(client, schema, module)?;
    let kind = kind_of(kept);
    let tables: Vec<String> = objects.iter().filter(|(_, kind, _)| kind == "table").map(|(name, _, _)| name.clone()).collect();
    let rows = count_rows(client, schema, &tables)?;
    let flags_json = serde_json::to_string(flags).unwrap_or_else(|_| "{}".into());
    client.batch_execute(&format!(
        "CREATE SCHEMA {k};
         {meta}
         INSERT INTO {k}._modreg_archive (key, value) VALUES
             ('module', {module}), ('version', {version}), ('checksum', {checksum}), ('flags', {flags}), ('rows', {rows});
         CREATE TABLE {k}._modreg_archive_objects (name text, type text, tbl_name text NOT NULL, PRIMARY KEY (name, type));
         INSERT INTO {k}._modreg_archive_objects SELECT name, type, tbl_name FROM {s}._modreg_objects WHERE module = {module};
         CREATE TABLE {k}._modreg_archive_sql (seq int PRIMARY KEY, sql text NOT NULL);
         CREATE TABLE {k}._modreg_history (LIKE {s}._modreg_history INCLUDING ALL);
         INSERT INTO {k}._modreg_history SELECT * FROM {s}._modreg_history WHERE module = {module};",
        meta = meta_table(kept, schema, now),
        module = literal(module),
        version = literal(&version),
        checksum = literal(&checksum),
        flags = literal(&flags_json),
        rows = literal(&rows.to_string()),
    ))?;
    // Its triggers on other modules' tables stay with those tables, and go with the
    // module's removal: their definitions are kept, to be made again on restore. Those on
    // its own tables and views move with them.
    let on_others: Vec<&(String, String, String)> =
        objects.iter().filter(|(_, kind, table)| kind == "trigger" && !on_own_relation(&objects, table)).collect();
    client.batch_execute(&format!("SET LOCAL search_path = {s}"))?;
    for (seq, (name, _, table)) in on_others.iter().enumerate() {
        client.execute(
            &format!(
                "INSERT INTO {k}._modreg_archive_sql (seq, sql)
                 SELECT $3, pg_get_triggerdef(oid, true) FROM pg_trigger WHERE tgrelid = $1::text::regclass AND tgname = $2"
            ),
            &[&format!("{s}.{}", ident(table)), name, &(seq as i32)],
        )?;
    }
    client.batch_execute("RESET search_path")?;
    if kind == FileKind::UpgradeCopy {
        // Unless modreg's user is a superuser, giving the copies to the module's role
        // takes the role's right to create in the kept schema: for the copy alone, in its
        // transaction, before any module SQL runs.
        let r = ident(role);
        client.batch_execute(&format!("GRANT CREATE ON SCHEMA {k} TO {r}"))?;
        copy_module(client, schema, module, role, kept, &objects)?;
        client.batch_execute(&format!("REVOKE CREATE ON SCHEMA {k} FROM {r}"))?;
    } else {
        for (name, object_kind, _) in &objects {
            let statement = move_statement(schema, kept, name, object_kind);
            if !statement.is_empty() {
                client.batch_execute(&statement)?;
            }
        }
    }
    // Extended statistics are in a schema of their own choosing, not their table's: those
    // of the tables now in `kept` go there too (a copy's are made there).
    client.batch_execute(&move_statistics(schema, kept, kept))?;
    Ok(ArchiveSummary { module: module.to_string(), version, tables: tables.len(), rows, flags: flags.clone() })
}

/// What `LIKE` does not copy of table `$1` to its copy `$2`: whether it is unlogged, and as
/// statements (empty when it has none) its storage parameters, a replica identity of `FULL`
/// or `NOTHING` (one using an index is made with the indexes), and its columns' statistics
/// targets and options.
const SETTINGS: &str = "
SELECT c.relpersistence = 'u', concat_ws('; ',
    CASE WHEN c.reloptions IS NOT NULL THEN format('ALTER TABLE %s SET (%s)', $2::text, array_to_string(c.reloptions, ', ')) END,
    CASE c.relreplident WHEN 'f' THEN format('ALTER TABLE %s REPLICA IDENTITY FULL', $2::text)
                        WHEN 'n' THEN format('ALTER TABLE %s REPLICA IDENTITY NOTHING', $2::text) END,
    (SELECT string_agg(format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS %s', $2::text, a.attname, a.attstattarget), '; ')
     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attstattarget >= 0),
    (SELECT string_agg(format('ALTER TABLE %s ALTER COLUMN %I SET (%s)', $2::text, a.attname, array_to_string(a.attoptions, ', ')), '; ')
     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attoptions IS NOT NULL))
FROM pg_class c WHERE c.oid = $1::text::regclass";

/// What follows the indexes of table `$1`, copied as table `$3` of schema `$2`: each index
/// attached to its parent's (`true`), then each index's comment, the replica identity using
/// an index, and the index the table is clustered on.
const AFTER_INDEXES: &str = "
(SELECT true, format('ALTER INDEX %s.%I ATTACH PARTITION %s.%I', $2::text, p.relname, $2::text, c.relname)
 FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_inherits i ON i.inhrelid = x.indexrelid
 JOIN pg_class p ON p.oid = i.inhparent WHERE x.indrelid = $1::text::regclass ORDER BY c.oid)
UNION ALL
SELECT false, format('COMMENT ON INDEX %s.%I IS %L', $2::text, i.relname, obj_description(i.oid, 'pg_class'))
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = $1::text::regclass AND obj_description(i.oid, 'pg_class') IS NOT NULL
UNION ALL
SELECT false, format('ALTER TABLE %s.%I REPLICA IDENTITY USING INDEX %I', $2::text, $3::text, i.relname)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = $1::text::regclass AND x.indisreplident
UNION ALL
SELECT false, format('ALTER TABLE %s.%I CLUSTER ON %I', $2::text, $3::text, i.relname)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = $1::text::regclass AND x.indisclustered";

/// The definitions of the aggregates among the functions named `$2` of schema `$1`, as
/// copies in schema `$3`, with their signatures and names. Read with `$1` alone in the
/// path, they name its functions and types without it, and are to run with the copy first
/// in the path; a function of another schema is named with its own.
const AGGREGATES: &str = "
WITH fns AS (
    SELECT f.oid, CASE WHEN f.pronamespace = $1::text::regnamespace THEN quote_ident(f.proname)
                       ELSE format('%I.%I', f.pronamespace::regnamespace, f.proname) END AS name
    FROM pg_proc f
)
SELECT format('CREATE AGGREGATE %s.%I(%s) (%s)', $3::text, p.proname,
              CASE WHEN p.pronargs = 0 THEN '*' ELSE pg_get_function_arguments(p.oid) END,
              concat_ws(', ',
                  'SFUNC = ' || (SELECT name FROM fns WHERE oid = a.aggtransfn),
                  'STYPE = ' || format_type(a.aggtranstype, NULL),
                  CASE WHEN a.aggtransspace <> 0 THEN 'SSPACE = ' || a.aggtransspace END,
                  'FINALFUNC = ' || (SELECT name FROM fns WHERE oid = a.aggfinalfn),
                  CASE WHEN a.aggfinalextra THEN 'FINALFUNC_EXTRA' END,
                  CASE WHEN a.aggfinalfn <> 0 THEN 'FINALFUNC_MODIFY = '
                       || CASE a.aggfinalmodify WHEN 'r' THEN 'READ_ONLY' WHEN 's' THEN 'SHAREABLE' ELSE 'READ_WRITE' END END,
                  'COMBINEFUNC = ' || (SELECT name FROM fns WHERE oid = a.aggcombinefn),
                  'SERIALFUNC = ' || (SELECT name FROM fns WHERE oid = a.aggserialfn),
                  'DESERIALFUNC = ' || (SELECT name FROM fns WHERE oid = a.aggdeserialfn),
                  'INITCOND = ' || quote_literal(a.agginitval),
                  'MSFUNC = ' || (SELECT name FROM fns WHERE oid = a.aggmtransfn),
                  'MINVFUNC = ' || (SELECT name FROM fns WHERE oid = a.aggminvtransfn),
                  CASE WHEN a.aggmtransfn <> 0 THEN 'MSTYPE = ' || format_type(a.aggmtranstype, NULL) END,
                  CASE WHEN a.aggmtransspace <> 0 THEN 'MSSPACE = ' || a.aggmtransspace END,
                  'MFINALFUNC = ' || (SELECT name FROM fns WHERE oid = a.aggmfinalfn),
                  CASE WHEN a.aggmfinalextra THEN 'MFINALFUNC_EXTRA' END,
                  CASE WHEN a.aggmfinalfn <> 0 THEN 'MFINALFUNC_MODIFY = '
                       || CASE a.aggmfinalmodify WHEN 'r' THEN 'READ_ONLY' WHEN 's' THEN 'SHAREABLE' ELSE 'READ_WRITE' END END,
                  'MINITCOND = ' || quote_literal(a.aggminitval),
                  (SELECT format('SORTOP = OPERATOR(%I.%s)', o.oprnamespace::regnamespace, o.oprname) FROM pg_operator o WHERE o.oid = a.aggsortop),
                  CASE WHEN a.aggkind = 'h' THEN 'HYPOTHETICAL' END,
                  CASE p.proparallel WHEN 's' THEN 'PARALLEL = SAFE' WHEN 'r' THEN 'PARALLEL = RESTRICTED' END)),
       p.oid::regprocedure::text, p.proname::text
FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
WHERE p.pronamespace = $1::text::regnamespace AND p.proname = ANY ($2)
ORDER BY p.oid";

/// Copies the module's objects of `schema` into `kept`, owned by the module's `role` as
/// the originals are: its types, functions and aggregates, its tables (a partitioned
/// one's partitions made as partitions of its copy) with their rows, rights and the
/// sequences their columns use, then their foreign keys, row security, policies, rules,
/// views (and their indexes) and triggers, each
/// recreated from PostgreSQL's own definition with names resolved to the copies first.
/// The copies use the copied types, so that the revert can drop the module's types with
/// its other objects.
fn copy_module(
    client: &mut impl GenericClient,
    schema: &str,
    module: &str,
    role: &str,
    kept: &str,
    objects: &[(String, String, String)],
) -> std::result::Result<(), Failure> {
    let (s, k, r) = (ident(schema), ident(kept), ident(role));
    // Definitions read with the tenant's schema alone in the path name its objects without
    // it; run with the copy first in the path, they name the copies where there are.
    let (in_copy, out_of_copy) = (format!("SET LOCAL search_path = {k}, {s};"), format!("SET LOCAL search_path = {s};"));
    client.batch_execute(&out_of_copy)?;
    if let Some(what) = uncopied(client, schema, objects)? {
        return Err(no_copy(module, &what));
    }
    let types = named(objects, "type");
    let collations = named(objects, "collation");
    let mut script = in_copy.clone();
    script.push_str(&copy_text_kinds(client, schema, kept, role, objects)?);
    script.push_str(&copy_types(client, schema, module, kept, role, &types)?);
    script.push_str(&copy_sequences(client, schema, kept, role, &named(objects, "sequence"))?);
    for (name, _, _) in objects.iter().filter(|(_, kind, _)| kind == "function") {
        let rows = client.query(
            "SELECT pg_get_functiondef(oid), format('%I.%I', pronamespace::regnamespace, proname), oid::regprocedure::text
             FROM pg_proc WHERE pronamespace = $1::text::regnamespace AND proname = $2 AND prokind IN ('f', 'p')
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = pg_proc.oid AND d.deptype = 'i')",
            &[&s, name],
        )?;
        for row in rows {
            let (definition, qualified, signature): (String, String, String) = (row.get(0), row.get(1), row.get(2));
            let copy = format!("{k}.{}", ident(name));
            script.push_str(&definition.replacen(&qualified, &copy, 1));
            script.push(';');
            let arguments = signature.split_once('(').map_or("()".to_string(), |(_, rest)| format!("({rest}"));
            script.push_str(&format!("ALTER ROUTINE {copy}{arguments} OWNER TO {r};"));
        }
    }
    // Its aggregates, once the functions they call are copied.
    for row in client.query(AGGREGATES, &[&s, &named(objects, "function"), &k])? {
        let (definition, signature): (String, String) = (row.get(0), row.get(1));
        let arguments = signature.split_once('(').map_or("()".to_string(), |(_, rest)| format!("({rest}"));
        script.push_str(&format!("{definition}; ALTER ROUTINE {k}.{}{arguments} OWNER TO {r};", ident(&row.get::<_, String>(2))));
    }
    // Its operators, once the functions they call are copied.
    script.push_str(&copy_operators(client, schema, kept, role, &named(objects, "operator"))?);
    script.push_str(&out_of_copy);
    client.batch_execute(&script)?;
    // Parents before their partitions: a partition is made as one of its copied parent,
    // which routes the rows copied into the top of the tree.
    let mut tables = named(objects, "table");
    let placed = placements(client, schema, &tables)?;
    let placement = |table: &str| placed.get(table).cloned().unwrap_or_default();
    tables.sort_by_key(|table| placement(table).depth);
    for table in &tables {
        let (t, at) = (ident(table), placement(table));
        let original = format!("{s}.{t}");
        let partitioned = at.key.map(|key| format!(" PARTITION BY {key}")).unwrap_or_default();
        // What `LIKE` leaves out: whether it is unlogged, its storage parameters, replica
        // identity, and its columns' statistics targets and options.
        let settings = client.query_one(SETTINGS, &[&original, &format!("{k}.{t}")])?;
        let (unlogged, settings): (bool, String) = (settings.get(0), settings.get(1));
        let persistence = if unlogged { "UNLOGGED " } else { "" };
        // Its extended statistics are made again under their own names with the rest.
        let create = match (at.parent, at.bound) {
            (Some(parent), Some(bound)) => {
                format!("CREATE {persistence}TABLE {k}.{t} PARTITION OF {k}.{} {bound}{partitioned}", ident(&parent))
            }
            _ => format!(
                "CREATE {persistence}TABLE {k}.{t} (LIKE {original} INCLUDING ALL EXCLUDING INDEXES EXCLUDING STATISTICS){partitioned}"
            ),
        };
        client.batch_execute(&format!("{in_copy} {create}; {settings}; {out_of_copy}"))?;
        // Columns that own a sequence get a copy of it, so that the copy keeps numbering
        // where the table was and does not depend on the table it copies.
        let serials = client.query(
            "SELECT a.attname::text, pg_get_serial_sequence($1, a.attname) FROM pg_attribute a
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity = ''
               AND pg_get_serial_sequence($1, a.attname) IS NOT NULL",
            &[&original],
        )?;
        for row in serials {
            let (column, sequence): (String, String) = (row.get(0), row.get(1));
            let copy = format!("{k}.{}", ident(sequence.rsplit('.').next().unwrap_or(&sequence).trim_matches('"')));
            let c = ident(&column);
            client.batch_execute(&format!(
                "CREATE SEQUENCE {copy} OWNED BY {k}.{t}.{c};
                 SELECT setval({copy_l}, last_value, is_called) FROM {sequence};
                 ALTER TABLE {k}.{t} ALTER COLUMN {c} SET DEFAULT nextval({copy_l}::regclass);",
                copy_l = literal(&copy),
            ))?;
        }
    }
    let mut grants = Vec::new();
    for table in &tables {
        let t = ident(table);
        let (original, copy) = (format!("{s}.{t}"), format!("{k}.{t}"));
        let partition = placement(table).parent.is_some();
        // A partition's rows come with its tree's.
        let columns = if partition {
            Vec::new()
        } else {
            texts(
                client,
                "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = $1::text::regclass AND attnum > 0
                   AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
                &[&original],
            )?
        };
        if !columns.is_empty() {
            let list = columns.join(", ");
            client.batch_execute(&format!("INSERT INTO {copy} ({list}) OVERRIDING SYSTEM VALUE SELECT {list} FROM {original}"))?;
        }
        // The sequences its columns own, and their copies'. An identity column's copy
        // (`LIKE … INCLUDING IDENTITY`) gets a sequence of its own, which starts again: it
        // goes on from where the original's is.
        let owned = client.query(
            "SELECT pg_get_serial_sequence($1, attname), pg_get_serial_sequence($2, attname), attidentity <> '' FROM pg_attribute
             WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped AND pg_get_serial_sequence($1, attname) IS NOT NULL",
            &[&original, &copy],
        )?;
        let owned: Vec<(String, Option<String>, bool)> = owned.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
        let identities: Vec<String> = owned
            .iter()
            .filter_map(|(sequence, copy, identity)| match (copy, identity) {
                (Some(copy), true) => Some(format!("SELECT setval({}, last_value, is_called) FROM {sequence}", literal(copy))),
                _ => None,
            })
            .collect();
        if !identities.is_empty() {
            client.batch_execute(&identities.join(";"))?;
        }
        // A tree's columns change at its top, for every partition; then what a partition
        // has of its own.
        let remake =
            if partition { partition_own(client, &original, &copy)? } else { remake_columns(client, schema, &copy, &types, &collations)? };
        if !remake.is_empty() {
            client.batch_execute(&format!("{in_copy} {remake}; {out_of_copy}"))?;
        }
        // The rights others have on the table and its columns' sequences (its dependents'
        // reading them) come along.
        let mut rights_on = rights(client, &original, &copy)?;
        for (sequence, copy, _) in &owned {
            if let Some(copy) = copy {
                rights_on.extend(rights(client, sequence, copy)?);
            }
        }
        grants.push(format!("ALTER TABLE {copy} OWNER TO {r}; {}", rights_on.join(";")));
    }
    // Indexes the way `pg_dump` makes them: a partition's first, a partitioned table's on
    // it alone; once all are made, each attached to its parent's, deepest first, then what
    // names them (a comment, the replica identity, the index a table is clustered on).
    let (mut attached, mut named_after) = (Vec::new(), Vec::new());
    for table in tables.iter().rev() {
        let t = ident(table);
        let (original, copy) = (format!("{s}.{t}"), format!("{k}.{t}"));
        let indexes = index_definitions(client, &original, &copy)?;
        if !indexes.is_empty() {
            client.batch_execute(&format!("{in_copy} {}; {out_of_copy}", indexes.join(";\n")))?;
        }
        for row in client.query(AFTER_INDEXES, &[&original, &k, table])? {
            let (attach, statement): (bool, String) = (row.get(0), row.get(1));
            if attach { attached.push(statement) } else { named_after.push(statement) }
        }
    }
    attached.append(&mut named_after);
    if !attached.is_empty() {
        client.batch_execute(&attached.join(";"))?;
    }
    client.batch_execute(&grants.join(";"))?;
    let mut definitions = Vec::new();
    for table in &tables {
        definitions.extend(texts(
            client,
            "SELECT format('ALTER TABLE %I ADD CONSTRAINT %I %s', c.relname, n.conname, pg_get_constraintdef(n.oid))
             FROM pg_constraint n JOIN pg_class c ON c.oid = n.conrelid
             WHERE n.conrelid = $1::text::regclass AND n.contype = 'f' AND n.conparentid = 0
             UNION ALL
             -- Its row security and policies (which name the role they are for, or none).
             SELECT format('ALTER TABLE %I %s ROW LEVEL SECURITY', relname, what) FROM pg_class,
                 LATERAL (VALUES (1, relrowsecurity, 'ENABLE'), (2, relforcerowsecurity, 'FORCE')) AS flags (seq, flag, what)
             WHERE oid = $1::text::regclass AND flag
             UNION ALL
             SELECT format('CREATE POLICY %I ON %I AS %s FOR %s TO %s%s%s', p.polname, c.relname,
                           CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
                           CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                           (SELECT string_agg(CASE WHEN role = 0 THEN 'PUBLIC' ELSE role::regrole::text END, ', ') FROM unnest(p.polroles) AS role),
                           CASE WHEN p.polqual IS NULL THEN '' ELSE ' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')' END,
                           CASE WHEN p.polwithcheck IS NULL THEN '' ELSE ' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')' END)
             FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE p.polrelid = $1::text::regclass
             UNION ALL
             SELECT rtrim(pg_get_ruledef(oid, true), ';') FROM pg_rewrite WHERE ev_class = $1::text::regclass AND rulename <> '_RETURN'
             UNION ALL
             -- Made in the first schema of the path: the copy's.
             SELECT regexp_replace(pg_get_statisticsobjdef(oid), '^CREATE STATISTICS [^ ]+', format('CREATE STATISTICS %I', stxname))
                    || format('; ALTER STATISTICS %I OWNER TO %s', stxname, $2::text)
             FROM pg_statistic_ext WHERE stxrelid = $1::text::regclass
             UNION ALL
             SELECT format('COMMENT ON TABLE %I IS %L', relname, obj_description(oid, 'pg_class')) FROM pg_class
             WHERE oid = $1::text::regclass AND obj_description(oid, 'pg_class') IS NOT NULL",
            &[&format!("{s}.{}", ident(table)), &r],
        )?);
    }
    // Views first: a trigger may sit on one of them.
    let views = objects.iter().filter(|(_, kind, _)| kind == "view");
    let triggers = objects.iter().filter(|(_, kind, table)| kind == "trigger" && on_own_relation(objects, table));
    for (name, kind, table) in views.chain(triggers) {
        let made = match kind.as_str() {
            "view" => texts(
                client,
                // A materialized view never refreshed stays so.
                "SELECT format('CREATE %s %I%s AS %s%s; ALTER %s %I OWNER TO %s',
                               CASE relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END, relname,
                               CASE WHEN reloptions IS NULL THEN '' ELSE ' WITH (' || array_to_string(reloptions, ', ') || ')' END,
                               rtrim(pg_get_viewdef(oid), ';'),
                               CASE WHEN relkind = 'm' AND NOT relispopulated THEN ' WITH NO DATA' ELSE '' END,
                               CASE relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END, relname, $2::text)
                 FROM pg_class WHERE oid = $1::text::regclass",
                &[&format!("{s}.{}", ident(name)), &r],
            )?,
            // On a partition, the trigger may be its parent's: that one is made, for all.
            "trigger" => texts(
                client,
                "SELECT pg_get_triggerdef(oid, true) FROM pg_trigger WHERE tgname = $2 AND tgparentid = 0
                   AND tgrelid IN (SELECT $1::text::regclass UNION SELECT relid FROM pg_partition_ancestors($1::text::regclass))",
                &[&format!("{s}.{}", ident(table)), name],
            )?,
            _ => continue,
        };
        definitions.extend(made);
    }
    let mut script = in_copy;
    for definition in definitions {
        script.push_str(&definition);
        script.push(';');
    }
    // Indexes of its materialized views, which are made by now.
    for view in named(objects, "view") {
        let (original, copy) = (format!("{s}.{}", ident(view)), format!("{k}.{}", ident(view)));
        for index in index_definitions(client, &original, &copy)? {
            script.push_str(&index);
            script.push(';');
        }
    }
    script.push_str("RESET search_path;");
    client.batch_execute(&script)?;
    Ok(())
}

/// The statements that give relation `copy` the rights others than its owner have on
/// relation `original` (a table, view or sequence) and on its columns.
fn rights(client: &mut impl GenericClient, original: &str, copy: &str) -> std::result::Result<Vec<String>, postgres::Error> {
    texts(
        client,
        "SELECT format('GRANT %s ON %s %s TO %s', a.privilege_type, CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, $2::text,
                           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END)
             FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = $1::text::regclass AND a.grantee <> c.relowner
             UNION ALL
             SELECT format('GRANT %s (%I) ON TABLE %s TO %s', a.privilege_type, t.attname, $2::text,
                           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END)
             FROM pg_class c JOIN pg_attribute t ON t.attrelid = c.oid, aclexplode(t.attacl) a
             WHERE c.oid = $1::text::regclass AND t.attnum > 0 AND NOT t.attisdropped AND a.grantee <> c.relowner",
        &[&original, &copy],
    )
}

/// What of the module's `objects` of `schema` a pre-upgrade copy cannot make again: a
/// partition of a table it does not own, a partitioned table with a partition it does not
/// own (the copy would lack it), or a table in an inheritance (`INHERITS`) tree.
fn uncopied(
    client: &mut impl GenericClient,
    schema: &str,
    objects: &[(String, String, String)],
) -> std::result::Result<Option<String>, postgres::Error> {
    let rows = client.query(
        "SELECT format('partition `%s` of a table that is not its own (`%s`)', c.relname, p.oid::regclass)
         FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid JOIN pg_class p ON p.oid = i.inhparent
         WHERE c.relnamespace = $1::text::regnamespace AND c.relname = ANY ($2) AND c.relispartition
           AND NOT (p.relnamespace = c.relnamespace AND p.relname = ANY ($2))
         UNION ALL
         SELECT format('partitioned table `%s` with a partition that is not its own (`%s`)', p.relname, c.oid::regclass)
         FROM pg_class p JOIN pg_inherits i ON i.inhparent = p.oid JOIN pg_class c ON c.oid = i.inhrelid
         WHERE p.relnamespace = $1::text::regnamespace AND p.relname = ANY ($2) AND p.relkind = 'p'
           AND NOT (c.relnamespace = p.relnamespace AND c.relname = ANY ($2))
         UNION ALL
         -- Table inheritance (not partitions): a copy would hold a child's rows twice.
         SELECT format('table `%s`, which inherits from `%s` (table inheritance)', c.relname, p.oid::regclass)
         FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid JOIN pg_class p ON p.oid = i.inhparent
         WHERE NOT c.relispartition AND c.relkind <> 'i' AND (
                   (c.relnamespace = $1::text::regnamespace AND c.relname = ANY ($2))
                OR (p.relnamespace = $1::text::regnamespace AND p.relname = ANY ($2)))
         UNION ALL
         -- A generated column of the module's collation or text search configuration: its
         -- copy (`LIKE`) would use the original, and PostgreSQL cannot make it use the copy.
         SELECT format('generated column `%s.%s`, which uses its %s', c.relname, a.attname,
                       pg_describe_object(d.refclassid, d.refobjid, 0))
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_attrdef x ON x.adrelid = a.attrelid AND x.adnum = a.attnum
         JOIN pg_depend d ON (d.classid = 'pg_attrdef'::regclass AND d.objid = x.oid)
                          OR (d.classid = 'pg_class'::regclass AND d.objid = a.attrelid AND d.objsubid = a.attnum)
         LEFT JOIN pg_collation l ON d.refclassid = 'pg_collation'::regclass AND l.oid = d.refobjid
         LEFT JOIN pg_ts_config f ON d.refclassid = 'pg_ts_config'::regclass AND f.oid = d.refobjid
         WHERE c.relnamespace = $1::text::regnamespace AND c.relname = ANY ($2) AND a.attgenerated <> ''
           AND $1::text::regnamespace IN (l.collnamespace, f.cfgnamespace)
         LIMIT 1",
        &[&ident(schema), &named(objects, "table")],
    )?;
    Ok(rows.first().map(|r| r.get(0)))
}

/// Where one of the module's tables sits in a partitioned table's tree.
#[derive(Debug, Clone, Default)]
struct Placement {
    /// The partitioned table it is a partition of (one of the module's), and its bound
    /// in it (`FOR VALUES …`, `DEFAULT`).
    parent: Option<String>,
    bound: Option<String>,
    /// Its partition key, if it is partitioned (`RANGE (at)`).
    key: Option<String>,
    /// How many tables its tree has above it and it: none for a table outside any tree.
    depth: i64,
}

/// Where each of `tables` of `schema` sits (those in no tree are left out). Read with
/// `schema` alone in the path.
fn placements(
    client: &mut impl GenericClient,
    schema: &str,
    tables: &[&str],
) -> std::result::Result<HashMap<String, Placement>, postgres::Error> {
    let rows = client.query(
        "SELECT c.relname::text, p.relname::text, pg_get_expr(c.relpartbound, c.oid), pg_get_partkeydef(c.oid),
                (SELECT count(*) FROM pg_partition_ancestors(c.oid))
         FROM pg_class c LEFT JOIN pg_inherits i ON c.relispartition AND i.inhrelid = c.oid LEFT JOIN pg_class p ON p.oid = i.inhparent
         WHERE c.relnamespace = $1::text::regnamespace AND c.relname = ANY ($2) AND (c.relispartition OR c.relkind = 'p')",
        &[&ident(schema), &tables],
    )?;
    Ok(rows.iter().map(|r| (r.get(0), Placement { parent: r.get(1), bound: r.get(2), key: r.get(3), depth: r.get(4) })).collect())
}

/// The statement that gives partition `copy` what partition `original` has of its own,
/// beside what it has from its parent: its checks, `NOT NULL` and defaults; empty when it
/// has nothing. Read with the tenant's schema alone in the path; to run with the copy first.
fn partition_own(client: &mut impl GenericClient, original: &str, copy: &str) -> std::result::Result<String, postgres::Error> {
    let own: Vec<String> = texts(
        client,
        "SELECT format('ADD CONSTRAINT %I %s', conname, pg_get_constraintdef(oid)) FROM pg_constraint
             WHERE conrelid = $1::text::regclass AND contype = 'c' AND conislocal AND coninhcount = 0
             UNION ALL
             SELECT format('ALTER COLUMN %I SET NOT NULL', a.attname)
             FROM pg_attribute a JOIN pg_inherits i ON i.inhrelid = a.attrelid
             JOIN pg_attribute pa ON pa.attrelid = i.inhparent AND pa.attname = a.attname
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull AND NOT pa.attnotnull
             UNION ALL
             SELECT CASE WHEN d.oid IS NULL THEN format('ALTER COLUMN %I DROP DEFAULT', a.attname)
                         ELSE format('ALTER COLUMN %I SET DEFAULT %s', a.attname, pg_get_expr(d.adbin, d.adrelid)) END
             FROM pg_attribute a JOIN pg_inherits i ON i.inhrelid = a.attrelid
             JOIN pg_attribute pa ON pa.attrelid = i.inhparent AND pa.attname = a.attname
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             LEFT JOIN pg_attrdef pd ON pd.adrelid = pa.attrelid AND pd.adnum = pa.attnum
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped
               AND pg_get_expr(d.adbin, d.adrelid) IS DISTINCT FROM pg_get_expr(pd.adbin, pd.adrelid)",
        &[&original],
    )?;
    Ok(if own.is_empty() { String::new() } else { format!("ALTER TABLE {copy} {}", own.join(", ")) })
}

/// The refusal of a pre-upgrade copy of `module`, for `what` it owns that the copy cannot
/// make again.
fn no_copy(module: &str, what: &str) -> Failure {
    Failure::Other(
        Error::failed(format!("cannot keep a pre-upgrade copy of `{module}`: it owns {what}, which a copy cannot make again as it is"))
            .with_hint("upgrade with `MODREG_KEEP_UPGRADE_COPIES=0` (no `revert` for that upgrade)"),
    )
}

/// The statements that make again, on relation `copy`, the indexes of `original` and the
/// constraints they back, under their own names (`LIKE … INCLUDING INDEXES` would name
/// them anew), so that a revert brings back the names the module's objects are recorded
/// under. Read with the tenant's schema alone in the path; to run with the copy first.
fn index_definitions(client: &mut impl GenericClient, original: &str, copy: &str) -> std::result::Result<Vec<String>, postgres::Error> {
    texts(client, "SELECT CASE WHEN n.conname IS NOT NULL
                      THEN format('ALTER TABLE ONLY %s ADD CONSTRAINT %I %s', $2::text, n.conname, pg_get_constraintdef(n.oid))
                      ELSE replace(replace(pg_get_indexdef(i.indexrelid), format(' ON ONLY %I.%I ', s.nspname, c.relname), format(' ON ONLY %s ', $2::text)),
                                   format(' ON %I.%I ', s.nspname, c.relname), format(' ON %s ', $2::text))
                    END
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace s ON s.oid = c.relnamespace
             LEFT JOIN pg_constraint n ON n.conindid = i.indexrelid AND n.conrelid = i.indrelid AND n.contype IN ('p', 'u', 'x')
             WHERE i.indrelid = $1::text::regclass ORDER BY i.indexrelid", &[&original, &copy])
}

/// The statements that make copies in `kept` of the module's `operators` of `schema`, owned
/// by its `role`: each from its definition, its commutator and negator the copies where
/// they are the module's too (a pair made the first time as a shell, then filled in).
/// Read with `schema` alone in the path, the functions and types they name are the copies
/// once run with `kept` first in it.
fn copy_operators(
    client: &mut impl GenericClient,
    schema: &str,
    kept: &str,
    role: &str,
    operators: &[&str],
) -> std::result::Result<String, postgres::Error> {
    if operators.is_empty() {
        return Ok(String::new());
    }
    let (k, r) = (ident(kept), ident(role));
    let rows = client.query(
        "WITH partner (oid, named) AS (
             SELECT o.oid, format('OPERATOR(%s.%s)', CASE WHEN o.oprnamespace = $1::text::regnamespace THEN $3 ELSE o.oprnamespace::regnamespace::text END, o.oprname)
             FROM pg_operator o
         )
         SELECT format('CREATE OPERATOR %s.%s (FUNCTION = %s%s, RIGHTARG = %s%s%s%s%s%s%s)', $3, o.oprname, o.oprcode::regproc,
                       CASE WHEN o.oprleft <> 0 THEN ', LEFTARG = ' || format_type(o.oprleft, NULL) ELSE '' END, format_type(o.oprright, NULL),
                       (SELECT ', COMMUTATOR = ' || p.named FROM partner p WHERE p.oid = o.oprcom),
                       (SELECT ', NEGATOR = ' || p.named FROM partner p WHERE p.oid = o.oprnegate),
                       CASE WHEN o.oprrest <> 0 THEN ', RESTRICT = ' || o.oprrest::regproc ELSE '' END,
                       CASE WHEN o.oprjoin <> 0 THEN ', JOIN = ' || o.oprjoin::regproc ELSE '' END,
                       CASE WHEN o.oprcanhash THEN ', HASHES' ELSE '' END, CASE WHEN o.oprcanmerge THEN ', MERGES' ELSE '' END),
                format('%s.%s(%s, %s)', $3, o.oprname, COALESCE(format_type(NULLIF(o.oprleft, 0), NULL), 'NONE'), format_type(o.oprright, NULL))
         FROM pg_operator o WHERE o.oprnamespace = $1::text::regnamespace AND o.oprname = ANY ($2) ORDER BY o.oid",
        &[&ident(schema), &operators, &k],
    )?;
    let (mut script, mut owners) = (String::new(), String::new());
    for row in rows {
        let (create, signature): (String, String) = (row.get(0), row.get(1));
        script.push_str(&format!("{create};"));
        owners.push_str(&format!("ALTER OPERATOR {signature} OWNER TO {r};"));
    }
    script.push_str(&owners);
    Ok(script)
}

/// The statements that make copies in `kept` of the module's collations, text search
/// dictionaries and configurations of `schema`, owned by its `role`: each collation and
/// configuration from the original (`FROM`, `COPY =`), each dictionary from its template
/// and options; a copied configuration's mappings then name the copied dictionaries.
/// To run with `kept` first in the path.
fn copy_text_kinds(
    client: &mut impl GenericClient,
    schema: &str,
    kept: &str,
    role: &str,
    objects: &[(String, String, String)],
) -> std::result::Result<String, postgres::Error> {
    let (s, k, r) = (ident(schema), ident(kept), ident(role));
    let mut script = String::new();
    for name in named(objects, "collation") {
        let n = ident(name);
        script.push_str(&format!("CREATE COLLATION {k}.{n} FROM {s}.{n}; ALTER COLLATION {k}.{n} OWNER TO {r};"));
    }
    let dictionaries = named(objects, "text search dictionary");
    if !dictionaries.is_empty() {
        let rows = client.query(
            "SELECT quote_ident(d.dictname), format('%I.%I', n.nspname, t.tmplname), d.dictinitoption
             FROM pg_ts_dict d JOIN pg_ts_template t ON t.oid = d.dicttemplate JOIN pg_namespace n ON n.oid = t.tmplnamespace
             WHERE d.dictnamespace = $1::text::regnamespace AND d.dictname = ANY ($2) ORDER BY d.oid",
            &[&s, &dictionaries],
        )?;
        for row in rows {
            let (n, template, options): (String, String, Option<String>) = (row.get(0), row.get(1), row.get(2));
            let options = options.filter(|o| !o.is_empty()).map(|o| format!(", {o}")).unwrap_or_default();
            script.push_str(&format!(
                "CREATE TEXT SEARCH DICTIONARY {k}.{n} (TEMPLATE = {template}{options}); ALTER TEXT SEARCH DICTIONARY {k}.{n} OWNER TO {r};"
            ));
        }
    }
    for name in named(objects, "text search configuration") {
        let n = ident(name);
        script.push_str(&format!(
            "CREATE TEXT SEARCH CONFIGURATION {k}.{n} (COPY = {s}.{n}); ALTER TEXT SEARCH CONFIGURATION {k}.{n} OWNER TO {r};"
        ));
        // Its mappings to the module's dictionaries, if it has any, go to their copies.
        if dictionaries.is_empty() {
            continue;
        }
        let used = client.query(
            "SELECT DISTINCT quote_ident(d.dictname) FROM pg_ts_config_map m JOIN pg_ts_dict d ON d.oid = m.mapdict
             WHERE m.mapcfg = (SELECT f.oid FROM pg_ts_config f WHERE f.cfgnamespace = $1::text::regnamespace AND f.cfgname = $2)
               AND d.dictnamespace = $1::text::regnamespace AND d.dictname = ANY ($3)",
            &[&s, &name, &dictionaries],
        )?;
        for row in used {
            let d: String = row.get(0);
            script.push_str(&format!("ALTER TEXT SEARCH CONFIGURATION {k}.{n} ALTER MAPPING REPLACE {s}.{d} WITH {k}.{d};"));
        }
    }
    Ok(script)
}

/// The statements that make copies in `kept` of the module's `types` of `schema`, owned by
/// its `role`, in the order they were made (a domain may be over an enum of the module's).
/// Read with `schema` alone in the path, they name the tenant's types without it, and are
/// to run with `kept` first in the path. Enums, domains, composite and range types are
/// copied (a range with its multirange); a module owning another kind, or a range with a
/// canonical function (made in C), keeps no copy.
fn copy_types(
    client: &mut impl GenericClient,
    schema: &str,
    module: &str,
    kept: &str,
    role: &str,
    types: &[&str],
) -> std::result::Result<String, Failure> {
    if types.is_empty() {
        return Ok(String::new());
    }
    let rows = client.query(
        "SELECT t.typname::text, t.typtype::text,
                CASE t.typtype
                WHEN 'e' THEN format('AS ENUM (%s)',
                    (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
                WHEN 'd' THEN format('AS %s%s%s%s%s', format_type(t.typbasetype, t.typtypmod),
                    CASE WHEN t.typcollation <> (SELECT b.typcollation FROM pg_type b WHERE b.oid = t.typbasetype)
                         THEN ' COLLATE ' || t.typcollation::regcollation::text ELSE '' END,
                    CASE WHEN t.typdefaultbin IS NOT NULL THEN ' DEFAULT ' || pg_get_expr(t.typdefaultbin, 0) ELSE '' END,
                    CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END,
                    (SELECT COALESCE(string_agg(format(' CONSTRAINT %I %s', n.conname, pg_get_constraintdef(n.oid)), '' ORDER BY n.oid), '')
                     FROM pg_constraint n WHERE n.contypid = t.oid AND n.contype = 'c'))
                WHEN 'c' THEN format('AS (%s)',
                    (SELECT string_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                                CASE WHEN a.attcollation <> (SELECT b.typcollation FROM pg_type b WHERE b.oid = a.atttypid)
                                     THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END), ', ' ORDER BY a.attnum)
                     FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped))
                WHEN 'r' THEN (SELECT format('AS RANGE (SUBTYPE = %s%s%s%s', format_type(g.rngsubtype, NULL),
                        CASE WHEN g.rngcollation <> 0 AND g.rngcollation <> (SELECT b.typcollation FROM pg_type b WHERE b.oid = g.rngsubtype)
                             THEN ', COLLATION = ' || g.rngcollation::regcollation::text ELSE '' END,
                        CASE WHEN g.rngsubdiff <> 0 THEN ', SUBTYPE_DIFF = ' || g.rngsubdiff::regproc::text ELSE '' END,
                        CASE WHEN g.rngsubopc <> (SELECT o.oid FROM pg_opclass o WHERE o.opcmethod = (SELECT a.oid FROM pg_am a WHERE a.amname = 'btree')
                                                  AND o.opcintype = g.rngsubtype AND o.opcdefault)
                             THEN ', SUBTYPE_OPCLASS = ' || (SELECT quote_ident(o.opcname) FROM pg_opclass o WHERE o.oid = g.rngsubopc) ELSE '' END)
                    FROM pg_range g WHERE g.rngtypid = t.oid AND g.rngcanonical = 0)
                WHEN 'm' THEN ''
                END,
                -- The multirange of a range (PostgreSQL 14 on), named with it.
                (SELECT m.typname::text FROM pg_range g JOIN pg_type m ON m.oid = (to_jsonb(g) ->> 'rngmultitypid')::oid WHERE g.rngtypid = t.oid)
         FROM pg_type t WHERE t.typnamespace = $1::text::regnamespace AND t.typname = ANY ($2) ORDER BY t.oid",
        &[&ident(schema), &types],
    )?;
    let types: Vec<(String, String, Option<String>, Option<String>)> =
        rows.iter().map(|row| (row.get(0), row.get(1), row.get(2), row.get(3))).collect();
    if let Some((name, kind, _, _)) = types.iter().find(|(_, _, body, _)| body.is_none()) {
        let kind = if kind == "r" { "range type with a canonical function" } else { "type" };
        return Err(no_copy(module, &format!("{kind} `{name}`")));
    }
    let (k, r) = (ident(kept), ident(role));
    let mut script = String::new();
    // A multirange is made with its range.
    for (name, kind, body, multirange) in types.iter().filter(|(_, kind, _, _)| kind != "m") {
        let (word, n, mut body) = (if kind == "d" { "DOMAIN" } else { "TYPE" }, ident(name), body.clone().unwrap_or_default());
        if kind == "r" {
            body.push_str(&multirange.as_ref().map_or(String::new(), |m| format!(", MULTIRANGE_TYPE_NAME = {k}.{}", ident(m))));
            body.push(')');
        }
        script.push_str(&format!("CREATE {word} {k}.{n} {body}; ALTER {word} {k}.{n} OWNER TO {r};"));
    }
    Ok(script)
}

/// The statement that makes the defaults of `table` (a copy just made) again, and its
/// checks that call the tenant's functions or name its types, so that they name the
/// copies of the module's sequences, functions and types, and changes its columns of one
/// of the module's `types` of `schema` (or arrays of one) to the copy's type of that name;
/// empty when there is nothing to make. Read with `schema` alone in the path; to run with the
/// copy first in it.
fn remake_columns(
    client: &mut impl GenericClient,
    schema: &str,
    table: &str,
    types: &[&str],
    collations: &[&str],
) -> std::result::Result<String, postgres::Error> {
    let columns = client.query(
        "SELECT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid),
                (CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE t.oid END) IN
                    (SELECT oid FROM pg_type WHERE typnamespace = $2::text::regnamespace AND typname = ANY ($3)),
                (SELECT quote_ident(l.collname) FROM pg_collation l
                 WHERE l.oid = a.attcollation AND l.collnamespace = $2::text::regnamespace AND l.collname = ANY ($4))
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
         ORDER BY a.attnum",
        &[&table, &ident(schema), &types, &collations],
    )?;
    let (mut drops, mut changes, mut makes) = (Vec::new(), Vec::new(), Vec::new());
    for column in &columns {
        let (name, kind, default, typed, collation): (String, String, Option<String>, bool, Option<String>) =
            (column.get(0), column.get(1), column.get(2), column.get(3), column.get(4));
        // A column of one of the module's collations takes the copy's (first in the path).
        let collate = collation.map(|c| format!(" COLLATE {c}")).unwrap_or_default();
        if typed {
            changes.push(format!("ALTER COLUMN {name} TYPE {kind}{collate} USING {name}::text::{kind}"));
        } else if !collate.is_empty() {
            changes.push(format!("ALTER COLUMN {name} TYPE {kind}{collate}"));
        }
        if let Some(default) = default {
            drops.push(format!("ALTER COLUMN {name} DROP DEFAULT"));
            makes.push(format!("ALTER COLUMN {name} SET DEFAULT {default}"));
        }
    }
    // Checks that call the tenant's functions or name its types; every check where columns
    // change type (a check naming the column is made again by the change).
    let checks = client.query(
        "SELECT quote_ident(n.conname), pg_get_constraintdef(n.oid) FROM pg_constraint n
         WHERE n.conrelid = $1::text::regclass AND n.contype = 'c'
           AND ($3 OR EXISTS (SELECT 1 FROM pg_depend d
                              LEFT JOIN pg_proc p ON d.refclassid = 'pg_proc'::regclass AND p.oid = d.refobjid
                              LEFT JOIN pg_type t ON d.refclassid = 'pg_type'::regclass AND t.oid = d.refobjid
                              LEFT JOIN pg_collation l ON d.refclassid = 'pg_collation'::regclass AND l.oid = d.refobjid
                              LEFT JOIN pg_ts_config f ON d.refclassid = 'pg_ts_config'::regclass AND f.oid = d.refobjid
                              LEFT JOIN pg_operator o ON d.refclassid = 'pg_operator'::regclass AND o.oid = d.refobjid
                              WHERE d.classid = 'pg_constraint'::regclass AND d.objid = n.oid
                                AND $2::text::regnamespace IN (p.pronamespace, t.typnamespace, l.collnamespace, f.cfgnamespace,
                                                               o.oprnamespace)))
         ORDER BY n.oid",
        &[&table, &ident(schema), &!changes.is_empty()],
    )?;
    for check in &checks {
        let (name, definition): (String, String) = (check.get(0), check.get(1));
        drops.push(format!("DROP CONSTRAINT {name}"));
        makes.push(format!("ADD CONSTRAINT {name} {definition}"));
    }
    let all = [drops, changes, makes].concat();
    Ok(if all.is_empty() { String::new() } else { format!("ALTER TABLE {table} {}", all.join(", ")) })
}

/// The statements that make copies in `kept` of the module's sequences of `schema` that
/// no column owns (those are copied with their table), each where the original is, owned
/// by `role`.
fn copy_sequences(
    client: &mut impl GenericClient,
    schema: &str,
    kept: &str,
    role: &str,
    sequences: &[&str],
) -> std::result::Result<String, postgres::Error> {
    if sequences.is_empty() {
        return Ok(String::new());
    }
    let rows = client.query(
        "SELECT c.relname::text, format('AS %s INCREMENT %s MINVALUE %s MAXVALUE %s START %s CACHE %s%s', format_type(q.seqtypid, NULL),
                       q.seqincrement, q.seqmin, q.seqmax, q.seqstart, q.seqcache, CASE WHEN q.seqcycle THEN ' CYCLE' ELSE '' END)
         FROM pg_class c JOIN pg_sequence q ON q.seqrelid = c.oid
         WHERE c.relnamespace = $1::text::regnamespace AND c.relname = ANY ($2)
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))",
        &[&ident(schema), &sequences],
    )?;
    let (s, k, r) = (ident(schema), ident(kept), ident(role));
    let mut script = String::new();
    for row in rows {
        let (name, options): (String, String) = (row.get(0), row.get(1));
        let n = ident(&name);
        let at = client.query_one(&format!("SELECT last_value::text, is_called FROM {s}.{n}"), &[])?;
        let (last, called): (String, bool) = (at.get(0), at.get(1));
        let grants = rights(client, &format!("{s}.{n}"), &format!("{k}.{n}"))?.join(";");
        script.push_str(&format!(
            "CREATE SEQUENCE {k}.{n} {options}; SELECT setval({copy}, {last}, {called}); ALTER SEQUENCE {k}.{n} OWNER TO {r}; {grants};",
            copy = literal(&format!("{k}.{n}")),
        ));
    }
    Ok(script)
}

/// The first column of each row `sql` answers: the statements or names a query builds.
fn texts(
    client: &mut impl GenericClient,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> std::result::Result<Vec<String>, postgres::Error> {
    Ok(client.query(sql, params)?.iter().map(|r| r.get(0)).collect())
}

/// The names of the module's `objects` of kind `kind`.
fn named<'a>(objects: &'a [(String, String, String)], kind: &str) -> Vec<&'a str> {
    objects.iter().filter(|(_, k, _)| k == kind).map(|(name, _, _)| name.as_str()).collect()
}

/// Whether `relation` is one of the module's own tables or views (of its `objects`): a
/// trigger on it moves and is copied with it, where one on another module's table is
/// kept as its definition.
pub(super) fn on_own_relation(objects: &[(String, String, String)], relation: &str) -> bool {
    objects.iter().any(|(name, kind, _)| name == relation && (kind == "table" || kind == "view"))
}

/// Brings a module back from the kept schema `kept` into tenant schema `schema`, moving
/// its objects and history back and recording them again; the kept schema is used up.
pub(super) fn restore(
    client: &mut impl GenericClient,
    schema: &str,
    kept: &str,
    now: &str,
) -> std::result::Result<ArchiveSummary, Failure> {
    let summary = read_summary(client, kept)?;
    let (s, k) = (ident(schema), ident(kept));
    let objects: Vec<(String, String)> = client
        .query(&format!("SELECT name, type FROM {k}._modreg_archive_objects ORDER BY name"), &[])?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (name, kind) in &objects {
        let statement = move_statement(kept, schema, name, kind);
        if !statement.is_empty() {
            client.batch_execute(&statement)?;
        }
    }
    client.batch_execute(&move_statistics(kept, schema, schema))?;
    client.batch_execute(&format!("INSERT INTO {s}._modreg_history SELECT * FROM {k}._modreg_history"))?;
    let statements: Vec<String> = texts(client, &format!("SELECT sql FROM {k}._modreg_archive_sql ORDER BY seq"), &[])?;
    if !statements.is_empty() {
        client.batch_execute(&format!("SET LOCAL search_path = {s}; {}; RESET search_path;", statements.join(";")))?;
    }
    let checksum = value(client, kept, "checksum")?.unwrap_or_default();
    let module = literal(&summary.module);
    client.batch_execute(&format!(
        "INSERT INTO {s}._modreg_objects (name, module, type, tbl_name) SELECT name, {module}, type, tbl_name FROM {k}._modreg_archive_objects
             ON CONFLICT (name, type) DO UPDATE SET module = excluded.module, tbl_name = excluded.tbl_name;
         INSERT INTO {s}._modreg_modules (module, version, checksum, installed_at, updated_at)
             VALUES ({module}, {version}, {checksum}, {now}, {now})
             ON CONFLICT (module) DO UPDATE SET version = excluded.version, checksum = excluded.checksum, updated_at = excluded.updated_at;
         DROP SCHEMA {k} CASCADE;",
        version = literal(&summary.version),
        checksum = literal(&checksum),
        now = literal(now),
    ))?;
    Ok(summary)
}

/// What a kept module holds.
pub(super) fn read_summary(client: &mut impl GenericClient, kept: &str) -> std::result::Result<ArchiveSummary, Failure> {
    if !kept.starts_with(KEPT_PREFIX) || !exists(client, kept)? {
        return Err(Failure::Other(Error::not_found(format!("the archive `{kept}` is not in the tenants database"))));
    }
    let module = value(client, kept, "module")?;
    let version = value(client, kept, "version")?;
    let (Some(module), Some(version)) = (module, version) else {
        return Err(Failure::Other(Error::invalid(format!("`{kept}` holds no module"))));
    };
    let flags = value(client, kept, "flags")?.and_then(|f| serde_json::from_str(&f).ok()).unwrap_or_default();
    let tables: Vec<String> =
        texts(client, &format!("SELECT name FROM {}._modreg_archive_objects WHERE type = 'table' ORDER BY name", ident(kept)), &[])?;
    let present: Vec<String> = tables.iter().filter(|t| catalog::has_relation(client, kept, t).unwrap_or(false)).cloned().collect();
    let rows = count_rows(client, kept, &present)?;
    Ok(ArchiveSummary { module, version, tables: tables.len(), rows, flags })
}

/// How many bytes the kept schema `kept` takes; `None` when it is not there.
pub(super) fn size(conn: &mut crate::store::postgres::pool::Connection, kept: &str) -> std::result::Result<Option<u64>, postgres::Error> {
    let client = conn.client();
    if !kept.starts_with(KEPT_PREFIX) || !exists(client, kept)? {
        return Ok(None);
    }
    let row = client.query_one(
        "SELECT COALESCE(sum(pg_total_relation_size(oid)), 0)::bigint FROM pg_class
         WHERE relnamespace = $1::text::regnamespace AND relkind IN ('r', 'p', 'm', 'S')",
        &[&ident(kept)],
    )?;
    Ok(Some(row.get::<_, i64>(0).max(0) as u64))
}

/// Every kept schema of the database.
pub(super) fn list(conn: &mut crate::store::postgres::pool::Connection) -> std::result::Result<Vec<KeptItem>, postgres::Error> {
    let client = conn.client();
    let schemas: Vec<String> =
        texts(client, "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY nspname", &[&KEPT_PREFIX])?;
    let mut items = Vec::new();
    for schema in schemas {
        if !catalog::has_relation(client, &schema, "_modreg_archive")? {
            continue;
        }
        let tenant = value(client, &schema, "tenant")?.unwrap_or_default();
        let written_at = value(client, &schema, "written_at")?;
        items.push(KeptItem { tenant, kind: kind_of(&schema), kept: Kept::new(schema), partial: false, referenced: false, written_at });
    }
    items.sort_by(|a, b| (a.tenant.as_str(), a.kept.reference()).cmp(&(b.tenant.as_str(), b.kept.reference())));
    Ok(items)
}
