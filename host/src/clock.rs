use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use spincat::ports::Clock;

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that runs with real time from a moment of the test's choosing and can be moved
/// forward, so a test can let a month pass.
pub struct ManualClock {
    offset: Mutex<Duration>,
}

impl ManualClock {
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            offset: Mutex::new(start - Utc::now()),
        }
    }

    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.offset.lock().unwrap() = to - Utc::now();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.offset.lock().unwrap()
    }
}
