//! The checks every tenant engine must pass, written once against the tenant traits. An
//! engine provides a [`Fixture`]: fresh, empty storage, as many handles on it as a check
//! asks for (each as another process would open it), and a way to count a table's rows
//! from outside modreg, as an application would. Module SQL here is plain SQL that every
//! engine runs alike.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use modreg::domain::ErrorKind;
use modreg::domain::change::{self, Change, FileKind};
use modreg::domain::manifest::parse_manifest;
use modreg::domain::module::{EngineSql, Migration, ModuleVersion, Seed, Source};
use modreg::domain::name::ModuleName;
use modreg::store::{Checkpoint, KeepFor, Kept, TenantDb, TenantFiles, WorkError};

pub trait Fixture: Sync {
    /// A new handle on this fixture's one store of tenants.
    fn tenants(&self) -> Arc<dyn TenantFiles>;
    /// How many rows `table` of `tenant` holds, read as an application reads it; `None`
    /// when there is no such table.
    fn rows(&self, tenant: &str, table: &str) -> Option<i64>;
}

/// One test per check, for an engine's fixture:
/// `tenant_conformance_tests!(Some(SqliteFixture::new()));` A fixture of `None` (the
/// engine is not available here) passes without checking.
#[macro_export]
macro_rules! tenant_conformance_tests {
    ($fixture:expr) => {
        $crate::one_test_per_check!($fixture;
            a_tenant_is_created_once_listed_and_retired,
            applied_migrations_create_owned_objects_and_record_the_module,
            a_later_apply_runs_only_the_migrations_not_yet_applied,
            module_sql_writes_its_own_its_dependencies_and_unowned_tables_only,
            module_sql_never_reaches_modregs_own_tables,
            a_module_neither_takes_nor_drops_another_modules_objects,
            a_failed_migration_rolls_back_whole,
            removing_a_module_drops_exactly_its_objects,
            an_archive_holds_a_module_and_brings_it_back_with_its_rows,
            a_checkpoint_brings_back_what_committed_work_changed,
            records_keep_when_the_tenant_came_and_its_modules_state_and_flags,
            job_marks_commit_with_the_work_and_roll_back_with_it,
            a_tenant_lock_is_exclusive_across_handles,
            kept_items_are_placed_apart_found_and_discarded,
            the_scratch_database_applies_and_refuses_like_a_tenant,
            a_copy_is_written_while_the_tenant_is_open,
        );
    };
}

const AT: &str = "2026-11-22T10:00:00.000Z";

/// A module version with these migrations (`V1__…` numbered from the name) and seeds.
pub fn module(name: &str, version: &str, migrations: &[(&str, &str)], seeds: &[&str]) -> ModuleVersion {
    let text = format!("[module]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"conformance\"\n");
    let manifest = parse_manifest(&text, Path::new("module.toml")).expect("manifest");
    let migrations: Vec<Migration> = migrations
        .iter()
        .map(|(name, sql)| {
            let (number, _) = name.trim_start_matches('V').split_once("__").expect("V{n}__{name}");
            Migration { name: name.to_string(), version: number.parse().expect("number"), sql: sql.to_string() }
        })
        .collect();
    let seeds: Vec<Seed> = seeds.iter().enumerate().map(|(i, sql)| Seed { name: format!("{i:02}.sql"), sql: sql.to_string() }).collect();
    // The same SQL for every engine.
    let postgres = EngineSql::new(migrations.clone(), seeds.clone());
    ModuleVersion::new(manifest, text, migrations, seeds, Source::Landlord).with_postgres(postgres)
}

pub fn membership() -> ModuleVersion {
    module(
        "membership",
        "1.0.0",
        &[("V1__members", "CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT NOT NULL);")],
        &["INSERT INTO members (id, name) VALUES (1, 'ada'), (2, 'grace');"],
    )
}

pub fn finance() -> ModuleVersion {
    module(
        "finance",
        "1.0.0",
        &[(
            "V1__invoices",
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY, member INTEGER, total INTEGER);
             CREATE INDEX invoices_by_member ON invoices (member);",
        )],
        &["INSERT INTO invoices (id, member, total) VALUES (1, 1, 100), (2, 2, 250), (3, 1, 75);"],
    )
}

