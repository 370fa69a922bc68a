//! Rate limits: keyed token buckets held in memory per instance. A bucket holds `burst`
//! tokens and refills at `per_minute`; each request takes one. Limits protect the routes that
//! trigger model work (the integration message API per token, portal chat per customer and
//! per client address) and guard against reply loops with other bots (the agent's SMS
//! replies per number). Every limit is a setting; `FRONTDESK_RATE_LIMITS=off` turns them off
//! (load tests). Memory stays bounded: idle full buckets are dropped when the map grows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One limit: a sustained rate and the burst allowed on top of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Rate {
    pub const fn new(per_minute: u32, burst: u32) -> Self {
        Rate { per_minute, burst }
    }

    /// Parse `N/min` or `N/min,burst=B` (the settings' form). `B` defaults to `N / 2`, at
    /// least 1.
    pub fn parse(raw: &str) -> Result<Rate, String> {
        let raw = raw.trim();
        let (rate, burst) = match raw.split_once(',') {
            Some((r, b)) => (r.trim(), Some(b.trim())),
            None => (raw, None),
        };
        let per_minute: u32 = rate
            .strip_suffix("/min")
            .and_then(|n| n.trim().parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("a rate is written like 60/min, not {raw:?}"))?;
        let burst = match burst {
            None => (per_minute / 2).max(1),
            Some(b) => b
                .strip_prefix("burst=")
                .and_then(|n| n.trim().parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("a burst is written like burst=10, not {b:?}"))?,
        };
        Ok(Rate { per_minute, burst })
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Keys beyond which idle buckets are swept.
const SWEEP_AT: usize = 50_000;

/// A family of buckets sharing one rate (e.g. "messages per token").
#[derive(Debug)]
pub struct Limiter {
    rate: Option<Rate>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Refused: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for a `Retry-After` header (at least 1).
    pub fn secs(self) -> u64 {
        self.0.as_secs_f64().ceil().max(1.0) as u64
    }
}

impl Limiter {
    /// `None`: no limit (rate limits off).
    pub fn new(rate: Option<Rate>) -> Self {
        Limiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one token for `key` at `now`.
    pub fn check_at(&self, key: &str, now: Instant) -> Result<(), RetryAfter> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        let per_sec = f64::from(rate.per_minute) / 60.0;
        let burst = f64::from(rate.burst);
        let Ok(mut buckets) = self.buckets.lock() else {
            // A poisoned lock means a panic elsewhere; never refuse customers because of it.
            return Ok(());
        };
        if buckets.len() >= SWEEP_AT && !buckets.contains_key(key) {
            buckets.retain(|_, b| {
                let refill = now.saturating_duration_since(b.at).as_secs_f64() * per_sec;
                b.tokens + refill < burst
            });
        }
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_sec).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(RetryAfter(Duration::from_secs_f64(
                (1.0 - b.tokens) / per_sec,
            )))
        }
    }

    pub fn check(&self, key: &str) -> Result<(), RetryAfter> {
        self.check_at(key, Instant::now())
    }
}

/// The limits one instance enforces, built once from the settings.
#[derive(Debug)]
pub struct Limits {
    /// `POST /api/v1/messages`, per API token.
    pub messages_per_token: Limiter,
    /// Portal chat messages, per customer.
    pub portal_chat_per_customer: Limiter,
    /// Portal chat messages, per client address.
    pub portal_chat_per_address: Limiter,
    /// The agent's SMS replies, per sender number (a loop with another bot ends here; the
    /// messages are still stored and seen by people).
    pub sms_replies_per_number: Limiter,
}

/// The limits' settings; `None` everywhere when rate limits are off.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitSettings {
    pub enabled: bool,
    pub messages_per_token: Rate,
    pub portal_chat_per_customer: Rate,
    pub portal_chat_per_address: Rate,
    pub sms_replies_per_number: Rate,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            enabled: true,
            // A busy answering service sends a few messages a second; hundreds a second from
            // one token is a runaway client.
            messages_per_token: Rate::new(600, 100),
            portal_chat_per_customer: Rate::new(30, 15),
            portal_chat_per_address: Rate::new(120, 60),
            // People text a few times a minute; a bot in a loop with the agent, many.
            sms_replies_per_number: Rate::new(20, 20),
        }
    }
}

impl Limits {
    pub fn new(s: &LimitSettings) -> Self {
        let on = |r: Rate| Limiter::new(s.enabled.then_some(r));
        Limits {
            messages_per_token: on(s.messages_per_token),
            portal_chat_per_customer: on(s.portal_chat_per_customer),
            portal_chat_per_address: on(s.portal_chat_per_address),
            sms_replies_per_number: on(s.sms_replies_per_number),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let l = Limiter::new(Some(Rate::new(60, 3)));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check_at("k", t0), Ok(()));
        }
        let refused = l.check_at("k", t0).expect_err("refused");
        assert_eq!(refused.secs(), 1);
        // Another key has its own bucket.
        assert_eq!(l.check_at("other", t0), Ok(()));
        // One token a second comes back.
        assert_eq!(l.check_at("k", t0 + Duration::from_millis(1000)), Ok(()));
        assert!(l.check_at("k", t0 + Duration::from_millis(1000)).is_err());
    }

    #[test]
    fn off_never_refuses() {
        let l = Limiter::new(None);
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| l.check_at("k", t0).is_ok()));
    }

    #[test]
    fn rates_parse_or_say_why() {
        assert_eq!(Rate::parse("60/min"), Ok(Rate::new(60, 30)));
        assert_eq!(Rate::parse("600/min,burst=100"), Ok(Rate::new(600, 100)));
        assert!(Rate::parse("60").is_err());
        assert!(Rate::parse("0/min").is_err());
        assert!(Rate::parse("60/min,burst=x").is_err());
    }

    #[test]
    fn idle_buckets_are_swept_when_the_map_is_large() {
        let l = Limiter::new(Some(Rate::new(60, 2)));
        let t0 = Instant::now();
        for i in 0..SWEEP_AT {
            l.check_at(&i.to_string(), t0).expect("ok");
        }
        // Long after, every bucket is full again: a new key sweeps them all.
        l.check_at("new", t0 + Duration::from_secs(10)).expect("ok");
        assert_eq!(l.buckets.lock().expect("ok").len(), 1);
    }
}
