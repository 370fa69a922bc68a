//! A circuit breaker in front of the model endpoint. After [`THRESHOLD`] model steps in a
//! row failed or timed out, turns skip the model for [`OPEN_FOR`] and the built-in model
//! answers at once, instead of every customer waiting out a turn's budget on a dead
//! endpoint. Then one step tries the model again (half-open): a success closes the breaker,
//! a failure opens it for another [`OPEN_FOR`]. Per instance, in memory.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failed or timed-out steps in a row that open the breaker.
pub const THRESHOLD: u32 = 3;
/// How long an open breaker keeps turns away from the model.
pub const OPEN_FOR: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    trial_running: bool,
}

#[derive(Debug, Default)]
pub struct Breaker {
    state: Mutex<State>,
}

impl Breaker {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// May this step ask the model? Closed: yes. Open: no, until [`OPEN_FOR`] has passed;
    /// then one step at a time (the trial).
    pub fn allow(&self, now: Instant) -> bool {
        let mut s = self.state();
        match s.open_until {
            None => true,
            Some(until) if now < until => false,
            // A trial that never reported back (its turn was cut short) is given up on.
            Some(until) if s.trial_running && now < until + OPEN_FOR => false,
            Some(_) => {
                s.trial_running = true;
                true
            }
        }
    }

    /// The model answered: close.
    pub fn success(&self) {
        *self.state() = State::default();
    }

    /// The model failed or timed out.
    pub fn failure(&self, now: Instant) {
        let mut s = self.state();
        s.failures = s.failures.saturating_add(1);
        s.trial_running = false;
        if s.failures >= THRESHOLD || s.open_until.is_some() {
            s.open_until = Some(now + OPEN_FOR);
        }
    }

    pub fn is_open(&self) -> bool {
        self.state().open_until.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_lets_one_trial_through_later() {
        let b = Breaker::default();
        let t0 = Instant::now();
        for _ in 0..THRESHOLD - 1 {
            assert!(b.allow(t0));
            b.failure(t0);
        }
        assert!(!b.is_open(), "opened before the threshold");
        assert!(b.allow(t0));
        b.failure(t0);
        assert!(b.is_open());
        assert!(
            !b.allow(t0 + OPEN_FOR / 2),
            "an open breaker let a step through"
        );
        let later = t0 + OPEN_FOR + Duration::from_millis(1);
        assert!(b.allow(later), "no trial after the open period");
        assert!(!b.allow(later), "two trials at once");
        // A failed trial opens it again; a successful one closes it.
        b.failure(later);
        assert!(!b.allow(later + Duration::from_secs(1)));
        let again = later + OPEN_FOR + Duration::from_millis(1);
        assert!(b.allow(again));
        b.success();
        assert!(!b.is_open());
        assert!(b.allow(again) && b.allow(again));
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker::default();
        let t = Instant::now();
        for _ in 0..THRESHOLD - 1 {
            b.failure(t);
        }
        b.success();
        for _ in 0..THRESHOLD - 1 {
            b.failure(t);
        }
        assert!(!b.is_open(), "failures were not counted in a row");
    }
}
