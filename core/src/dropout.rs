//! Inverted dropout: during training each hidden unit is kept with probability
//! `keep = 1 - rate` and scaled by `1/keep`, so `E[y_dropped] = y` and inference uses the
//! weights unchanged. Backward multiplies the delta by the same mask.

use crate::error::{Error, Hyper};
use crate::rng::Rng;

/// Dropout rate plus the generator that draws its masks.
#[derive(Clone, Debug)]
pub struct Dropout {
    rate: f32,
    scale: f32,
    rng: Rng,
}

impl Dropout {
    /// Dropout with `rate` in [0, 1) drawing from `rng`.
    pub fn new(rate: f32, rng: Rng) -> Result<Dropout, Error> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::BadHyperparameter { which: Hyper::DropoutRate });
        }
        Ok(Dropout { rate, scale: 1.0 / (1.0 - rate), rng })
    }

    /// The rate.
    pub fn rate(&self) -> f32 {
        self.rate
    }

    /// Fills `mask` with 0 (probability `rate`) or `1/(1-rate)`.
    pub fn draw(&mut self, mask: &mut [f32]) {
        for m in mask.iter_mut() {
            *m = if self.rng.uniform() < self.rate { 0.0 } else { self.scale };
        }
    }
}