pub fn names(list: &[&str]) -> BTreeSet<ModuleName> {
    list.iter().map(|n| ModuleName::parse(n).expect("module name")).collect()
}

/// Applies `module` in a transaction of its own and commits it.
pub fn install(db: &mut dyn TenantDb, module: &ModuleVersion, writable: &[&str]) {
    db.begin().unwrap();
    db.apply(module, true, &names(writable)).unwrap_or_else(|e| panic!("{}: {}", e.step, e.error.message));
    db.commit().unwrap();
}

/// Applies `module` in a transaction, expecting a refusal: rolls back and gives it.
pub fn refused(db: &mut dyn TenantDb, module: &ModuleVersion, writable: &[&str]) -> WorkError {
    db.begin().unwrap();
    let error = db.apply(module, true, &names(writable)).expect_err("refused");
    db.rollback().unwrap();
    error
}

pub fn fresh(fixture: &dyn Fixture, tenant: &str) -> (Arc<dyn TenantFiles>, Box<dyn TenantDb>) {
    let tenants = fixture.tenants();
    tenants.create(tenant).unwrap();
    let db = tenants.open(tenant).unwrap();
    (tenants, db)
}

fn modules(db: &mut dyn TenantDb) -> Vec<(String, String)> {
    db.modules().unwrap().into_iter().collect()
}

pub fn a_tenant_is_created_once_listed_and_retired(fixture: &dyn Fixture) {
    let tenants = fixture.tenants();
    assert!(!tenants.exists("acme"));
    assert_eq!(tenants.open("acme").err().map(|e| e.kind), Some(ErrorKind::NotFound), "no tenant, no database");
    tenants.create("acme").unwrap();
    install(tenants.open("acme").unwrap().as_mut(), &membership(), &[]);
    tenants.create("acme").unwrap();
    assert_eq!(modules(tenants.open("acme").unwrap().as_mut()), [("membership".into(), "1.0.0".into())], "creating again keeps it");
    tenants.create("globex").unwrap();
    tenants.create("initech").unwrap();
    assert_eq!(fixture.tenants().names().unwrap(), ["acme", "globex", "initech"], "any handle lists them, by name");
    assert!(!tenants.location("acme").is_empty());

    let kept = tenants.place("acme", KeepFor::RemovedTenant { stamp: "20261122T100000Z" });
    tenants.retire("acme", Some(&kept)).unwrap();
    assert!(!tenants.exists("acme"));
    assert!(tenants.kept_size(&kept).is_some_and(|size| size > 0), "its data is kept aside");
    let items = tenants.kept_here(None, std::slice::from_ref(&kept)).unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!((items[0].tenant.as_str(), items[0].kind, items[0].referenced, items[0].partial), ("acme", FileKind::Tenant, true, false));
    tenants.retire("globex", None).unwrap();
    assert!(!tenants.exists("globex"));
    assert_eq!(tenants.names().unwrap(), ["initech"]);
    assert_eq!(tenants.kept_here(None, &[]).unwrap().len(), 1, "a purge keeps nothing");
}

