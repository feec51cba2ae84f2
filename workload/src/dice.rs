//! Pure dice logic: which dice exist and how a roll turns out, with the RNG injected.

use rand::Rng;
use std::fmt;
use std::str::FromStr;

/// The dice the API offers. Bounded on purpose: the name is a metric label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Die {
    /// Uniform 1..=6.
    Fair,
    /// Uniform 2..=7 (a loaded die), and fails with the configured probability.
    Risky,
}

impl Die {
    pub const ALL: [Die; 2] = [Die::Fair, Die::Risky];
    pub const VALID_NAMES: [&'static str; 2] = ["fair", "risky"];

    pub fn as_str(self) -> &'static str {
        match self {
            Die::Fair => "fair",
            Die::Risky => "risky",
        }
    }

    /// The faces a successful roll can show.
    pub fn faces(self) -> std::ops::RangeInclusive<u8> {
        match self {
            Die::Fair => 1..=6,
            Die::Risky => 2..=7,
        }
    }
}

impl fmt::Display for Die {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name given was not one of [`Die::VALID_NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown die {0:?}")]
pub struct UnknownDie(pub String);

impl FromStr for Die {
    type Err = UnknownDie;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "fair" => Ok(Die::Fair),
            "risky" => Ok(Die::Risky),
            other => Err(UnknownDie(other.to_owned())),
        }
    }
}

/// What one roll produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollOutcome {
    Rolled(u8),
    /// The risky die's simulated failure.
    Failed,
}

/// Rolls `die`; `risky_error_rate` is the probability (0..=1) that a risky roll fails.
pub fn roll(die: Die, risky_error_rate: f64, rng: &mut impl Rng) -> RollOutcome {
    let face: u8 = rng.random_range(1..=6);
    match die {
        Die::Fair => RollOutcome::Rolled(face),
        Die::Risky if rng.random_bool(risky_error_rate.clamp(0.0, 1.0)) => RollOutcome::Failed,
        Die::Risky => RollOutcome::Rolled(face + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn seeded() -> SmallRng {
        SmallRng::seed_from_u64(0x5eed_d1ce)
    }

    #[test]
    fn fair_die_stays_within_one_to_six() {
        let mut rng = seeded();
        for _ in 0..10_000 {
            match roll(Die::Fair, 0.5, &mut rng) {
                RollOutcome::Rolled(v) => assert!((1..=6).contains(&v), "fair rolled {v}"),
                RollOutcome::Failed => panic!("the fair die never fails"),
            }
        }
    }

    #[test]
    fn risky_die_stays_within_two_to_seven() {
        let mut rng = seeded();
        let mut seen = [false; 8];
        for _ in 0..10_000 {
            if let RollOutcome::Rolled(v) = roll(Die::Risky, 0.1, &mut rng) {
                assert!((2..=7).contains(&v), "risky rolled {v}");
                seen[usize::from(v)] = true;
            }
        }
        assert_eq!(seen, [false, false, true, true, true, true, true, true]);
    }

    #[test]
    fn fair_die_passes_chi_square_over_60k_rolls() {
        let mut rng = seeded();
        let mut counts = [0u32; 6];
        let rolls = 60_000;
        for _ in 0..rolls {
            if let RollOutcome::Rolled(v) = roll(Die::Fair, 0.0, &mut rng) {
                counts[usize::from(v - 1)] += 1;
            }
        }
        let expected = f64::from(rolls) / 6.0;
        let chi_square: f64 = counts
            .iter()
            .map(|&c| (f64::from(c) - expected).powi(2) / expected)
            .sum();
        // Critical value for 5 degrees of freedom at p = 0.01.
        assert!(
            chi_square < 15.086,
            "chi-square {chi_square:.2}, counts {counts:?}"
        );
    }

    #[test]
    fn risky_die_fails_about_ten_percent_over_20k_rolls() {
        let mut rng = seeded();
        let rolls = 20_000;
        let failures = (0..rolls)
            .filter(|_| roll(Die::Risky, 0.10, &mut rng) == RollOutcome::Failed)
            .count();
        let rate = failures as f64 / f64::from(rolls);
        assert!((0.09..=0.11).contains(&rate), "error rate {rate}");
    }

    #[test]
    fn risky_error_rate_bounds_are_honoured() {
        let mut rng = seeded();
        assert!((0..1000).all(|_| roll(Die::Risky, 0.0, &mut rng) != RollOutcome::Failed));
        assert!((0..1000).all(|_| roll(Die::Risky, 1.0, &mut rng) == RollOutcome::Failed));
    }

    #[test]
    fn die_names_parse_and_print_round_trip() {
        for die in Die::ALL {
            assert_eq!(die.as_str().parse::<Die>(), Ok(die));
        }
        assert_eq!("loaded".parse::<Die>(), Err(UnknownDie("loaded".into())));
        assert_eq!("Fair".parse::<Die>(), Err(UnknownDie("Fair".into())));
    }
}
