//! The domain: typed values for everything the product's rules name (`docs/policy.md`,
//! `docs/identity.md`). No IO happens here; values are parsed at the edge and cannot hold an
//! invalid state afterwards.

pub mod caller;
pub mod catalog;
pub mod ids;
pub mod money;
pub mod phone;
pub mod policy;
pub mod time;

pub use caller::Caller;
pub use catalog::{AddOn, PricingRule, Quote, SizeTier};
pub use ids::*;
pub use money::Cents;
pub use phone::PhoneE164;
pub use policy::{NoticePolicy, Policy};
pub use time::{BusinessHours, DayHours, TenantTz};

use serde::{Deserialize, Serialize};

/// A value that failed to parse at the edge, with a stable error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub code: &'static str,
    pub message: String,
}

impl ParseError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A closed set of lowercase snake_case string values, stored as TEXT and sent as JSON strings.
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $code:literal { $($variant:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),* }
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s {
                    $($s => Ok($name::$variant),)*
                    _ => Err(ParseError::new($code, format!("`{s}` is not a valid {}", stringify!($name)))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    AppointmentStatus, "invalid_appointment_status" {
        Scheduled = "scheduled",
        Confirmed = "confirmed",
        EnRoute = "en_route",
        InProgress = "in_progress",
        Completed = "completed",
        Cancelled = "cancelled",
    }
);

impl AppointmentStatus {
    /// Whether the visit is still ahead and may be moved.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Scheduled | Self::Confirmed)
    }
}

string_enum!(CustomerStatus, "invalid_customer_status" { Active = "active", Inactive = "inactive", Prospect = "prospect" });
string_enum!(PropertyKind, "invalid_property_kind" { Residential = "residential", Commercial = "commercial" });
string_enum!(InvoiceStatus, "invalid_invoice_status" { Open = "open", Paid = "paid", Overdue = "overdue", Void = "void" });
string_enum!(
    SignatureStatus, "invalid_signature_status" { Pending = "pending", Signed = "signed", Declined = "declined", Expired = "expired" }
);
string_enum!(AgreementStatus, "invalid_agreement_status" { Active = "active", PendingRenewal = "pending_renewal", Cancelled = "cancelled" });
string_enum!(Channel, "invalid_channel" { Sms = "sms", Voice = "voice", Chat = "chat", Api = "api" });
string_enum!(IdentityLevel, "invalid_identity_level" { Anonymous = "anonymous", Matched = "matched", Verified = "verified" });
string_enum!(Direction, "invalid_direction" { Inbound = "inbound", Outbound = "outbound" });
string_enum!(
    EscalationReason, "invalid_escalation_reason" {
        CustomerRequest = "customer_request",
        OutOfPolicy = "out_of_policy",
        Cancellation = "cancellation",
        Renegotiation = "renegotiation",
        BillingDispute = "billing_dispute",
        Emergency = "emergency",
        IdentityUnresolved = "identity_unresolved",
        ModelFailure = "model_failure",
        Voicemail = "voicemail",
        UnhappyCustomer = "unhappy_customer",
        Other = "other",
    }
);
string_enum!(
    /// What policy decided about one tool call (stored with the call).
    Decision, "invalid_decision" {
        Allowed = "allowed",
        Refused = "refused",
        NeedsConfirmation = "needs_confirmation",
        Error = "error",
    }
);
string_enum!(Priority, "invalid_priority" { Urgent = "urgent", High = "high", Normal = "normal", Low = "low" });
string_enum!(EscalationStatus, "invalid_escalation_status" { Open = "open", Claimed = "claimed", Resolved = "resolved" });
string_enum!(Role, "invalid_role" { Admin = "admin", Csr = "csr", Integration = "integration" });
string_enum!(
    PortalEventKind, "invalid_portal_event_kind" {
        Login = "login",
        InvoiceViewed = "invoice_viewed",
        Payment = "payment",
        RescheduleDone = "reschedule_done",
        RescheduleRefused = "reschedule_refused",
        AgreementSigned = "agreement_signed",
        ChatOpened = "chat_opened",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_enums_round_trip_and_reject_unknown_values() {
        for r in EscalationReason::ALL {
            assert_eq!(r.as_str().parse::<EscalationReason>().ok(), Some(*r));
            assert_eq!(
                serde_json::to_value(r).ok(),
                Some(serde_json::Value::String(r.as_str().into()))
            );
        }
        assert_eq!(
            "EnRoute".parse::<AppointmentStatus>().map_err(|e| e.code),
            Err("invalid_appointment_status")
        );
    }
}
