//! Interruption by SIGINT and SIGTERM. A signal handler, which the CLI installs with
//! [`catch`] for the commands that run jobs, records the first such signal and counts
//! them in process-wide atomics; [`ProcessSignals`] reads them behind the
//! [`Interrupts`] trait that the ops, the SQL sandbox and the hook runner ask. Without
//! `catch` nothing ever sets them: the library API and the tests see no interruption,
//! and a signal ends the process as the system's default says.
//!
//! The handler does only what is async-signal-safe: atomic loads and stores, and one
//! `write(2)` of a line prepared before it was installed.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use crate::domain::{Error, Interruption, Result};
use crate::store::Interrupts;

/// The first SIGINT or SIGTERM that arrived (0: none yet).
static FIRST: AtomicI32 = AtomicI32::new(0);
/// How many arrived.
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// What the handler writes to stderr.
static LINES: OnceLock<Lines> = OnceLock::new();

/// What the handler writes to stderr (each a whole line, with its newline): at the first
/// signal, and at every one after it, while the work in flight is being undone.
#[derive(Debug, Clone, Default)]
pub struct Lines {
    pub first: Option<String>,
    pub again: Option<String>,
}

/// The interruption that arrived, if one did: the first signal decides.
pub fn received() -> Option<Interruption> {
    match FIRST.load(Ordering::SeqCst) {
        libc::SIGINT => Some(Interruption::Interrupt),
        libc::SIGTERM => Some(Interruption::Terminate),
        _ => None,
    }
}

/// The interruptions of this process, as [`catch`] records them.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessSignals;

impl Interrupts for ProcessSignals {
    fn interrupted(&self) -> Option<Interruption> {
        received()
    }
}

/// From now on SIGINT and SIGTERM no longer end the process: they are recorded, for the
/// work to stop and roll back, and `lines` says what to print when they come. Once per
/// process; later calls keep the first call's lines.
pub fn catch(lines: Lines) -> Result<()> {
    let _ = LINES.set(lines);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid value to fill in; the handler only uses
        // async-signal-safe operations; SA_RESTART lets interrupted system calls go on,
        // so that no read or wait elsewhere fails with EINTR.
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if installed != 0 {
            return Err(Error::internal(format!("cannot catch signal {signal}: {}", std::io::Error::last_os_error())));
        }
    }
    Ok(())
}

/// Records `interruption` as if its signal had arrived, without the line: for a
/// process that handles the signals itself (`modreg serve`, which first lets the work
/// in flight finish) and then wants that work stopped and rolled back.
pub fn raise(interruption: Interruption) {
    let signal = match interruption {
        Interruption::Interrupt => libc::SIGINT,
        Interruption::Terminate => libc::SIGTERM,
    };
    let _ = FIRST.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    COUNT.fetch_add(1, Ordering::SeqCst);
}

extern "C" fn on_signal(signal: libc::c_int) {
    // The code the signal interrupted may be about to read errno; write(2) may set it.
    // SAFETY: this thread's errno location is always valid.
    #[cfg(target_os = "linux")]
    let errno = unsafe { *libc::__errno_location() };
    let _ = FIRST.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    let before = COUNT.fetch_add(1, Ordering::SeqCst);
    // `OnceLock::get` is an atomic load: safe here.
    if let Some(lines) = LINES.get() {
        let line = if before == 0 { &lines.first } else { &lines.again };
        if let Some(line) = line {
            // SAFETY: write(2) is async-signal-safe; the buffer lives as long as the process.
            unsafe {
                libc::write(libc::STDERR_FILENO, line.as_ptr().cast(), line.len());
            }
        }
    }
    // SAFETY: as above.
    #[cfg(target_os = "linux")]
    unsafe {
        *libc::__errno_location() = errno;
    }
}

/// An interruption a test sets by hand, for the stores that ask one.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Switch(std::sync::Mutex<Option<Interruption>>);

#[cfg(test)]
impl Switch {
    pub(crate) fn set(&self, interruption: Interruption) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(interruption);
    }
}

#[cfg(test)]
impl Interrupts for Switch {
    fn interrupted(&self) -> Option<Interruption> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
