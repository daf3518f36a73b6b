//! Human tables, in one place, with comfy-table.

use std::collections::{BTreeSet, HashMap};

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{ContentArrangement, Table};

pub use crate::domain::bytes_text;
use crate::domain::job::{Step, StepStatus};
use crate::ops::archives::{FileState, KeptFile};
use crate::ops::backup::BackupReport;
use crate::ops::doctor::{Finding, Severity};
use crate::ops::history::HistoryRow;
use crate::ops::rebuild_landlord::RebuildReport;
use crate::ops::{PlanRow, TenantResult};

/// How wide a table with free text may be when stdout is not a terminal (a pipe, a file,
/// a CI log), where there is no width to ask.
const WIDTH_WITHOUT_TERMINAL: u16 = 100;

/// A table with the house look: light borders, wrapped to the terminal.
fn bare() -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_BORDERS_ONLY).set_content_arrangement(ContentArrangement::Dynamic);
    table
}

/// A table with the house look and a header.
pub fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut table = bare();
    table.set_header(header);
    table
}

/// A table whose cells hold free text (a step's detail, an error): its widest cells wrap
/// to the terminal, or to 100 columns when stdout is not a terminal.
pub fn wrapped(mut table: Table) -> Table {
    if table.width().is_none() {
        table.set_width(WIDTH_WITHOUT_TERMINAL);
    }
    table
}

/// Names and their values, one a row, without a header: the detail of one thing
/// (`jobs show`, `modules show`). Long values wrap as in [`wrapped`].
pub fn key_values<'a>(rows: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let mut table = bare();
    for (key, value) in rows {
        table.add_row([key.to_string(), value]);
    }
    text(wrapped(table))
}

/// A step's duration in milliseconds as a table shows it: `<1` for work that took less
/// than a millisecond (stored as 0), `-` for a step that did not run to its end.
pub fn step_milliseconds(step: &Step) -> String {
    match (step.status, step.duration_ms) {
        (StepStatus::Skipped | StepStatus::Started, _) => "-".to_string(),
        (_, 0) => "<1".to_string(),
        (_, ms) => ms.to_string(),
    }
}

pub fn text(table: Table) -> String {
    format!("{table}\n")
}

pub fn or_dash(value: Option<&str>) -> String {
    value.map_or_else(|| "-".to_string(), str::to_string)
}

/// Why a plan row is there, with the deprecation notice of its target version.
fn why(row: &PlanRow) -> String {
    match &row.deprecated {
        Some(note) => format!("{} (deprecated: {note})", row.reason),
        None => row.reason.clone(),
    }
}

