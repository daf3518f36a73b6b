//! `modreg events [--after ID] [--follow]`: one JSON object a line. `--follow` runs
//! until SIGINT or SIGTERM, and then ends cleanly between events, with the signal's
//! exit code.

use std::time::{Duration, Instant};

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
    // Since when the landlord cannot be reached, while following: it is waited for, and
    // following goes on from the last event printed, none skipped or repeated.
    let mut lost: Option<Instant> = None;
    loop {
        // The version before the read: what commits after it wakes the wait below.
        let printed = ctx.landlord.data_version().and_then(|seen| Ok((print_new(&ctx, &mut after, &mut left, args.follow)?, seen)));
        let seen = match printed {
            Ok((true, _)) => return Ok(Done::Success),
            Ok((false, seen)) => {
                if let Some(since) = lost.take() {
                    env.output.status(
                        "Reconnected",
                        &format!("to the landlord after {:.1} s; following events after {after}", since.elapsed().as_secs_f64()),
                    );
                }
                Some(seen)
            }
            Err(e) if args.follow && e.storage_unreachable() => {
                if lost.is_none() {
                    env.output.warning(&format!("{}; waiting for it to come back (following from event {after})", e.message));
                    lost = Some(Instant::now());
                }
                None
            }
            Err(e) => return Err(e),
        };
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
        match seen {
            // Wakes when something commits (at once on PostgreSQL, which announces it);
            // the timeout bounds the wait, and how long a signal waits to be seen.
            Some(seen) => match ctx.landlord.wait_for_change(seen, FOLLOW_WAIT) {
                Ok(_) => {}
                // Found out again by the next read, which says so.
                Err(e) if e.storage_unreachable() => {}
                Err(e) => return Err(e),
            },
            None => std::thread::sleep(FOLLOW_WAIT),
        }
    }
}

/// Prints the events after `after` (moving it on), up to `left` of them; true when the
/// command is done (the limit is reached and it does not follow).
fn print_new(ctx: &crate::ops::Context, after: &mut i64, left: &mut usize, follow: bool) -> Result<bool> {
    loop {
        let batch = events::read(ctx, *after, (*left).min(500))?;
        if batch.is_empty() {
            return Ok(false);
        }
        let mut out = String::new();
        for event in &batch {
            out.push_str(&serde_json::to_string(event).map_err(|e| Error::internal(e.to_string()))?);
            out.push('\n');
            *after = event.id;
        }
        print_stdout(&out);
        *left = left.saturating_sub(batch.len());
        if *left == 0 && !follow {
            return Ok(true);
        }
    }
}
