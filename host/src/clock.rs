use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use spincat::ports::Clock;

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A test's clock: it runs with real time from a moment of the test's choosing, or stands still
/// at a set instant, and can be moved forward, so a month can pass in a millisecond.
pub struct ManualClock {
    state: Mutex<(DateTime<Utc>, Option<Instant>)>,
}

impl ManualClock {
    /// Running from `start`.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            state: Mutex::new((start, Some(Instant::now()))),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.state.lock().unwrap().0 += by;
    }

    /// Stopped at `to` until moved again, so amounts and timestamps come out exact.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.state.lock().unwrap() = (to, None);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let (base, running_since) = *self.state.lock().unwrap();
        match running_since {
            Some(since) => base + Duration::from_std(since.elapsed()).unwrap_or_default(),
            None => base,
        }
    }
}
