//! Learning-rate schedules: each step's rate as a function of its place in the run.
//!
//! With `s` the step's index in the restart (0-based), `E` steps per epoch, `W` warm-up
//! epochs and `N` epochs in the run:
//!
//! ```text
//! warm-up      (s + 1) < W E:  rate = lr (s + 1) / (W E)
//! after it     u = s / E - W   (epochs since the warm-up), H = N - W
//!   constant   lr
//!   step       lr decay^floor(u / decay_every)
//!   exp        lr decay^u
//!   cosine     min_lr + (lr - min_lr) (1 + cos(pi p / T)) / 2
//!              one cycle: T = H, p = u; with restarts (cycle C, growth m): the cycles last
//!              C, C m, C m^2, ... epochs and p is the position in the current one
//! ```
//!
//! The rate depends on nothing but the step's position, so a resumed run (which knows its
//! epoch and step) continues on exactly the rates of an uninterrupted one: the schedule has
//! no state of its own to save. It is computed in f64 with `libm` (the same bits on every
//! machine and rank) and rounded to f32 once.

use super::spec::ScheduleName;

/// A schedule, resolved for a run ([`crate::train::spec::TrainSpec::schedule`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Which curve follows the warm-up.
    pub kind: ScheduleName,
    /// Peak (base) rate.
    pub lr: f64,
    /// Cosine floor.
    pub min_lr: f64,
    /// Step: factor per `decay_every` epochs; exp: factor per epoch.
    pub decay: f64,
    /// Epochs between step decays (>= 1).
    pub decay_every: f64,
    /// Cosine restarts: epochs of the first cycle (0: one cosine over the run).
    pub cycle: f64,
    /// Cosine restarts: growth of each cycle (>= 1).
    pub cycle_mult: f64,
    /// Warm-up epochs.
    pub warmup: f64,
    /// Epochs in the run.
    pub epochs: f64,
    /// Steps per epoch (>= 1).
    pub steps_per_epoch: f64,
}

impl Schedule {
    /// The rate of step `step` (0-based, counted from the restart's first step).
    pub fn rate(&self, step: u64) -> f32 {
        let s = step as f64;
        let warm_steps = self.warmup * self.steps_per_epoch;
        if s + 1.0 < warm_steps {
            return (self.lr * (s + 1.0) / warm_steps) as f32;
        }
        let u = (s / self.steps_per_epoch - self.warmup).max(0.0);
        let rate = match self.kind {
            ScheduleName::Constant => self.lr,
            ScheduleName::Step => self.lr * libm::pow(self.decay, libm::floor(u / self.decay_every)),
            ScheduleName::Exp => self.lr * libm::pow(self.decay, u),
            ScheduleName::Cosine => {
                let (p, t) = self.cycle_position(u);
                let t = t.max(f64::MIN_POSITIVE);
                self.min_lr
                    + (self.lr - self.min_lr) * 0.5 * (1.0 + libm::cos(core::f64::consts::PI * (p / t).min(1.0)))
            }
        };
        rate as f32
    }

    /// (position in the current cosine cycle, its length), both in epochs.
    fn cycle_position(&self, u: f64) -> (f64, f64) {
        let horizon = (self.epochs - self.warmup).max(0.0);
        if self.cycle <= 0.0 {
            return (u, horizon);
        }
        let (mut start, mut len) = (0.0, self.cycle);
        // Cycles only grow (mult >= 1), so this ends after at most u / cycle rounds.
        while u >= start + len {
            start += len;
            len *= self.cycle_mult;
        }
        (u - start, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(kind: ScheduleName) -> Schedule {
        Schedule {
            kind,
            lr: 0.1,
            min_lr: 0.0,
            decay: 0.5,
            decay_every: 2.0,
            cycle: 0.0,
            cycle_mult: 1.0,
            warmup: 0.0,
            epochs: 10.0,
            steps_per_epoch: 4.0,
        }
    }

    fn close(a: f32, b: f64) {
        assert!((a as f64 - b).abs() <= 1e-7 * b.abs().max(1e-3), "{a} != {b}");
    }

    #[test]
    fn constant_is_the_rate_throughout() {
        let s = schedule(ScheduleName::Constant);
        for step in [0, 1, 17, 39, 1000] {
            assert_eq!(s.rate(step), 0.1);
        }
    }

    #[test]
    fn step_decay_halves_every_two_epochs() {
        let s = schedule(ScheduleName::Step);
        // 4 steps per epoch: steps 0..8 are epochs 1-2, 8..16 epochs 3-4.
        close(s.rate(0), 0.1);
        close(s.rate(7), 0.1);
        close(s.rate(8), 0.05);
        close(s.rate(15), 0.05);
        close(s.rate(16), 0.025);
    }

    #[test]
    fn exponential_decay_is_continuous_per_step() {
        let s = schedule(ScheduleName::Exp);
        close(s.rate(0), 0.1);
        close(s.rate(2), 0.1 * 0.5f64.powf(0.5));
        close(s.rate(4), 0.05);
        close(s.rate(12), 0.0125);
    }

    #[test]
    fn cosine_falls_from_lr_to_min_over_the_run() {
        let s = Schedule { min_lr: 0.01, ..schedule(ScheduleName::Cosine) };
        close(s.rate(0), 0.1);
        // Half-way (epoch 5 of 10): the mean of lr and min_lr.
        close(s.rate(20), 0.055);
        // A quarter: min + (lr - min)(1 + cos(pi/4))/2.
        close(s.rate(10), 0.01 + 0.09 * 0.5 * (1.0 + std::f64::consts::FRAC_1_SQRT_2));
        assert!(s.rate(39) > 0.01 && s.rate(39) < 0.0102);
    }

    #[test]
    fn cosine_restarts_begin_each_cycle_at_the_peak() {
        // Cycles of 2, 4, 8 epochs: restarts at epochs 2 and 6 (steps 8 and 24).
        let s = Schedule { cycle: 2.0, cycle_mult: 2.0, ..schedule(ScheduleName::Cosine) };
        close(s.rate(0), 0.1);
        close(s.rate(4), 0.05);
        close(s.rate(8), 0.1);
        close(s.rate(16), 0.05);
        close(s.rate(24), 0.1);
        assert!(s.rate(23) < 0.002);
    }

    #[test]
    fn warm_up_rises_linearly_then_hands_over() {
        // Two epochs of warm-up (8 steps), then step decay counted from its end.
        let s = Schedule { warmup: 2.0, ..schedule(ScheduleName::Step) };
        close(s.rate(0), 0.1 / 8.0);
        close(s.rate(3), 0.1 * 4.0 / 8.0);
        close(s.rate(6), 0.1 * 7.0 / 8.0);
        close(s.rate(7), 0.1);
        close(s.rate(15), 0.1);
        close(s.rate(16), 0.05);
        let c = Schedule { warmup: 2.0, ..schedule(ScheduleName::Cosine) };
        close(c.rate(8), 0.1);
        // The cosine spans the 8 epochs after the warm-up: half-way at epoch 6.
        close(c.rate(24), 0.05);
    }
}
