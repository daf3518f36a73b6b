//! Human tables, in one place, with comfy-table.

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{ContentArrangement, Table};

use crate::domain::job::{Step, StepStatus};
use crate::ops::PlanRow;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
