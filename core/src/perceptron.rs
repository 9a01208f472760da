//! The perceptron (Rosenblatt): the smallest model. `y = step(w . x + b)`, and on each
//! sample `w += lr (t - y) x`, `b += lr (t - y)`: weights move only on mistakes. On linearly
//! separable data this converges in a finite number of updates.

use crate::activation::Activation;

/// A single threshold unit over `N` inputs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Perceptron<const N: usize> {
    /// Weights.
    pub w: [f32; N],
    /// Bias.
    pub b: f32,
}

impl<const N: usize> Default for Perceptron<N> {
    fn default() -> Self {
        Perceptron { w: [0.0; N], b: 0.0 }
    }
}

impl<const N: usize> Perceptron<N> {
    /// Output 0 or 1.
    pub fn predict(&self, x: &[f32; N]) -> f32 {
        let z = self.w.iter().zip(x).fold(self.b, |acc, (&w, &x)| acc + w * x);
        Activation::Step.apply(z)
    }

    /// One application of the perceptron rule; returns whether the weights changed.
    pub fn update(&mut self, x: &[f32; N], t: f32, lr: f32) -> bool {
        let err = t - self.predict(x);
        if err == 0.0 {
            return false;
        }
        self.w.iter_mut().zip(x).for_each(|(w, &x)| *w += lr * err * x);
        self.b += lr * err;
        true
    }

    /// Sweeps over `(x, t)` pairs until an epoch makes no mistake or `max_epochs` pass.
    /// Returns the number of epochs run if it converged.
    pub fn fit(&mut self, data: &[([f32; N], f32)], lr: f32, max_epochs: usize) -> Option<usize> {
        for epoch in 1..=max_epochs {
            let mut changed = false;
            for (x, t) in data {
                changed |= self.update(x, *t, lr);
            }
            if !changed {
                return Some(epoch);
            }
        }
        None
    }
}