pub fn applied_migrations_create_owned_objects_and_record_the_module(fixture: &dyn Fixture) {
    let (tenants, mut db) = fresh(fixture, "acme");
    let finance = finance();
    db.begin().unwrap();
    let report = db.apply(&finance, true, &BTreeSet::new()).unwrap();
    db.commit().unwrap();
    let steps: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(steps, ["migrate V1__invoices", "seed 00.sql"]);
    let mut created: Vec<(&str, &str)> = report.objects_created.iter().map(|o| (o.name.as_str(), o.kind.as_str())).collect();
    created.sort();
    assert_eq!(created, [("invoices", "table"), ("invoices_by_member", "index")]);
    assert!(report.objects_dropped.is_empty());
    assert_eq!(fixture.rows("acme", "invoices"), Some(3), "the seeds ran");
    assert_eq!(modules(db.as_mut()), [("finance".into(), "1.0.0".into())]);

    let check = tenants.check("acme").unwrap();
    assert!(check.integrity.is_empty() && check.foreign_keys.is_empty(), "{check:?}");
    let records = check.records.unwrap();
    let record = &records.modules["finance"];
    assert_eq!((record.version.as_str(), record.checksum.as_str()), ("1.0.0", finance.checksum.as_str()));
    let history: Vec<(i32, &str)> = records.history["finance"].iter().map(|m| (m.version, m.name.as_str())).collect();
    assert_eq!(history, [(1, "invoices")]);
    let mut owned: Vec<(&str, &str, bool)> = records.objects.iter().map(|o| (o.name.as_str(), o.module.as_str(), o.present)).collect();
    owned.sort();
    assert_eq!(owned, [("invoices", "finance", true), ("invoices_by_member", "finance", true)]);

    // Without seeds, a second tenant gets the schema and no rows.
    tenants.create("globex").unwrap();
    let mut other = tenants.open("globex").unwrap();
    other.begin().unwrap();
    other.apply(&finance, false, &BTreeSet::new()).unwrap();
    other.commit().unwrap();
    assert_eq!(fixture.rows("globex", "invoices"), Some(0));
    assert_eq!(fixture.rows("acme", "invoices"), Some(3), "tenants do not share tables");
}

pub fn a_later_apply_runs_only_the_migrations_not_yet_applied(fixture: &dyn Fixture) {
    let (tenants, mut db) = fresh(fixture, "acme");
    install(db.as_mut(), &finance(), &[]);
    let v1 = finance().migrations.remove(0);
    let payments = "CREATE TABLE payments (id INTEGER PRIMARY KEY, invoice INTEGER);";
    let newer = module("finance", "1.1.0", &[(v1.name.as_str(), v1.sql.as_str()), ("V2__payments", payments)], &[]);
    db.begin().unwrap();
    let report = db.apply(&newer, false, &BTreeSet::new()).unwrap();
    db.commit().unwrap();
    let steps: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(steps, ["migrate V2__payments"], "V1 is not run again");
    assert_eq!(fixture.rows("acme", "invoices"), Some(3), "V1's table keeps its rows");
    assert_eq!(fixture.rows("acme", "payments"), Some(0));
    assert_eq!(modules(db.as_mut()), [("finance".into(), "1.1.0".into())]);
    let records = tenants.check("acme").unwrap().records.unwrap();
    assert_eq!(records.history["finance"].iter().map(|m| m.version).collect::<Vec<_>>(), [1, 2]);

    // A migration that changed since it was applied is refused, whatever engine runs it.
    let edited = module("finance", "1.2.0", &[("V1__invoices", "CREATE TABLE invoices (id INTEGER PRIMARY KEY);")], &[]);
    let error = refused(db.as_mut(), &edited, &[]);
    assert_eq!(error.error.kind, ErrorKind::Invalid);
    assert!(
        error.error.message.contains("migration `V1__invoices` of `finance` has changed since it was applied"),
        "{}",
        error.error.message
    );
    assert_eq!(modules(db.as_mut()), [("finance".into(), "1.1.0".into())]);
}

pub fn module_sql_writes_its_own_its_dependencies_and_unowned_tables_only(fixture: &dyn Fixture) {
    let (_tenants, mut db) = fresh(fixture, "acme");
    install(db.as_mut(), &membership(), &[]);
    let cards = |version: &str| {
        module(
            "cards",
            version,
            &[("V1__cards", "CREATE TABLE cards (id INTEGER PRIMARY KEY); UPDATE members SET name = 'ADA' WHERE id = 1;")],
            &[],
        )
    };
    let error = refused(db.as_mut(), &cards("1.0.0"), &[]);
    assert_eq!(error.step, "migrate V1__cards");
    assert_eq!(error.error.kind, ErrorKind::Failed);
    assert!(
        error.error.message.contains("module `cards` may not write to `members`, which belongs to module `membership`"),
        "{}",
        error.error.message
    );
    assert!(error.error.hint.as_deref().is_some_and(|h| h.contains("add `membership` to its `[dependencies]`")), "{:?}", error.error.hint);
    assert_eq!(fixture.rows("acme", "cards"), None, "nothing of the refused module stays");
    assert_eq!(modules(db.as_mut()), [("membership".into(), "1.0.0".into())]);

    // With `membership` as a dependency, the same SQL may write its table.
    install(db.as_mut(), &cards("1.0.0"), &["membership"]);
    assert_eq!(fixture.rows("acme", "cards"), Some(0));
    assert_eq!(modules(db.as_mut()).len(), 2);
}

