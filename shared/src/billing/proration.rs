use chrono::{DateTime, Utc};

use super::Period;
use crate::money::Rupiah;

/// `amount x remaining / period`, to the nearest rupiah (halves round up), where `remaining` is
/// what is left of the period at `at`, clamped to the period. Integer arithmetic throughout.
pub fn prorate(amount: Rupiah, period: &Period, at: DateTime<Utc>) -> Rupiah {
    let total = period.seconds();
    if total <= 0 || amount <= Rupiah::ZERO {
        return Rupiah::ZERO;
    }
    let remaining = (period.end - at).num_seconds().clamp(0, total);
    let numerator = i128::from(amount.amount()) * i128::from(remaining);
    let denominator = i128::from(total);
    let rounded = (2 * numerator + denominator) / (2 * denominator);
    Rupiah::new(rounded as i64)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    use super::*;

    fn period() -> Period {
        Period::first(Utc.with_ymd_and_hms(2027, 2, 1, 0, 0, 0).unwrap())
    }

    #[test]
    fn whole_half_and_none_of_a_period() {
        let p = period();
        assert_eq!(
            prorate(Rupiah::new(100_000), &p, p.start),
            Rupiah::new(100_000)
        );
        assert_eq!(
            prorate(Rupiah::new(100_000), &p, p.start + Duration::days(14)),
            Rupiah::new(50_000)
        );
        assert_eq!(prorate(Rupiah::new(100_000), &p, p.end), Rupiah::ZERO);
        assert_eq!(
            prorate(Rupiah::new(100_000), &p, p.end + Duration::days(3)),
            Rupiah::ZERO
        );
        assert_eq!(
            prorate(Rupiah::new(100_000), &p, p.start - Duration::days(3)),
            Rupiah::new(100_000)
        );
    }

    #[test]
    fn rounds_to_the_nearest_rupiah() {
        let p = period(); // 28 days
                          // 1 rupiah over 28 days, 14 days left: exactly a half, rounded up.
        assert_eq!(
            prorate(Rupiah::new(1), &p, p.start + Duration::days(14)),
            Rupiah::new(1)
        );
        // 100 000 x 1/3 of the period = 33 333.33 -> 33 333.
        let third = p.start + Duration::seconds(p.seconds() * 2 / 3);
        assert_eq!(
            prorate(Rupiah::new(100_000), &p, third),
            Rupiah::new(33_333)
        );
    }

    proptest! {
        #[test]
        fn never_negative_never_more_than_the_amount(
            amount in 0i64..10_000_000_000,
            offset in -100_000_000i64..100_000_000,
        ) {
            let p = period();
            let charge = prorate(Rupiah::new(amount), &p, p.start + Duration::seconds(offset));
            prop_assert!(charge >= Rupiah::ZERO);
            prop_assert!(charge <= Rupiah::new(amount));
        }

        #[test]
        fn later_never_costs_more(amount in 0i64..1_000_000_000, a in 0i64..2_500_000, b in 0i64..2_500_000) {
            let p = period();
            let (early, late) = (a.min(b), a.max(b));
            prop_assert!(
                prorate(Rupiah::new(amount), &p, p.start + Duration::seconds(early))
                    >= prorate(Rupiah::new(amount), &p, p.start + Duration::seconds(late))
            );
        }

        #[test]
        fn within_half_a_rupiah_of_the_exact_share(amount in 0i64..1_000_000_000, elapsed in 0i64..2_419_200) {
            let p = period();
            let charge = prorate(Rupiah::new(amount), &p, p.start + Duration::seconds(elapsed));
            let exact = amount as f64 * (p.seconds() - elapsed) as f64 / p.seconds() as f64;
            prop_assert!((charge.amount() as f64 - exact).abs() <= 0.5 + 1e-6);
        }
    }
}
