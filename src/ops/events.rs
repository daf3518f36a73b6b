//! `modreg events [--after ID] [--follow]`, and delivery of new events to
//! `MODREG_EVENT_COMMAND`: each event as one JSON line on the command's stdin, at least
//! once, in order, with a cursor in the landlord so that a failed delivery is retried by
//! the next run.

use std::path::PathBuf;

use crate::domain::event::Event;
use crate::domain::{Error, Result};
use crate::ops::Context;
use crate::store::{HookCall, HookStatus};

/// The cursor the event command's deliveries advance.
pub const COMMAND_CURSOR: &str = "event_command";

pub fn read(ctx: &Context, after: i64, limit: usize) -> Result<Vec<Event>> {
    ctx.landlord.events_after(after, limit)
}

/// The last event id (0 when there is none), for `--follow` without `--after`.
pub fn last_id(ctx: &Context) -> Result<i64> {
    let mut last = 0;
    loop {
        let batch = ctx.landlord.events_after(last, 1000)?;
        match batch.last() {
            Some(e) => last = e.id,
            None => return Ok(last),
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DeliveryReport {
    pub delivered: usize,
    /// Why delivery stopped early; the rest is retried by the next run.
    pub failure: Option<String>,
}

/// Delivers events after the cursor to `command`. Another process delivering at the same
/// time, on any host sharing the landlord, makes this one step aside.
pub fn deliver(ctx: &Context, command: &str) -> Result<DeliveryReport> {
    let Some(_exclusive) = ctx.landlord.try_exclusive("event-delivery")? else {
        return Ok(DeliveryReport::default());
    };
    let mut report = DeliveryReport::default();
    let mut cursor = ctx.landlord.cursor(COMMAND_CURSOR)?;
    loop {
        let events = ctx.landlord.events_after(cursor, 200)?;
        if events.is_empty() {
            return Ok(report);
        }
        for event in events {
            let line = serde_json::to_string(&event).map_err(|e| Error::internal(e.to_string()))? + "\n";
            let call = HookCall {
                program: PathBuf::from("/bin/sh"),
                args: vec!["-c".into(), command.to_string()],
                dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
                env: vec![("MODREG_EVENT_ID".into(), event.id.to_string()), ("MODREG_EVENT_TYPE".into(), event.kind.to_string())],
                timeout: ctx.settings.hook_timeout,
                stdin: Some(line),
                interruptible: true,
                confined: false,
            };
            let outcome = ctx.hooks.run(&call);
            if outcome.status != HookStatus::Succeeded {
                let output = outcome.output.trim();
                report.failure = Some(format!(
                    "the event command `{command}` failed on event {} ({:?}){}",
                    event.id,
                    outcome.status,
                    if output.is_empty() { String::new() } else { format!(": {output}") }
                ));
                return Ok(report);
            }
            cursor = event.id;
            ctx.landlord.set_cursor(COMMAND_CURSOR, cursor, &ctx.now())?;
            report.delivered += 1;
        }
    }
}
