//! Tenant policy: every number in the policy table (`docs/policy.md`) is a setting here, with
//! the demo defaults. Tools enforce these; the model never sees them as anything but facts.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub portal_reschedule: PortalReschedulePolicy,
    pub agent_reschedule: AgentReschedulePolicy,
    pub booking: BookingPolicy,
    pub escalation: EscalationPolicy,
    pub identity: IdentityPolicy,
    /// Agent SMS replies aim to fit in this many segments.
    pub sms_max_segments: u8,
    /// Local quiet hours: no outbound marketing-style texts between these hours.
    pub quiet_hours_start: u8,
    pub quiet_hours_end: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortalReschedulePolicy {
    pub min_hours_ahead: i64,
    pub max_days_from_original: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentReschedulePolicy {
    pub enabled: bool,
    pub min_hours_ahead: i64,
    pub max_days_from_original: i64,
    pub max_reschedules: i64,
    pub same_service_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BookingPolicy {
    pub enabled: bool,
    pub require_verified: bool,
    pub allow_commercial: bool,
    pub max_days_ahead: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EscalationPolicy {
    /// Minutes of business time before a CSR must pick up, by priority.
    pub sla_urgent_minutes: i64,
    pub sla_high_minutes: i64,
    pub sla_normal_minutes: i64,
    pub sla_low_minutes: i64,
    pub page_on_call_for_emergencies: bool,
}

/// Limits on verification attempts (docs/identity.md). A failed attempt is a
/// `verify_identity` call whose details did not match; reaching a limit locks verification
/// and escalates `identity_unresolved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentityPolicy {
    /// Failed attempts allowed in one conversation.
    pub max_failed_per_conversation: u32,
    /// Failed attempts allowed from one caller (phone), across conversations and channels,
    /// within `caller_window_hours`.
    pub max_failed_per_caller: u32,
    pub caller_window_hours: i64,
}

impl Default for IdentityPolicy {
    fn default() -> Self {
        Self {
            max_failed_per_conversation: 3,
            max_failed_per_caller: 5,
            caller_window_hours: 24,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            portal_reschedule: PortalReschedulePolicy::default(),
            agent_reschedule: AgentReschedulePolicy::default(),
            booking: BookingPolicy::default(),
            escalation: EscalationPolicy::default(),
            identity: IdentityPolicy::default(),
            sms_max_segments: 2,
            quiet_hours_start: 21,
            quiet_hours_end: 8,
        }
    }
}

impl Default for PortalReschedulePolicy {
    fn default() -> Self {
        Self {
            min_hours_ahead: 48,
            max_days_from_original: 14,
        }
    }
}

impl Default for AgentReschedulePolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            min_hours_ahead: 12,
            max_days_from_original: 21,
            max_reschedules: 3,
            same_service_only: true,
        }
    }
}

impl Default for BookingPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            require_verified: true,
            allow_commercial: false,
            max_days_ahead: 28,
        }
    }
}

impl Default for EscalationPolicy {
    fn default() -> Self {
        Self {
            sla_urgent_minutes: 15,
            sla_high_minutes: 60,
            sla_normal_minutes: 240,
            sla_low_minutes: 480,
            page_on_call_for_emergencies: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_design_table_and_partial_overrides_keep_them() {
        let p: Policy =
            serde_json::from_str(r#"{"agent_reschedule":{"max_reschedules":1}}"#).expect("json");
        assert_eq!(p.agent_reschedule.max_reschedules, 1);
        assert_eq!(p.agent_reschedule.min_hours_ahead, 12);
        assert_eq!(p.agent_reschedule.max_days_from_original, 21);
        assert_eq!(p.portal_reschedule.min_hours_ahead, 48);
        assert_eq!(p.portal_reschedule.max_days_from_original, 14);
    }
}
