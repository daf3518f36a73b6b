//! Fault injection for the crash tests: in debug builds only, `MODREG_FAULT_POINT=<name>`
//! makes the process kill itself with SIGKILL when it reaches the named point, exactly as
//! an operator's `kill -9` would. Release builds compile the check away.

/// The points, in the order a job reaches them.
pub const POINTS: [&str; 4] = ["jobs-started", "module-applied", "tenant-committed", "landlord-completed"];

pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("MODREG_FAULT_POINT").is_ok_and(|p| p == name) {
        // SAFETY: raise(2) on our own process; SIGKILL ends it here without unwinding.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
    let _ = name;
}
