//! Consistent copies of SQLite files while other processes keep working on them:
//! SQLite's online backup, every page in one step under one read transaction, into a
//! file that carries its final name only once it is complete, checked and synced.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use crate::domain::{Error, Result};
use crate::store::sqlite::check::{open_read_only, quick};
use crate::store::sqlite::error::{configure, read_or_write_error, sql_error};
use crate::store::sqlite::files::{remove_if_exists, with_suffix};
use crate::store::storage::io_error;

/// Copies every page of `from` into `to`, in one step; waits up to `busy_timeout` while
/// another connection holds a lock the copy needs.
pub(crate) fn copy_pages(from: &Connection, to: &mut Connection, busy_timeout: Duration) -> rusqlite::Result<bool> {
    let backup = Backup::new(from, to)?;
    let deadline = Instant::now() + busy_timeout;
    loop {
        match backup.step(-1)? {
            StepResult::Done => return Ok(true),
            StepResult::More => {}
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => return Ok(false),
        }
    }
}

/// Writes a consistent copy of the database at `source` (named `source_what` in errors)
/// to `dest`, a file of its own (no write-ahead log), and checks that every page of it
/// reads (`quick_check`): a copy of a damaged file is refused, not kept. Returns the
/// copy's size.
pub(crate) fn copy_database(source: &Path, source_what: &str, dest: &Path, busy_timeout: Duration) -> Result<u64> {
    let dest_what = format!("the copy `{}`", dest.display());
    let partial = with_suffix(dest, ".partial");
    remove_if_exists(&partial)?;
    let written = write_copy(source, source_what, &partial, &dest_what, busy_timeout).and_then(|()| {
        std::fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&partial, dest))
            .map_err(|e| io_error(format!("cannot finish {dest_what}"), e))?;
        std::fs::metadata(dest).map(|m| m.len()).map_err(|e| io_error(format!("cannot read {dest_what}"), e))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

fn write_copy(source: &Path, source_what: &str, partial: &Path, dest_what: &str, busy_timeout: Duration) -> Result<()> {
    let from = open_read_only(source, busy_timeout).map_err(|e| sql_error(source_what, e))?;
    let mut to = Connection::open(partial).map_err(|e| sql_error(dest_what, e))?;
    configure(&to, busy_timeout).map_err(|e| sql_error(dest_what, e))?;
    let fail = |e| read_or_write_error(e, source_what, dest_what);
    if !copy_pages(&from, &mut to, busy_timeout).map_err(fail)? {
        return Err(Error::busy(format!("{source_what} stayed locked by another process past the lock timeout; nothing was copied"))
            .with_hint("retry when it is less busy, or raise `--lock-timeout`"));
    }
    // The copy is one file: it opens anywhere, also read-only, without a log beside it.
    to.pragma_update(None, "journal_mode", "DELETE").map_err(|e| sql_error(dest_what, e))?;
    let problems = quick(&to).map_err(fail)?;
    if let Some(first) = problems.first() {
        return Err(Error::storage(format!("{source_what} is damaged, so its copy was not kept: {first}"))
            .with_hint("run `modreg doctor`, and put the file back from an older backup"));
    }
    Ok(())
}
