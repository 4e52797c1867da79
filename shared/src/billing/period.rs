use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};

/// One billing period: a calendar month from `start`, keeping the day of the month the
/// subscription began on (its anchor), so Jan 31 -> Feb 28/29 -> Mar 31 and periods never drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub anchor_day: u32,
}

impl Period {
    /// The first period of a subscription that starts at `start`.
    pub fn first(start: DateTime<Utc>) -> Self {
        let anchor_day = start.day();
        Self {
            start,
            end: month_after(start, anchor_day),
            anchor_day,
        }
    }

    /// The period that follows this one, from its end (never from "now").
    pub fn next(&self) -> Self {
        Self {
            start: self.end,
            end: month_after(self.end, self.anchor_day),
            anchor_day: self.anchor_day,
        }
    }

    pub fn seconds(&self) -> i64 {
        (self.end - self.start).num_seconds()
    }
}

/// The same time of day one calendar month after `from`, on the anchor day or the month's last
/// day when it is shorter.
fn month_after(from: DateTime<Utc>, anchor_day: u32) -> DateTime<Utc> {
    let first_of_next = NaiveDate::from_ymd_opt(from.year(), from.month(), 1)
        .and_then(|d| d.checked_add_months(Months::new(1)))
        .expect("dates stay within chrono's range");
    let day = anchor_day.min(days_in_month(first_of_next));
    let date = first_of_next.with_day(day).expect("a day within the month");
    Utc.from_utc_datetime(&date.and_time(from.time()))
}

fn days_in_month(first: NaiveDate) -> u32 {
    let next = first
        .checked_add_months(Months::new(1))
        .expect("within range");
    (next - first).num_days() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 10, 30, 0).unwrap()
    }

    fn ends(start: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let mut period = Period::first(start);
        let mut ends = vec![period.end];
        for _ in 1..count {
            period = period.next();
            ends.push(period.end);
        }
        ends
    }

    #[test]
    fn the_anchor_day_survives_short_months() {
        assert_eq!(
            ends(at(2027, 1, 31), 4),
            [
                at(2027, 2, 28),
                at(2027, 3, 31),
                at(2027, 4, 30),
                at(2027, 5, 31)
            ]
        );
    }

    #[test]
    fn leap_years_have_a_february_29() {
        assert_eq!(ends(at(2028, 1, 30), 2), [at(2028, 2, 29), at(2028, 3, 30)]);
        assert_eq!(ends(at(2028, 2, 29), 2), [at(2028, 3, 29), at(2028, 4, 29)]);
    }

    #[test]
    fn a_year_of_periods_crosses_the_new_year() {
        let all = ends(at(2026, 11, 30), 13);
        assert_eq!(all[0], at(2026, 12, 30));
        assert_eq!(all[1], at(2027, 1, 30));
        assert_eq!(all[2], at(2027, 2, 28));
        assert_eq!(all[12], at(2027, 12, 30));
    }

    #[test]
    fn periods_chain_and_keep_the_time_of_day() {
        let first = Period::first(at(2026, 3, 15));
        let second = first.next();
        assert_eq!(second.start, first.end);
        assert_eq!(second.end, at(2026, 5, 15));
        assert_eq!(first.seconds(), 31 * 86_400);
    }
}