/// Every row of a plan: a tenant's, or a fleet's with `-v`.
pub fn plan(rows: &[PlanRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut t = table(["#", "tenant", "module", "action", "from", "to", "why"]);
    for (i, row) in rows.iter().enumerate() {
        t.add_row([
            (i + 1).to_string(),
            row.tenant.clone(),
            row.module.clone(),
            row.action.clone(),
            or_dash(row.from_version.as_deref()),
            or_dash(row.to_version.as_deref()),
            why(row),
        ]);
    }
    text(t)
}

/// A fleet's plan in as many rows as it has distinct changes, not tenants: one for each
/// module, action and versions, with the number of tenants it is for ("install forum
/// 1.0.0 on 600 tenants") and each of its reasons once. Rows keep the order in which
/// their change first appears, which is dependency order.
pub fn plan_by_change(rows: &[PlanRow]) -> String {
    type Key<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>);
    let mut groups: Vec<(Key<'_>, BTreeSet<&str>, Vec<String>)> = Vec::new();
    let mut index: HashMap<Key<'_>, usize> = HashMap::new();
    for row in rows {
        let key = (row.module.as_str(), row.action.as_str(), row.from_version.as_deref(), row.to_version.as_deref());
        let at = *index.entry(key).or_insert_with(|| {
            groups.push((key, BTreeSet::new(), Vec::new()));
            groups.len() - 1
        });
        let (_, tenants, reasons) = &mut groups[at];
        tenants.insert(row.tenant.as_str());
        let reason = why(row);
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    if groups.is_empty() {
        return String::new();
    }
    let mut t = table(["module", "action", "from", "to", "tenants", "why"]);
    for ((module, action, from, to), tenants, reasons) in groups {
        t.add_row([module.to_string(), action.to_string(), or_dash(from), or_dash(to), tenants.len().to_string(), reasons.join("; ")]);
    }
    text(t)
}

/// Why a fleet's tenant failed or was skipped (empty for the others).
fn tenant_reason(tenant: &TenantResult) -> String {
    match (&tenant.error, tenant.outcome.as_str()) {
        (Some(error), _) => error.clone(),
        (None, "skipped") => "not started: an earlier tenant failed and `--fail-fast` stopped the run".to_string(),
        (None, _) => String::new(),
    }
}

/// Every tenant of a fleet with its outcome, one line each (`-v`).
pub fn fleet_tenants(tenants: &[TenantResult]) -> String {
    if tenants.is_empty() {
        return String::new();
    }
    let mut t = table(["tenant", "outcome", "jobs", "error"]);
    for row in tenants {
        t.add_row([row.tenant.clone(), row.outcome.clone(), row.jobs.to_string(), cut(&tenant_reason(row), 100)]);
    }
    text(t)
}

/// Only the tenants of a fleet that failed or were skipped, each with its whole reason;
/// the others are counted in the summary line. Empty when there are none.
pub fn fleet_problems(tenants: &[TenantResult]) -> String {
    let problems: Vec<&TenantResult> = tenants.iter().filter(|t| t.outcome == "failed" || t.outcome == "skipped").collect();
    if problems.is_empty() {
        return String::new();
    }
    let mut t = table(["tenant", "outcome", "reason"]);
    for row in problems {
        t.add_row([row.tenant.clone(), row.outcome.clone(), tenant_reason(row)]);
    }
    text(wrapped(t))
}

/// A tenant's version history, oldest first (`history`).
pub fn history(rows: &[HistoryRow]) -> String {
    let mut t = table(["at", "module", "change", "from", "to", "job", "actor"]);
    for row in rows {
        t.add_row([
            row.at.clone(),
            row.module.clone(),
            row.change.clone(),
            or_dash(row.from_version.as_deref()),
            or_dash(row.to_version.as_deref()),
            row.job_id.map_or_else(|| "-".to_string(), |id| id.to_string()),
            or_dash(row.actor.as_deref()),
        ]);
    }
    text(t)
}

/// Kept files with their size and where they are (`archives list`, and what `archives
/// prune` deletes); `with_contents` adds what each holds and whether `install --restore`
/// would bring it back.
pub fn kept_files(files: &[KeptFile], with_contents: bool) -> String {
    let mut header = vec!["id", "tenant", "kind", "module", "version", "size", "kept since"];
    if with_contents {
        header.extend(["holds", "restore"]);
    }
    let mut t = table(header);
    for file in files {
        let record = &file.record;
        let size = match (file.file, file.size_bytes, &file.host) {
            (FileState::Present, Some(bytes), _) => bytes_text(bytes),
            (FileState::Elsewhere, _, Some(host)) => format!("on host {host}"),
            (FileState::Elsewhere, _, None) => "not on this host".to_string(),
            _ => "missing".to_string(),
        };
        let mut row = vec![
            record.id.to_string(),
            record.tenant.clone(),
            record.kind.clone(),
            or_dash(record.module.as_deref()),
            or_dash(record.version.as_deref()),
            size,
            record.created_at.clone(),
        ];
        if with_contents {
            let holds = match (&file.holds, &file.problem) {
                (Some(summary), _) => format!("{} table(s), {} row(s)", summary.tables, summary.rows),
                (None, Some(_)) => "unreadable".to_string(),
                (None, None) if record.kind == "tenant" && file.file == FileState::Present => "the tenant's file".to_string(),
                (None, None) => "-".to_string(),
            };
            row.extend([holds, if file.restore { "yes".to_string() } else { "-".to_string() }]);
        }
        t.add_row(row);
    }
    text(t)
}

/// What `doctor` found, errors first: what is wrong, and what fixes it.
pub fn findings(findings: &[Finding]) -> String {
    let mut t = table(["severity", "tenant", "check", "problem", "fix"]);
    for f in findings {
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        t.add_row([severity.to_string(), or_dash(f.tenant.as_deref()), f.check.to_string(), f.message.clone(), f.fix.clone()]);
    }
    text(wrapped(t))
}

/// What a rebuilt landlord needs looked at, a row each: tenant files nothing was rebuilt
/// from, what was assumed, versions gone or changed, subscriptions to grant again.
pub fn rebuild(report: &RebuildReport) -> String {
    let mut t = table(["tenant", "concerns", "what"]);
    let tenants = |list: &[String]| list.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ");
    for n in &report.not_rebuilt {
        t.add_row([n.tenant.clone(), "not rebuilt".into(), n.reason.clone()]);
    }
    for w in &report.warnings {
        t.add_row([w.tenant.clone(), "warning".into(), w.message.clone()]);
    }
    for a in &report.assumed {
        t.add_row([a.tenant.clone(), format!("assumed: {}", a.module.as_deref().unwrap_or("the tenant")), a.assumed.clone()]);
    }
    for v in &report.missing_versions {
        let what = format!(
            "`{} {}` is gone from the modules folder, and the landlord has no copy: put it back, the next command records it",
            v.module, v.version
        );
        t.add_row([tenants(&v.tenants), "version gone".into(), what]);
    }
    for v in &report.changed_versions {
        let what = format!("`{} {}` in the modules folder is not what the tenants installed (another checksum)", v.module, v.version);
        t.add_row([tenants(&v.tenants), "version changed".into(), what]);
    }
    for g in &report.subscriptions {
        t.add_row([g.tenant.clone(), "subscription".into(), format!("`modreg subscription grant --tenant {} {}`", g.tenant, g.module)]);
    }
    if t.row_count() == 0 {
        return String::new();
    }
    text(wrapped(t))
}

/// The files of a backup: what each is, where, its size and when it was copied.
pub fn backup(report: &BackupReport) -> String {
    let mut t = table(["copy of", "file", "size", "copied at"]);
    for file in report.landlord.iter().chain(&report.tenants) {
        let of = file.tenant.as_ref().map_or_else(|| "the landlord".to_string(), |t| format!("tenant {t}"));
        t.add_row([of, file.file.clone(), bytes_text(file.bytes), file.copied_at.clone()]);
    }
    text(t)
}

/// Cuts a long text to `max` characters with an ellipsis.
pub fn cut(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or_default();
    if first.chars().count() <= max && !text.contains('\n') {
        return first.to_string();
    }
    let kept: String = first.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_in_the_largest_unit_below_them() {
        assert_eq!(bytes_text(0), "0 B");
        assert_eq!(bytes_text(1023), "1023 B");
        assert_eq!(bytes_text(1024), "1.0 KiB");
        assert_eq!(bytes_text(24_576), "24.0 KiB");
        assert_eq!(bytes_text(5 * 1024 * 1024 + 512 * 1024), "5.5 MiB");
        assert_eq!(bytes_text(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(bytes_text(4096 * 1024 * 1024 * 1024), "4096.0 GiB");
    }

    #[test]
    fn durations_under_a_millisecond_are_not_zero_and_steps_that_did_not_finish_have_none() {
        let step = |status, duration_ms| Step { name: "migrate V1__a".into(), status, duration_ms, detail: None, output: None };
        assert_eq!(step_milliseconds(&step(StepStatus::Ok, 0)), "<1");
        assert_eq!(step_milliseconds(&step(StepStatus::Failed, 0)), "<1");
        assert_eq!(step_milliseconds(&step(StepStatus::Ok, 1)), "1");
        assert_eq!(step_milliseconds(&step(StepStatus::Failed, 1042)), "1042");
        assert_eq!(step_milliseconds(&step(StepStatus::Skipped, 0)), "-");
        assert_eq!(step_milliseconds(&step(StepStatus::Started, 0)), "-");
    }

    fn row(tenant: &str, module: &str, from: Option<&str>, to: &str, reason: &str) -> PlanRow {
        PlanRow {
            tenant: tenant.into(),
            module: module.into(),
            action: if from.is_some() { "upgrade" } else { "install" }.into(),
            from_version: from.map(Into::into),
            to_version: Some(to.into()),
            reason: reason.into(),
            deprecated: None,
        }
    }

    /// A table's rows as their cells, without borders and header.
    fn cells(table: &str) -> Vec<Vec<String>> {
        table
            .lines()
            .skip(3)
            .filter(|l| l.starts_with('│'))
            .map(|l| l.trim_matches('│').split("   ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect())
            .collect()
    }

    #[test]
    fn a_fleet_plan_has_a_row_per_change_with_its_tenants_counted_once() {
        let rows = [
            row("t1", "app", Some("1.0.0"), "1.2.0", "requested"),
            row("t1", "dep", None, "1.0.0", "required by app"),
            row("t2", "app", Some("1.0.0"), "1.2.0", "requested"),
            row("t3", "app", Some("1.1.0"), "1.2.0", "requested"),
            row("t3", "dep", None, "1.0.0", "required by app"),
            row("t4", "dep", None, "1.0.0", "requested"),
            // The same change twice for one tenant counts the tenant once.
            row("t4", "dep", None, "1.0.0", "requested"),
        ];
        assert_eq!(
            cells(&plan_by_change(&rows)),
            [
                ["app", "upgrade", "1.0.0", "1.2.0", "2", "requested"],
                ["dep", "install", "-", "1.0.0", "3", "required by app; requested"],
                ["app", "upgrade", "1.1.0", "1.2.0", "1", "requested"],
            ]
        );
        assert_eq!(plan_by_change(&[]), "");
    }

    #[test]
    fn only_failed_and_skipped_tenants_are_listed_with_their_reasons() {
        let result = |tenant: &str, outcome: &str, error: Option<&str>| TenantResult {
            tenant: tenant.into(),
            outcome: outcome.into(),
            jobs: 1,
            error: error.map(Into::into),
            error_kind: None,
        };
        let tenants = [
            result("t1", "completed", None),
            result("t2", "failed", Some("boom")),
            result("t3", "unchanged", None),
            result("t4", "skipped", None),
        ];
        let rows = cells(&fleet_problems(&tenants));
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0], ["t2", "failed", "boom"]);
        assert_eq!(rows[1][..2], ["t4", "skipped"]);
        assert!(rows[1][2].contains("`--fail-fast`"), "{rows:?}");
        assert_eq!(fleet_problems(&tenants[..1]), "");
        assert_eq!(cells(&fleet_tenants(&tenants)).len(), 4, "-v shows every tenant");
    }
}
