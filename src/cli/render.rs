//! Human tables, in one place, with comfy-table.

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{ContentArrangement, Table};

use crate::ops::PlanRow;

/// A table with the house look: a header, light borders, wrapped to the terminal.
pub fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut table = Table::new();
    table.load_style(UTF8_BORDERS_ONLY).set_content_arrangement(ContentArrangement::Dynamic).set_header(header);
    table
}

pub fn text(table: Table) -> String {
    format!("{table}\n")
}

pub fn or_dash(value: Option<&str>) -> String {
    value.map_or_else(|| "-".to_string(), str::to_string)
}

pub fn plan(rows: &[PlanRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut t = table(["#", "tenant", "module", "action", "from", "to", "why"]);
    for (i, row) in rows.iter().enumerate() {
        let why = match &row.deprecated {
            Some(note) => format!("{} (deprecated: {note})", row.reason),
            None => row.reason.clone(),
        };
        t.add_row([
            (i + 1).to_string(),
            row.tenant.clone(),
            row.module.clone(),
            row.action.clone(),
            or_dash(row.from_version.as_deref()),
            or_dash(row.to_version.as_deref()),
            why,
        ]);
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
