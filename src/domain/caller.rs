//! Who the channel (not the message text) says is writing, and how far that can be trusted.

use serde::{Deserialize, Serialize};

use super::{CustomerId, PhoneE164};

/// What the channel (not the message text) says about who is writing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Caller {
    /// A phone number reported by the carrier or an integration. `verifies`: a phone on file
    /// counts as verified for scheduling actions (SMS from the carrier; an integration token
    /// trusted to have verified the caller itself). Voice caller ids can be spoofed: they
    /// only match.
    Phone { phone: PhoneE164, verifies: bool },
    /// A customer signed in to the portal (the token proved who this is).
    Portal(CustomerId),
    /// No usable caller id (withheld, or not a phone number): never matches anyone.
    Unknown,
}

impl Caller {
    /// The channel vouches for who this is (a number on file verifies; a portal session is
    /// verified by its token).
    pub fn verifies(&self) -> bool {
        matches!(
            self,
            Caller::Phone { verifies: true, .. } | Caller::Portal(_)
        )
    }

    /// A caller id as a channel reports it; anything that is not an E.164 number is unknown.
    pub fn phone(raw: &str, verifies: bool) -> Caller {
        match PhoneE164::parse(raw) {
            Ok(phone) => Caller::Phone { phone, verifies },
            Err(_) => Caller::Unknown,
        }
    }
}
