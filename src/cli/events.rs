//! `modreg events [--after ID] [--follow]`: one JSON object a line. `--follow` runs
//! until SIGINT or SIGTERM, and then ends cleanly between events, with the signal's
//! exit code.

use std::time::Duration;

use clap::Args;

use crate::cli::output::print_stdout;
use crate::cli::{Done, Env};
use crate::domain::{Error, Result};
use crate::ops::events;
use crate::store::interrupt;

/// How long `--follow` waits for a change before it looks again (and for a signal).
const FOLLOW_WAIT: Duration = Duration::from_millis(500);

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only events after this id
    #[arg(long, value_name = "ID")]
    after: Option<i64>,
    /// Keep waiting for new events
    #[arg(long, short = 'f')]
    follow: bool,
    /// At most this many events (without --follow)
    #[arg(long, short = 'n', value_name = "N")]
    limit: Option<usize>,
}

pub fn run(args: EventsArgs, env: &Env) -> Result<Done> {
    let ctx = env.context()?;
    if args.follow {
        interrupt::catch(interrupt::Lines::default())?;
    }
    let mut after = args.after.unwrap_or(0);
    let mut left = args.limit.unwrap_or(usize::MAX);
    let mut following = false;
    loop {
        let seen = ctx.landlord.data_version()?;
        loop {
            let batch = events::read(&ctx, after, left.min(500))?;
            if batch.is_empty() {
                break;
            }
            let mut out = String::new();
            for event in &batch {
                out.push_str(&serde_json::to_string(event).map_err(|e| Error::internal(e.to_string()))?);
                out.push('\n');
                after = event.id;
            }
            print_stdout(&out);
            left = left.saturating_sub(batch.len());
            if left == 0 && !args.follow {
                return Ok(Done::Success);
            }
        }
        if !args.follow {
            return Ok(Done::Success);
        }
        if let Some(interruption) = interrupt::received() {
            env.output.status("Stopped", &format!("following events after {after} ({})", interruption.signal_name()));
            return Ok(Done::Exit(interruption.exit_code()));
        }
        if !following {
            env.output.status("Following", &format!("events after {after}; stop with Ctrl-C"));
            following = true;
        }
        // Wakes when something commits (at once on PostgreSQL, which announces it);
        // the timeout bounds the wait, and how long a signal waits to be seen.
        ctx.landlord.wait_for_change(seen, FOLLOW_WAIT)?;
    }
}
