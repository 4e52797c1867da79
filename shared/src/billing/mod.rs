//! Billing arithmetic: calendar-month periods and pro-rata amounts. Pure functions, so every
//! edge (month ends, leap years, rounding) is tested on its own.

mod period;
mod proration;

pub use period::Period;
pub use proration::prorate;