pub fn module_sql_never_reaches_modregs_own_tables(fixture: &dyn Fixture) {
    let (_tenants, mut db) = fresh(fixture, "acme");
    for sql in ["DELETE FROM _modreg_modules;", "SELECT count(*) FROM _modreg_objects;", "CREATE TABLE _modreg_mine (id INTEGER);"] {
        let sneaky = module("sneaky", "1.0.0", &[("V1__sneak", sql)], &[]);
        let error = refused(db.as_mut(), &sneaky, &[]);
        assert!(error.error.message.contains("belongs to modreg"), "{sql}: {}", error.error.message);
    }
    install(db.as_mut(), &membership(), &[]);
    let sneaky = module("sneaky", "1.0.0", &[("V1__sneak", "CREATE TABLE t (id INTEGER);")], &["DELETE FROM _modreg_modules;"]);
    let error = refused(db.as_mut(), &sneaky, &[]);
    assert_eq!(error.step, "seed 00.sql", "seeds are module SQL too");
    assert_eq!(modules(db.as_mut()), [("membership".into(), "1.0.0".into())], "modreg's records are untouched");
}

pub fn a_module_neither_takes_nor_drops_another_modules_objects(fixture: &dyn Fixture) {
    let (_tenants, mut db) = fresh(fixture, "acme");
    install(db.as_mut(), &membership(), &[]);
    let takes = module("cards", "1.0.0", &[("V1__cards", "CREATE TABLE members (id INTEGER);")], &[]);
    let error = refused(db.as_mut(), &takes, &["membership"]);
    assert!(
        error.error.message.contains("module `cards` cannot create `members`: it already exists and belongs to module `membership`"),
        "{}",
        error.error.message
    );
    let drops = module("cards", "1.0.0", &[("V1__cards", "DROP TABLE members;")], &[]);
    let error = refused(db.as_mut(), &drops, &["membership"]);
    assert!(
        error.error.message.contains("module `cards` may not drop or alter `members`, which belongs to module `membership`"),
        "{}",
        error.error.message
    );
    assert_eq!(fixture.rows("acme", "members"), Some(2), "the table and its rows stay");
}

pub fn a_failed_migration_rolls_back_whole(fixture: &dyn Fixture) {
    let (tenants, mut db) = fresh(fixture, "acme");
    let broken = module(
        "finance",
        "1.0.0",
        &[("V1__invoices", "CREATE TABLE invoices (id INTEGER PRIMARY KEY);"), ("V2__broken", "CREATE TABLE payments (id INTEGER;")],
        &[],
    );
    let error = refused(db.as_mut(), &broken, &[]);
    assert_eq!(error.step, "migrate V2__broken");
    assert_eq!(error.done.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["migrate V1__invoices"], "what ran before it");
    assert!(error.error.message.contains("migration `V2__broken` of `finance` failed"), "{}", error.error.message);
    assert_eq!(fixture.rows("acme", "invoices"), None, "V1 went with it");
    assert!(modules(db.as_mut()).is_empty());
    let records = tenants.check("acme").unwrap().records.unwrap();
    assert!(records.objects.is_empty() && records.history.is_empty(), "{records:?}");
}

pub fn removing_a_module_drops_exactly_its_objects(fixture: &dyn Fixture) {
    let (tenants, mut db) = fresh(fixture, "acme");
    install(db.as_mut(), &membership(), &[]);
    install(db.as_mut(), &finance(), &[]);
    db.begin().unwrap();
    let mut removed = db.remove_module("finance").unwrap();
    db.commit().unwrap();
    removed.sort();
    assert_eq!(removed, ["invoices", "invoices_by_member"]);
    assert_eq!(fixture.rows("acme", "invoices"), None);
    assert_eq!(fixture.rows("acme", "members"), Some(2), "another module's table stays, with its rows");
    assert_eq!(modules(db.as_mut()), [("membership".into(), "1.0.0".into())]);
    let records = tenants.check("acme").unwrap().records.unwrap();
    assert!(!records.history.contains_key("finance"), "its migration history goes too");
    assert!(records.objects.iter().all(|o| o.module == "membership"), "{:?}", records.objects);
    // Installed again, it starts from its first migration.
    install(db.as_mut(), &finance(), &[]);
    assert_eq!(fixture.rows("acme", "invoices"), Some(3));
}

