//! The pure core: names, manifests, module versions, the catalog, resolution, jobs and
//! events, changes to the landlord and what tenant files record of them, "did you mean"
//! suggestions, and the error type with its exit codes. Nothing
//! here touches files, SQLite, processes, clocks or terminals; `ops` feeds it values and
//! acts on its answers.

pub mod catalog;
pub mod change;
pub mod diagnostic;
pub mod error;
pub mod event;
pub mod graph;
pub mod job;
pub mod manifest;
pub mod module;
pub mod name;
pub mod ownership;
pub mod recorded;
pub mod resolver;
pub mod statements;
pub mod suggest;

pub use error::{Error, ErrorKind, Interruption, Result, StorageState};

/// A size: bytes below a KiB, else in KiB, MiB or GiB with one decimal.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
