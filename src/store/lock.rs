//! Cross-process locks on files, with the operating system's advisory locks: a killed
//! process cannot leave one behind, because the kernel releases it with the process.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::domain::Error;

/// A held exclusive lock; released when dropped.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Waits up to `timeout` for the lock at `path`. `Err(None)` means it timed out.
    pub fn acquire(path: &Path, timeout: Duration) -> Result<FileLock, Option<Error>> {
        let open = || OpenOptions::new().create(true).truncate(false).write(true).open(path);
        // The folder exists after the first lock: create it only when missing, not on
        // every call (fleet commands take thousands of locks).
        let file = match open() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                path.parent().map_or(Err(e), |parent| std::fs::create_dir_all(parent).and_then(|()| open()))
            }
            other => other,
        }
        .map_err(|e| Some(Error::internal(format!("cannot open lock file `{}`: {e}", path.display()))))?;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FileLock { _file: file }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(Some(Error::internal(format!("cannot lock `{}`: {e}", path.display())))),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(None);
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

/// Raises this process's limit of open files (its soft limit, up to the hard one) so
/// that it can hold `locks` locks at once besides what it needs otherwise; best effort.
pub fn allow_open_files(locks: usize) {
    const BESIDES: u64 = 256;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read or write only the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        let wanted = (locks as u64).saturating_add(BESIDES).min(limit.rlim_max);
        if wanted > limit.rlim_cur {
            limit.rlim_cur = wanted;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/t.lock");
        let held = FileLock::acquire(&path, Duration::ZERO).unwrap();
        let started = Instant::now();
        assert!(matches!(FileLock::acquire(&path, Duration::from_millis(30)), Err(None)));
        assert!(started.elapsed() >= Duration::from_millis(30));
        drop(held);
        assert!(FileLock::acquire(&path, Duration::ZERO).is_ok());
    }
}
