//! The event log's vocabulary (SPEC §7 `events`). Events are appended by the landlord in
//! the same transaction as the change they describe.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "module.installed")]
    ModuleInstalled,
    #[serde(rename = "module.install_failed")]
    ModuleInstallFailed,
    #[serde(rename = "module.upgraded")]
    ModuleUpgraded,
    #[serde(rename = "module.upgrade_failed")]
    ModuleUpgradeFailed,
    #[serde(rename = "module.uninstalled")]
    ModuleUninstalled,
    #[serde(rename = "module.reverted")]
    ModuleReverted,
    #[serde(rename = "module.enabled")]
    ModuleEnabled,
    #[serde(rename = "module.disabled")]
    ModuleDisabled,
    #[serde(rename = "flag.changed")]
    FlagChanged,
    #[serde(rename = "tenant.added")]
    TenantAdded,
    #[serde(rename = "tenant.removed")]
    TenantRemoved,
    #[serde(rename = "tenant.moved")]
    TenantMoved,
}

impl EventType {
    pub const ALL: [EventType; 12] = [
        EventType::ModuleInstalled,
        EventType::ModuleInstallFailed,
        EventType::ModuleUpgraded,
        EventType::ModuleUpgradeFailed,
        EventType::ModuleUninstalled,
        EventType::ModuleReverted,
        EventType::ModuleEnabled,
        EventType::ModuleDisabled,
        EventType::FlagChanged,
        EventType::TenantAdded,
        EventType::TenantRemoved,
        EventType::TenantMoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ModuleInstalled => "module.installed",
            EventType::ModuleInstallFailed => "module.install_failed",
            EventType::ModuleUpgraded => "module.upgraded",
            EventType::ModuleUpgradeFailed => "module.upgrade_failed",
            EventType::ModuleUninstalled => "module.uninstalled",
            EventType::ModuleReverted => "module.reverted",
            EventType::ModuleEnabled => "module.enabled",
            EventType::ModuleDisabled => "module.disabled",
            EventType::FlagChanged => "flag.changed",
            EventType::TenantAdded => "tenant.added",
            EventType::TenantRemoved => "tenant.removed",
            EventType::TenantMoved => "tenant.moved",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event as stored and printed: `{"id", "at", "type", "tenant", "module", "version", "job_id"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Event {
    pub id: i64,
    pub at: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub tenant: Option<String>,
    pub module: Option<String>,
    pub version: Option<String>,
    pub job_id: Option<i64>,
    /// Extra facts: a flag's name and value, a failure's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde() {
        for t in EventType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
    }
}
