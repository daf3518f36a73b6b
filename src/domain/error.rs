//! The error every use-case returns, and the one table that maps it to an exit code
//! (SPEC §6). Typed errors of the other domain modules convert into it; nothing here
//! knows about terminals or processes.

use std::fmt;

/// What kind of failure happened; decides the exit code and the JSON `error.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The operation ran and failed; what it changed was rolled back.
    Failed,
    /// Invalid input: arguments, names, manifests, a changed published version.
    Invalid,
    /// Not found: module, version, tenant, job, flag.
    NotFound,
    /// Dependencies missing, unsatisfiable, conflicting, cyclic, or dependents block.
    Dependency,
    /// A module needs a subscription the tenant does not have.
    Subscription,
    /// Another process holds the tenant (or the landlord) past the lock timeout.
    Busy,
    /// The storage itself failed: the landlord cannot be reached, a disk is full, a file
    /// is damaged. Not a bug of modreg's, and not the input's fault.
    Storage,
    /// SIGINT or SIGTERM stopped the command; the work in flight was rolled back.
    Interrupted,
    /// A bug or an environment fault modreg cannot explain.
    Internal,
}

impl ErrorKind {
    /// The process exit code of SPEC §6. This is the only place that knows the numbers.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Failed => 1,
            ErrorKind::Invalid => 2,
            ErrorKind::NotFound => 3,
            ErrorKind::Dependency => 4,
            ErrorKind::Subscription => 5,
            ErrorKind::Busy => 6,
            ErrorKind::Storage => 7,
            ErrorKind::Interrupted => Interruption::Interrupt.exit_code(),
            ErrorKind::Internal => 70,
        }
    }

    /// The exit code when the process received `interruption` (the first SIGINT or
    /// SIGTERM, if one came): an interrupted command exits with that signal's code.
    pub fn exit_code_after(self, interruption: Option<Interruption>) -> u8 {
        match (self, interruption) {
            (ErrorKind::Interrupted, Some(interruption)) => interruption.exit_code(),
            _ => self.exit_code(),
        }
    }

    /// The `error.kind` string of the JSON error object.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Failed => "failed",
            ErrorKind::Invalid => "invalid",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Dependency => "dependency",
            ErrorKind::Subscription => "subscription",
            ErrorKind::Busy => "busy",
            ErrorKind::Storage => "storage",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Internal => "internal",
        }
    }
}

/// The signal that asked the process to stop: work in flight rolls back, and the exit
/// code says which signal it was (SPEC §6, the shell's 128 + the signal's number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interruption {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: a service manager or `kill` asking to stop.
    Terminate,
}

impl Interruption {
    pub fn exit_code(self) -> u8 {
        match self {
            Interruption::Interrupt => 130,
            Interruption::Terminate => 143,
        }
    }

    pub fn signal_name(self) -> &'static str {
        match self {
            Interruption::Interrupt => "SIGINT",
            Interruption::Terminate => "SIGTERM",
        }
    }

    /// How the reasons and messages of interrupted work begin: `interrupted by SIGINT`.
    pub fn reason(self) -> String {
        format!("interrupted by {}", self.signal_name())
    }
}

/// A user-facing error: a kind, a lowercase message without a trailing period, and an
/// optional hint that says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
    /// Extra facts for `--json` (the jobs of a failed run, the diagnostics…).
    pub details: Option<serde_json::Value>,
    /// For a storage error: whether the storage could not be used (a full disk, an I/O
    /// error) or what it holds is damaged. The two call for opposite remedies: free
    /// space and try again, or put a backup back (which would lose what came since).
    pub storage: Option<StorageState>,
}

/// What a storage error says of the file it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageState {
    /// The disk could not be written or read (full, failing): the file may be sound.
    Unavailable,
    /// A database server could not be reached, or the connection to it broke (a restart,
    /// a network cut): it may answer again in a moment.
    Unreachable,
    /// The file's content is damaged, or it is no database at all.
    Damaged,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), hint: None, details: None, storage: None }
    }

    /// Whether this is a storage error of a disk that could not be used, not of a
    /// damaged file.
    pub fn storage_unavailable(&self) -> bool {
        self.storage == Some(StorageState::Unavailable)
    }

    /// Whether this is a storage error of a server that could not be reached: trying
    /// again in a moment may work.
    pub fn storage_unreachable(&self) -> bool {
        self.storage == Some(StorageState::Unreachable)
    }

    /// Says what the storage error is of.
    pub fn with_storage(mut self, state: StorageState) -> Self {
        self.storage = Some(state);
        self
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Failed, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Invalid, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }

    pub fn dependency(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Dependency, message)
    }

    pub fn subscription(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Subscription, message)
    }

    pub fn busy(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Busy, message)
    }

    pub fn storage(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Storage, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    /// `interruption` stopped `what` (`post_install hook of c 1.0.0 was killed`):
    /// the message starts with its reason, `interrupted by SIGINT: …`.
    pub fn interrupted(interruption: Interruption, what: impl fmt::Display) -> Self {
        Error::new(ErrorKind::Interrupted, format!("{}: {what}", interruption.reason()))
    }

    /// Prefixes the message with what was being done, keeping kind and hint.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The result type of every use-case.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_spec() {
        let table = [
            (ErrorKind::Failed, 1, "failed"),
            (ErrorKind::Invalid, 2, "invalid"),
            (ErrorKind::NotFound, 3, "not_found"),
            (ErrorKind::Dependency, 4, "dependency"),
            (ErrorKind::Subscription, 5, "subscription"),
            (ErrorKind::Busy, 6, "busy"),
            (ErrorKind::Storage, 7, "storage"),
            (ErrorKind::Interrupted, 130, "interrupted"),
            (ErrorKind::Internal, 70, "internal"),
        ];
        for (kind, code, name) in table {
            assert_eq!(kind.exit_code(), code);
            assert_eq!(kind.as_str(), name);
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
        }
    }

    #[test]
    fn the_signal_decides_the_exit_code_of_an_interrupted_command() {
        assert_eq!(ErrorKind::Interrupted.exit_code_after(Some(Interruption::Interrupt)), 130);
        assert_eq!(ErrorKind::Interrupted.exit_code_after(Some(Interruption::Terminate)), 143);
        assert_eq!(ErrorKind::Interrupted.exit_code_after(None), 130);
        // A command that failed for its own reasons keeps its code, signal or not.
        assert_eq!(ErrorKind::Failed.exit_code_after(Some(Interruption::Terminate)), 1);
        let error = Error::interrupted(Interruption::Terminate, "post_install hook of `c 1.0.0` was killed");
        assert_eq!(error.message, "interrupted by SIGTERM: post_install hook of `c 1.0.0` was killed");
        assert_eq!(error.kind, ErrorKind::Interrupted);
    }
}