pub fn an_archive_holds_a_module_and_brings_it_back_with_its_rows(fixture: &dyn Fixture) {
    let (tenants, mut db) = fresh(fixture, "acme");
    install(db.as_mut(), &finance(), &[]);
    let flags = BTreeMap::from([("invoicing".to_string(), false), ("recurring".to_string(), true)]);
    let kept = tenants.place("acme", KeepFor::Archive { module: "finance", version: "1.0.0", batch: "b1" });
    db.begin().unwrap();
    let saved = db.save_module("finance", &flags, &kept).unwrap();
    db.remove_module("finance").unwrap();
    db.commit().unwrap();
    assert_eq!((saved.module.as_str(), saved.version.as_str(), saved.tables, saved.rows), ("finance", "1.0.0", 1, 3));
    let read = tenants.read_archive(&kept).unwrap();
    assert_eq!(read, saved, "what is kept reads back as it was saved");
    assert_eq!(read.flags, flags);
    assert_eq!(fixture.rows("acme", "invoices"), None);

    db.begin().unwrap();
    let restored = db.restore_module(&kept).unwrap();
    db.commit().unwrap();
    assert_eq!((restored.tables, restored.rows), (1, 3));
    assert_eq!(fixture.rows("acme", "invoices"), Some(3), "the rows come back");
    assert_eq!(modules(db.as_mut()), [("finance".into(), "1.0.0".into())]);
    let records = tenants.check("acme").unwrap().records.unwrap();
    assert_eq!(records.history["finance"].len(), 1, "with its migration history");
    assert!(records.objects.iter().any(|o| o.name == "invoices_by_member" && o.present), "and its index");
    // Its history is whole again: a later version applies only what is new.
    let v1 = finance().migrations.remove(0);
    let newer = module("finance", "1.1.0", &[(v1.name.as_str(), v1.sql.as_str()), ("V2__notes", "CREATE TABLE notes (id INTEGER);")], &[]);
    db.begin().unwrap();
    assert_eq!(db.apply(&newer, false, &BTreeSet::new()).unwrap().steps.len(), 1);
    db.commit().unwrap();
}

pub fn a_checkpoint_brings_back_what_committed_work_changed(fixture: &dyn Fixture) {
    let (tenants, mut db) = fresh(fixture, "acme");
    install(db.as_mut(), &membership(), &[]);
    assert_eq!(tenants.checkpoint("acme"), Checkpoint::None);
    db.save_checkpoint().unwrap().expect("a tenant's checkpoint is taken");
    assert_eq!(tenants.checkpoint("acme"), Checkpoint::Complete, "another process sees it");
    // Work that commits, as a hook that writes the tenant database makes it.
    install(db.as_mut(), &finance(), &[]);
    db.begin().unwrap();
    db.remove_module("membership").unwrap();
    db.commit().unwrap();
    assert!(db.restore_checkpoint().unwrap());
    assert_eq!(modules(db.as_mut()), [("membership".into(), "1.0.0".into())]);
    assert_eq!(fixture.rows("acme", "members"), Some(2));
    assert_eq!(fixture.rows("acme", "invoices"), None);
    assert_eq!(tenants.checkpoint("acme"), Checkpoint::None, "a restored checkpoint is used up");
    assert!(!db.restore_checkpoint().unwrap(), "none to restore");

    db.save_checkpoint().unwrap();
    install(db.as_mut(), &finance(), &[]);
    db.discard_checkpoint().unwrap();
    assert_eq!(tenants.checkpoint("acme"), Checkpoint::None);
    assert_eq!(fixture.rows("acme", "invoices"), Some(3), "discarding keeps the work");
    tenants.discard_partial_checkpoint("acme").unwrap();
}

