//! "Now", injectable. Production reads the system clock; demos, tests and evals pin it with
//! `FRONTDESK_CLOCK` (or per scenario) so that relative data and policy windows are stable.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    System,
    Fixed(DateTime<Utc>),
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => *t,
        }
    }

    pub fn parse(rfc3339: &str) -> Result<Clock, crate::domain::ParseError> {
        DateTime::parse_from_rfc3339(rfc3339.trim())
            .map(|t| Clock::Fixed(t.with_timezone(&Utc)))
            .map_err(|_| {
                crate::domain::ParseError::new(
                    "invalid_clock",
                    format!("`{rfc3339}` is not an RFC 3339 instant"),
                )
            })
    }
}
