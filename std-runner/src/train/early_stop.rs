//! Early stopping on a score where lower is better (validation loss, or training loss
//! without a validation set): the best score, the epoch it came from, and the epochs since.
//!
//! Its state is part of the checkpoint (`best`, `bad_epochs` in the JSON state), so a
//! resumed run stops at the same epoch as an uninterrupted one.

use serde::{Deserialize, Serialize};

/// The early-stopping record of one restart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Best score so far and the (1-based) epoch it was reached.
    pub best: Option<(f64, usize)>,
    /// Epochs since the best.
    pub bad_epochs: usize,
}

impl EarlyStopping {
    /// Records `epoch`'s `score`; returns whether it is a new best: lower than the best so
    /// far by more than `min_delta` (Keras' rule; the first score always is, a NaN never
    /// after it).
    pub fn observe(&mut self, score: f64, min_delta: f64, epoch: usize) -> bool {
        let better = self.best.is_none_or(|(best, _)| score < best - min_delta);
        if better {
            self.best = Some((score, epoch));
            self.bad_epochs = 0;
            true
        } else {
            self.bad_epochs += 1;
            false
        }
    }

    /// Whether `patience` epochs have passed without a new best (`patience` 0: never).
    pub fn should_stop(&self, patience: usize) -> bool {
        patience > 0 && self.bad_epochs >= patience
    }

    /// The best score (infinity before any epoch).
    pub fn best_score(&self) -> f64 {
        self.best.map_or(f64::INFINITY, |b| b.0)
    }

    /// The epoch of the best score (0 before any epoch).
    pub fn best_epoch(&self) -> usize {
        self.best.map_or(0, |b| b.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_score_is_the_best() {
        let mut e = EarlyStopping::default();
        assert_eq!(e.best_score(), f64::INFINITY);
        assert!(e.observe(3.0, 0.0, 1));
        assert_eq!((e.best_score(), e.best_epoch(), e.bad_epochs), (3.0, 1, 0));
    }

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        let mut e = EarlyStopping::default();
        for (epoch, score) in [(1, 1.0), (2, 0.5), (3, 0.6), (4, 0.5), (5, 0.7)] {
            e.observe(score, 0.0, epoch);
        }
        // An equal score is not an improvement.
        assert_eq!((e.best_epoch(), e.bad_epochs), (2, 3));
        assert!(!e.should_stop(4));
        assert!(e.should_stop(3));
        assert!(!e.should_stop(0), "patience 0 never stops");
    }

    #[test]
    fn an_improvement_resets_the_count() {
        let mut e = EarlyStopping::default();
        e.observe(1.0, 0.0, 1);
        e.observe(2.0, 0.0, 2);
        assert_eq!(e.bad_epochs, 1);
        assert!(e.observe(0.9, 0.0, 3));
        assert_eq!((e.best_epoch(), e.bad_epochs), (3, 0));
    }

    #[test]
    fn a_smaller_gain_than_min_delta_is_not_an_improvement() {
        let mut e = EarlyStopping::default();
        e.observe(1.0, 0.1, 1);
        assert!(!e.observe(0.95, 0.1, 2), "0.05 better is within min_delta");
        assert!(!e.observe(0.9, 0.1, 3), "exactly min_delta is not more than it");
        assert_eq!((e.best_epoch(), e.bad_epochs), (1, 2));
        assert!(e.observe(0.85, 0.1, 4));
        assert_eq!((e.best_score(), e.best_epoch(), e.bad_epochs), (0.85, 4, 0));
    }

    #[test]
    fn nan_never_improves() {
        let mut e = EarlyStopping::default();
        e.observe(1.0, 0.0, 1);
        assert!(!e.observe(f64::NAN, 0.0, 2));
        assert_eq!(e.best_epoch(), 1);
        let mut fresh = EarlyStopping::default();
        // Before any score, NaN is recorded (there is nothing better to keep).
        assert!(fresh.observe(f64::NAN, 0.0, 1));
        assert!(!fresh.observe(0.5, 0.0, 2), "nothing compares below NaN");
    }

    #[test]
    fn state_round_trips_as_the_checkpoint_json() {
        let mut e = EarlyStopping::default();
        e.observe(0.25, 0.0, 4);
        e.observe(0.5, 0.0, 5);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, r#"{"best":[0.25,4],"bad_epochs":1}"#);
        assert_eq!(serde_json::from_str::<EarlyStopping>(&json).unwrap(), e);
    }
}
