//! What a traffic run does: the die mix, how long or how many requests, and the pacing that
//! spreads a total rate over the users.

use crate::dice::Die;
use rand::Rng;
use std::time::Duration;

/// Weighted choice of die per request, parsed from `fair=70,risky=30`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    weights: Vec<(Die, u32)>,
    total: u32,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MixError {
    #[error("{0:?} is not die=weight (e.g. fair=70,risky=30)")]
    Shape(String),
    #[error("{0}")]
    Die(#[from] crate::dice::UnknownDie),
    #[error("weight {0:?} is not a whole number")]
    Weight(String),
    #[error("the weights add up to 0; give at least one die a positive weight")]
    Empty,
}

impl std::str::FromStr for Mix {
    type Err = MixError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut weights = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (die, weight) = part
                .split_once('=')
                .ok_or_else(|| MixError::Shape(part.to_owned()))?;
            let die: Die = die.trim().parse()?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| MixError::Weight(weight.to_owned()))?;
            weights.push((die, weight));
        }
        let total = weights.iter().map(|(_, w)| *w).sum();
        if total == 0 {
            return Err(MixError::Empty);
        }
        Ok(Self { weights, total })
    }
}

impl Mix {
    pub fn pick(&self, rng: &mut impl Rng) -> Die {
        let mut ticket = rng.random_range(0..self.total);
        for (die, weight) in &self.weights {
            if ticket < *weight {
                return *die;
            }
            ticket -= weight;
        }
        // Unreachable: the tickets cover exactly the weights.
        self.weights[0].0
    }
}

/// When a run stops: after a duration, after a number of requests, or at whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
}

/// Gap between one user's requests so that all users together send `rate` requests a second.
pub fn per_user_interval(rate: Option<f64>, users: u32) -> Option<Duration> {
    let rate = rate.filter(|r| *r > 0.0)?;
    Some(Duration::from_secs_f64(f64::from(users.max(1)) / rate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn a_mix_picks_dice_in_proportion_to_their_weights() {
        let mix: Mix = "fair=70, risky=30".parse().unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let risky = (0..10_000)
            .filter(|_| mix.pick(&mut rng) == Die::Risky)
            .count();
        assert!((2_700..3_300).contains(&risky), "{risky} risky of 10000");
    }

    #[test]
    fn bad_mixes_say_what_is_wrong() {
        assert_eq!("fair".parse::<Mix>(), Err(MixError::Shape("fair".into())));
        assert!(matches!("loaded=1".parse::<Mix>(), Err(MixError::Die(_))));
        assert_eq!("fair=x".parse::<Mix>(), Err(MixError::Weight("x".into())));
        assert_eq!("fair=0".parse::<Mix>(), Err(MixError::Empty));
    }

    #[test]
    fn the_rate_is_shared_by_the_users() {
        assert_eq!(
            per_user_interval(Some(10.0), 5),
            Some(Duration::from_millis(500))
        );
        assert_eq!(per_user_interval(None, 5), None);
    }
}
