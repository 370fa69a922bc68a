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
    /// Proactive messages: which are sent and when (`docs/notices.md`).
    pub notices: NoticePolicy,
}

impl Policy {
    /// The SMS segments an agent reply may take, inline or by the outbox: the policy's limit
    /// (at least one), and one more for an escalation's acknowledgement (for an emergency:
    /// safety guidance, then who will call back and when) rather than lose the promise at
    /// its end.
    pub fn sms_reply_segments(&self, escalated: bool) -> usize {
        usize::from(self.sms_max_segments.max(1)) + usize::from(escalated)
    }
}

/// Which proactive messages a tenant sends, and when. Times are local hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NoticePolicy {
    /// A reminder the day before the visit, at `reminder_day_before_hour`.
    pub reminder_day_before: bool,
    pub reminder_day_before_hour: u8,
    /// A reminder on the morning of the visit, at `reminder_morning_of_hour`.
    pub reminder_morning_of: bool,
    pub reminder_morning_of_hour: u8,
    /// "NAME is on the way, about N minutes" when the technician sets off.
    pub en_route: bool,
    /// The technician's customer-facing note when a visit is paused.
    pub paused: bool,
    /// After a visit: a short summary, the invoice link and a one-question survey.
    pub completed: bool,
    /// A survey answer at or below this opens `unhappy_customer` (0 never does).
    pub survey_escalate_at_or_below: u8,
    /// A notice with a pay link when an invoice is issued.
    pub invoice_new: bool,
    /// Reminders about an unpaid invoice, every `invoice_overdue_every_days` days after its
    /// due date, at most `invoice_overdue_max` of them.
    pub invoice_overdue: bool,
    pub invoice_overdue_every_days: i64,
    pub invoice_overdue_max: i64,
}

impl Default for NoticePolicy {
    fn default() -> Self {
        Self {
            reminder_day_before: true,
            reminder_day_before_hour: 17,
            reminder_morning_of: false,
            reminder_morning_of_hour: 8,
            en_route: true,
            paused: true,
            completed: true,
            survey_escalate_at_or_below: 2,
            invoice_new: true,
            invoice_overdue: true,
            invoice_overdue_every_days: 7,
            invoice_overdue_max: 3,
        }
    }
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
            notices: NoticePolicy::default(),
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