pub fn records_keep_when_the_tenant_came_and_its_modules_state_and_flags(fixture: &dyn Fixture) {
    let (tenants, mut db) = fresh(fixture, "acme");
    assert!(db.unrecorded().unwrap().created_at, "a fresh database does not know when its tenant came");
    db.begin().unwrap();
    db.record(&change::add_tenant("acme", Some("host-a"), AT)).unwrap();
    db.commit().unwrap();
    install(db.as_mut(), &finance(), &[]);
    assert_eq!(db.unrecorded().unwrap().modules, ["finance"], "a module whose state nothing recorded");
    db.begin().unwrap();
    let flags = BTreeMap::from([("invoicing".to_string(), true), ("recurring".to_string(), false)]);
    let put = |module: &str| Change::PutModule { tenant: "acme".into(), module: module.into(), version: "1.0.0".into(), at: AT.into() };
    let add = Change::AddFlags { tenant: "acme".into(), module: "finance".into(), flags, at: AT.into() };
    let landlord_only = Change::KeepFile {
        tenant: "acme".into(),
        module: None,
        version: None,
        kind: FileKind::Tenant,
        path: "elsewhere".into(),
        job: None,
        at: AT.into(),
    };
    db.record(&[put("finance"), add, landlord_only]).unwrap();
    db.record(&change::set_flag_in_tenant_file("acme", "finance", "recurring", true, false, "2026-11-22T11:00:00.000Z")).unwrap();
    db.record(&[Change::SetEnabled { tenant: "acme".into(), module: "finance".into(), enabled: false, at: AT.into() }]).unwrap();
    db.commit().unwrap();
    assert!(db.unrecorded().unwrap().is_empty());
    let records = tenants.check("acme").unwrap().records.unwrap();
    assert_eq!(records.created_at.as_deref(), Some(AT));
    assert!(!records.enabled["finance"].enabled);
    let flags: Vec<(&str, bool)> = records.flags["finance"].iter().map(|f| (f.flag.as_str(), f.value)).collect();
    assert_eq!(flags, [("invoicing", true), ("recurring", true)]);

    // What a rolled-back transaction recorded is not kept.
    db.begin().unwrap();
    db.record(&[Change::SetEnabled { tenant: "acme".into(), module: "finance".into(), enabled: true, at: AT.into() }]).unwrap();
    db.rollback().unwrap();
    assert!(!tenants.check("acme").unwrap().records.unwrap().enabled["finance"].enabled);
}

pub fn job_marks_commit_with_the_work_and_roll_back_with_it(fixture: &dyn Fixture) {
    let (_tenants, mut db) = fresh(fixture, "acme");
    db.begin().unwrap();
    db.apply(&membership(), true, &BTreeSet::new()).unwrap();
    db.mark_jobs(&[7], "batch-1").unwrap();
    db.rollback().unwrap();
    assert!(!db.job_marked(7).unwrap(), "rolled back with the work");
    db.begin().unwrap();
    db.apply(&membership(), true, &BTreeSet::new()).unwrap();
    db.mark_jobs(&[7, 8], "batch-1").unwrap();
    db.commit().unwrap();
    assert!(db.job_marked(7).unwrap() && db.job_marked(8).unwrap());
    assert!(!db.job_marked(9).unwrap());
    let mut again = fixture.tenants().open("acme").unwrap();
    assert!(again.job_marked(8).unwrap(), "another process sees the mark");
}

pub fn a_tenant_lock_is_exclusive_across_handles(fixture: &dyn Fixture) {
    let (first, second) = (fixture.tenants(), fixture.tenants());
    first.create("acme").unwrap();
    first.create("globex").unwrap();
    let held = first.lock("acme", Duration::from_secs(1)).unwrap();
    let busy = second.lock("acme", Duration::ZERO).expect_err("held elsewhere");
    assert_eq!(busy.kind, ErrorKind::Busy);
    assert!(busy.message.contains("tenant `acme` is busy"), "{}", busy.message);
    let _other = second.lock("globex", Duration::ZERO).expect("another tenant is free");
    // A waiter gets the lock once the holder lets go.
    let waiter = std::thread::spawn(move || second.lock("acme", Duration::from_secs(10)).map(drop).map_err(|e| e.message));
    std::thread::sleep(Duration::from_millis(200));
    drop(held);
    waiter.join().unwrap().expect("the waiter gets it");
}

