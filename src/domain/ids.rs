//! Typed identifiers. Every row id crossing a module boundary is one of these, never a bare
//! integer, so a customer id cannot be passed where an appointment id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = crate::domain::ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().parse::<i64>() {
                    Ok(v) if v > 0 => Ok(Self(v)),
                    _ => Err(crate::domain::ParseError::new(
                        "malformed_id",
                        format!("`{s}` is not a valid {}", stringify!($name)),
                    )),
                }
            }
        }
    )*};
}

id_type!(
    TenantId,
    CustomerId,
    PropertyId,
    ZoneId,
    TechnicianId,
    ServiceId,
    SlotId,
    AppointmentId,
    VisitId,
    InvoiceId,
    PaymentId,
    AgreementId,
    PortalEventId,
    ConversationId,
    MessageId,
    ToolCallId,
    EscalationId,
    UserId,
    TokenId,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_positive_integers_only() {
        assert_eq!("42".parse::<CustomerId>().ok(), Some(CustomerId(42)));
        for bad in ["0", "-1", "abc", "", "1.5", "99999999999999999999"] {
            let err = bad.parse::<CustomerId>().expect_err(bad);
            assert_eq!(err.code, "malformed_id");
        }
    }
}
