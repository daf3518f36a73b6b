//! Human tables read well off a terminal too: the detail of one thing has no empty header
//! row, free text wraps to 100 columns when stdout is not a terminal (as here, a pipe),
//! and a step that took less than a millisecond says `<1`, not `0`. Hook output, shown
//! after the tables, stays as the hook wrote it.

use crate::support::World;

/// The lines of the tables in `shown`.
fn table_lines(shown: &str) -> Vec<&str> {
    shown.lines().filter(|l| l.starts_with(['│', '┌', '└', '╞'])).collect()
}

/// The rows of the steps table of `jobs show` output: (step, status, ms).
fn step_rows(shown: &str) -> Vec<(String, String, String)> {
    let steps = shown.split_once("│ step").map(|(_, rest)| rest).unwrap_or_default();
    steps
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> =
                line.trim_matches(|c| c == '│' || c == ' ').split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
            match cells.as_slice() {
                [step, status @ ("ok" | "failed" | "skipped" | "started"), ms, ..] => {
                    Some((step.to_string(), status.to_string(), ms.to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

#[test]
fn a_failed_job_with_long_text_fits_100_columns_without_a_header_row_or_zero_durations() {
    let world = World::new();
    let complaint = "the billing service answered that every one of the three hundred invoices it was sent \
                     is a duplicate of an invoice it already holds, and refused them all";
    world
        .module("billing", "billing", "1.0.0")
        .migration(
            "V1__billing",
            "CREATE TABLE billing_invoices (id INTEGER PRIMARY KEY);\nCREATE TABLE billing_payments (id INTEGER PRIMARY KEY);",
        )
        .flag("send_reminders_to_every_member_with_an_open_balance", true)
        .hook("post_install", &format!("echo '{complaint}' >&2; exit 3"))
        .write();
    world.ok(&["tenant", "add", "acme"]);
    world.run(&["install", "billing", "--tenant", "acme"]).code(1);
    let job = world.jobs().last().unwrap()["id"].to_string();
    let shown = world.ok(&["jobs", "show", &job]).stdout;
    let tables = table_lines(&shown);
    let widest = tables.iter().map(|l| l.chars().count()).max().unwrap();
    assert!(widest <= 100, "a line of {widest} columns:\n{shown}");
    // The error and the failed step's detail are each longer than a line: they wrapped,
    // and every word of the hook's complaint is still there, in order.
    let (details, output) = shown.split_once("--- output of post_install hook ---").unwrap();
    let words: Vec<&str> = details.split(|c: char| c.is_whitespace() || c == '│').filter(|w| !w.is_empty()).collect();
    let complaint_words: Vec<&str> = complaint.split_whitespace().collect();
    let found = words.windows(complaint_words.len()).filter(|w| *w == complaint_words.as_slice()).count();
    assert_eq!(found, 2, "the complaint is not whole in the error and in the step's detail:\n{shown}");
    assert_eq!(output.trim(), complaint, "the hook's output was changed");
    // The job's details open with their first row, not an empty header.
    let first_row = shown.lines().nth(1).unwrap();
    assert!(first_row.starts_with("│ job "), "{shown}");
    assert!(!tables.iter().any(|l| l.trim_matches(|c| c == '│' || c == ' ').is_empty()), "an empty row:\n{shown}");
    let steps = step_rows(&shown);
    assert!(steps.iter().any(|(step, status, _)| step == "post_install hook" && status == "failed"), "{steps:?}\n{shown}");
    assert!(steps.iter().any(|(step, _, ms)| step == "record objects" && ms == "<1"), "{steps:?}\n{shown}");
    assert!(steps.iter().all(|(_, _, ms)| ms != "0"), "a duration of 0 ms:\n{shown}");
}

#[test]
fn modules_show_has_no_header_row_and_wraps_a_long_description() {
    let world = World::new();
    let description = "Keeps the register of every member, their household, the dues they owe and have paid, and \
                       the letters sent to them";
    world.write(
        "modules/register/module.toml",
        &format!("[module]\nname = \"register\"\nversion = \"1.0.0\"\ndescription = \"{description}\"\n"),
    );
    let shown = world.ok(&["modules", "show", "register"]).stdout;
    assert!(shown.lines().all(|l| l.chars().count() <= 100), "{shown}");
    assert!(!shown.lines().any(|l| l.contains(description)), "the description did not wrap:\n{shown}");
    let rows: Vec<&str> = shown.lines().skip(1).collect();
    assert!(rows[0].starts_with('┌') && rows[1].starts_with("│ version "), "{shown}");
    assert!(!shown.contains('╞'), "a header separator:\n{shown}");
    let text: Vec<&str> = shown.split(|c: char| c.is_whitespace() || c == '│').filter(|w| !w.is_empty()).collect();
    assert!(text.windows(2).any(|w| w == ["Keeps", "the"]) && text.contains(&"letters"), "{shown}");
}