pub fn kept_items_are_placed_apart_found_and_discarded(fixture: &dyn Fixture) {
    let (tenants, mut db) = fresh(fixture, "acme");
    install(db.as_mut(), &finance(), &[]);
    let first = tenants.place("acme", KeepFor::Archive { module: "finance", version: "1.0.0", batch: "b1" });
    let second = tenants.place("acme", KeepFor::Archive { module: "finance", version: "1.0.0", batch: "b2" });
    let copy = tenants.place("acme", KeepFor::UpgradeCopy { module: "finance", from: "1.0.0", batch: "b1" });
    assert!(first != second && first != copy, "each batch and kind gets its own place");
    assert_eq!(tenants.kept_size(&first), None, "placing writes nothing");
    // A pre-upgrade copy leaves the module in place; each uninstall archives it whole.
    db.begin().unwrap();
    db.save_module("finance", &BTreeMap::new(), &copy).unwrap();
    db.commit().unwrap();
    assert_eq!(fixture.rows("acme", "invoices"), Some(3), "a copy leaves the module as it was");
    for archive in [&first, &second] {
        db.begin().unwrap();
        db.save_module("finance", &BTreeMap::new(), archive).unwrap();
        db.remove_module("finance").unwrap();
        db.commit().unwrap();
        install(db.as_mut(), &finance(), &[]);
    }
    let items = tenants.kept_here(None, &[first.clone(), Kept::new("not-kept-here")]).unwrap();
    let mut found: Vec<(FileKind, bool)> = items.iter().map(|i| (i.kind, i.referenced)).collect();
    found.sort_by_key(|(k, r)| (k.as_str(), *r));
    assert_eq!(found, [(FileKind::Uninstall, false), (FileKind::Uninstall, true), (FileKind::UpgradeCopy, false)], "{items:?}");
    assert!(items.iter().all(|i| i.tenant == "acme" && !i.partial && i.written_at.is_some()));
    assert!(tenants.kept_here(Some(&BTreeSet::from(["globex"])), &[]).unwrap().is_empty(), "only the tenants asked for");
    assert!(tenants.discard_kept(&second).unwrap());
    assert!(!tenants.discard_kept(&second).unwrap(), "gone already");
    assert_eq!(tenants.kept_size(&second), None);
    assert!(tenants.read_archive(&second).is_err());
    assert_eq!(tenants.read_archive(&first).unwrap().rows, 3);
    assert_eq!(tenants.read_archive(&copy).unwrap().rows, 3);
    assert_eq!(tenants.kept_here(None, &[]).unwrap().len(), 2);
}

pub fn the_scratch_database_applies_and_refuses_like_a_tenant(fixture: &dyn Fixture) {
    let tenants = fixture.tenants();
    let mut scratch = tenants.scratch().unwrap();
    install(scratch.as_mut(), &membership(), &[]);
    assert_eq!(modules(scratch.as_mut()), [("membership".into(), "1.0.0".into())]);
    let cards = module("cards", "1.0.0", &[("V1__cards", "DELETE FROM members;")], &[]);
    assert!(refused(scratch.as_mut(), &cards, &[]).error.message.contains("may not write to `members`"));
    assert!(tenants.names().unwrap().is_empty(), "a scratch database is no tenant");
    assert_eq!(scratch.save_checkpoint().unwrap(), None, "nothing to keep of it");
}

pub fn a_copy_is_written_while_the_tenant_is_open(fixture: &dyn Fixture) {
    let (tenants, mut db) = fresh(fixture, "acme");
    install(db.as_mut(), &finance(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("acme.copy");
    db.begin().unwrap();
    db.apply(&membership(), true, &BTreeSet::new()).unwrap();
    let size = tenants.copy_to("acme", &dest).unwrap();
    db.rollback().unwrap();
    assert!(size > 0 && dest.is_file());
    assert!(tenants.copy_to("nobody", &dir.path().join("x")).is_err(), "no tenant, no copy");
}
