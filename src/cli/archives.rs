//! `modreg archives list [--tenant T]` and `modreg archives prune --older-than DURATION [--dry-run]`

use std::time::Duration;

use clap::{Args, Subcommand};

use crate::cli::render::{self, bytes_text};
use crate::cli::{Done, Env, tenant};
use crate::domain::{Error, Result};
use crate::ops::archives::{self, PruneOptions};

#[derive(Debug, Args)]
pub struct ArchivesArgs {
    #[command(subcommand)]
    command: ArchivesCommand,
}

#[derive(Debug, Subcommand)]
enum ArchivesCommand {
    /// Kept files with their sizes, what they hold and what `install --restore` would bring back
    List {
        /// Only this tenant's (also a removed tenant's)
        #[arg(long, short = 't', value_name = "TENANT")]
        tenant: Option<String>,
    },
    /// Delete kept files older than a duration; their records stay, marked forgotten
    Prune {
        /// How old a file must be to go: a number and a unit, as in `30d`, `12h`, `90m` or `45s`
        #[arg(long, value_name = "DURATION")]
        older_than: String,
        /// List what would go and delete nothing
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(args: ArchivesArgs, env: &Env) -> Result<Done> {
    match args.command {
        ArchivesCommand::List { tenant: name } => {
            let name = name.as_deref().map(tenant).transpose()?;
            let report = archives::list(&env.context()?, name.as_ref())?;
            env.output.data(&report, || render::kept_files(&report.archives, true));
            Ok(Done::Success)
        }
        ArchivesCommand::Prune { older_than, dry_run } => {
            let options = PruneOptions { older_than: parse_duration(&older_than)?, dry_run };
            let report = archives::prune(&env.context()?, &options, &env.reporter)?;
            env.output.data(&report, || if report.pruned.is_empty() { String::new() } else { render::kept_files(&report.pruned, false) });
            let (count, freed) = (report.pruned.len(), bytes_text(report.freed_bytes));
            if count == 0 {
                env.output.status("Unchanged", &format!("no kept file is older than {older_than}"));
            } else if dry_run {
                env.output.status(
                    "Would",
                    &format!("prune {count} kept file(s) older than {older_than} ({freed}); nothing was deleted (--dry-run)"),
                );
            } else {
                env.output.status("Pruned", &format!("{count} kept file(s) older than {older_than}, {freed} freed"));
            }
            if report.elsewhere > 0 {
                env.output.warning(&format!(
                    "{} kept file(s) older than {older_than} are on other hosts, which prune their own",
                    report.elsewhere
                ));
            }
            for failure in &report.failed {
                env.output.warning(&format!("{}; it stays kept", failure.error));
            }
            Ok(if report.failed.is_empty() { Done::Success } else { Done::Exit(1) })
        }
    }
}

/// `30d`, `12h`, `90m`, `45s` or `2w`: a whole number and one unit.
fn parse_duration(text: &str) -> Result<Duration> {
    let invalid = || {
        Error::invalid(format!("`--older-than {text}` is not a duration"))
            .with_hint("write a whole number and a unit: `30d` (days), `12h` (hours), `90m` (minutes), `45s` (seconds) or `2w` (weeks)")
    };
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        "w" => 7 * 24 * 60 * 60,
        _ => return Err(invalid()),
    };
    number.checked_mul(seconds).map(Duration::from_secs).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_a_whole_number_and_a_unit() {
        assert_eq!(parse_duration("30d").unwrap(), Duration::from_secs(30 * 86_400));
        assert_eq!(parse_duration("12h").unwrap(), Duration::from_secs(12 * 3_600));
        assert_eq!(parse_duration("90m").unwrap(), Duration::from_secs(5_400));
        assert_eq!(parse_duration("45s").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_duration("2w").unwrap(), Duration::from_secs(14 * 86_400));
        assert_eq!(parse_duration("0d").unwrap(), Duration::ZERO);
        for bad in ["", "d", "30", "30x", "30 d", "-1d", "1.5d", "30dd", "99999999999999999999d", "18446744073709551615w"] {
            let error = parse_duration(bad).expect_err(bad);
            assert_eq!(error.kind, crate::domain::ErrorKind::Invalid, "{bad}");
            assert!(error.message.contains(&format!("`--older-than {bad}`")), "{}", error.message);
        }
    }
}
