use chrono::{DateTime, Utc};

use super::MaybeSend;

/// The one source of "now". Reading a clock never waits, so unlike the other ports it is
/// synchronous. Tests swap in a clock they can move, so a month can pass in a millisecond.
pub trait Clock: MaybeSend {
    fn now(&self) -> DateTime<Utc>;
}
