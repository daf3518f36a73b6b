//! Jobs and their steps (SPEC §4): the audit trail of every module operation, and the
//! small state machine a job moves through. Pure values; the landlord stores them.

use std::fmt;

/// What a job does to one module of one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Install,
    Upgrade,
    Uninstall,
    Enable,
    Disable,
    Revert,
}

impl JobKind {
    pub const ALL: [JobKind; 6] =
        [JobKind::Install, JobKind::Upgrade, JobKind::Uninstall, JobKind::Enable, JobKind::Disable, JobKind::Revert];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Install => "install",
            JobKind::Upgrade => "upgrade",
            JobKind::Uninstall => "uninstall",
            JobKind::Enable => "enable",
            JobKind::Disable => "disable",
            JobKind::Revert => "revert",
        }
    }

    pub fn parse(text: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a job is in its life: `pending -> running -> completed | failed | rolled_back`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    Completed,
    /// Failed and could not be rolled back; `modreg recover` retries.
    Failed,
    RolledBack,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] =
        [JobStatus::Pending, JobStatus::Running, JobStatus::Completed, JobStatus::Failed, JobStatus::RolledBack];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::RolledBack => "rolled_back",
        }
    }

    pub fn parse(text: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// A finished job never changes again.
    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::RolledBack)
    }

    /// Whether a job may move from `self` to `next`.
    pub fn can_become(self, next: JobStatus) -> bool {
        use JobStatus::*;
        matches!(
            (self, next),
            (Pending, Running)
                | (Pending, RolledBack)
                | (Running, Completed)
                | (Running, Failed)
                | (Running, RolledBack)
                | (Failed, RolledBack)
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job as stored and as printed (SPEC §7 JOB).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    pub batch: String,
    pub tenant: String,
    pub module: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub from_version: Option<String>,
    pub to_version: Option<String>,
    pub actor: String,
    /// The host that runs (or ran) it.
    pub host: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    /// Until when the running process last promised to be alive (it renews this while
    /// it runs); unset for jobs that are not running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<String>,
    /// Unfinished, and its lease ran out: the process that ran it is gone (or cut off).
    /// Decided by the landlord's own clock, so hosts' clocks need not agree.
    #[serde(skip)]
    pub lease_expired: bool,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Recorded before it ran (hooks), so that a crash leaves a trace.
    Started,
    Ok,
    Failed,
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Started => "started",
            StepStatus::Ok => "ok",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<StepStatus> {
        [StepStatus::Started, StepStatus::Ok, StepStatus::Failed, StepStatus::Skipped].into_iter().find(|s| s.as_str() == text)
    }
}

/// One step of a job: a hook, a migration, the seeds, the flags…
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Step {
    pub name: String,
    pub status: StepStatus,
    pub duration_ms: u64,
    pub detail: Option<String>,
    /// A hook's output (stdout then stderr), truncated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// The most a step keeps of a hook's output.
pub const MAX_HOOK_OUTPUT: usize = 16 * 1024;

/// Keeps the start and the end of long output, which is where the story usually is.
pub fn truncate_output(text: &str) -> String {
    if text.len() <= MAX_HOOK_OUTPUT {
        return text.to_string();
    }
    let half = MAX_HOOK_OUTPUT / 2;
    let mut head = half;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - half;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    let dropped = tail - head;
    format!("{}\n… {dropped} bytes not kept …\n{}", &text[..head], &text[tail..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_move_forward_only() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
        }
        assert!(JobStatus::Running.can_become(JobStatus::RolledBack));
        assert!(!JobStatus::Completed.can_become(JobStatus::RolledBack));
        assert!(!JobStatus::RolledBack.can_become(JobStatus::Running));
        for k in JobKind::ALL {
            assert_eq!(JobKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn long_output_keeps_both_ends() {
        let text = format!("start{}end", "é".repeat(MAX_HOOK_OUTPUT));
        let kept = truncate_output(&text);
        assert!(kept.len() < MAX_HOOK_OUTPUT + 100);
        assert!(kept.starts_with("start") && kept.ends_with("end") && kept.contains("bytes not kept"));
        assert_eq!(truncate_output("short"), "short");
    }
}

/// What a completed job changes in the landlord. Stored with the job when it starts, so
/// that a job whose tenant-side work committed can be completed by `recover` exactly as
/// the process that started it would have.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// The module is installed at `version` with these flags (defaults, or restored values).
    Install {
        version: String,
        flags: std::collections::BTreeMap<String, bool>,
        #[serde(default)]
        restored_from: Option<String>,
    },
    /// The module moves to `version`; flags the new version adds get their defaults,
    /// existing values stay, flags it dropped go. `copy` is the kept pre-upgrade copy.
    Upgrade {
        version: String,
        features: std::collections::BTreeMap<String, bool>,
        #[serde(default)]
        copy: Option<String>,
    },
    /// The module is gone; `archive` is where its data was saved.
    Uninstall {
        #[serde(default)]
        archive: Option<String>,
    },
    /// The module is turned on or off.
    SetEnabled { enabled: bool },
    /// The module goes back to `version` with exactly these flags.
    Revert { version: String, flags: std::collections::BTreeMap<String, bool> },
}

impl Effect {
    /// The file the job keeps outside the tenant's data (an uninstall archive, a
    /// pre-upgrade copy): written while it runs, to be removed if it rolls back.
    pub fn kept_file(&self) -> Option<&str> {
        match self {
            Effect::Upgrade { copy, .. } => copy.as_deref(),
            Effect::Uninstall { archive } => archive.as_deref(),
            _ => None,
        }
    }
}
