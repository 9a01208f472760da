//! Everything that defines a training run, as one serializable value: command-line flags,
//! a TOML config file and checkpoints all go through [`TrainSpec`].

use crate::error::{Error, Result};
use crate::train::schedule::Schedule;
use myelin_core::{Activation, Init, Loss, Rule, Topology};
use serde::{Deserialize, Serialize};

/// Optimizer choice by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerName {
    /// Plain SGD.
    Sgd,
    /// Classical momentum.
    Momentum,
    /// Nesterov momentum.
    Nesterov,
    /// Adam.
    Adam,
}

/// How inputs are scaled before training (and, with the statistics stored in the model,
/// before every prediction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum InputScale {
    /// Images (digits, MNIST) `unit`, tables `standardize`.
    #[default]
    Auto,
    /// Per feature: `(x - mean) / std` (a constant feature keeps std 1).
    Standardize,
    /// One range for all features: `(x - min) / (max - min)` over the whole training set,
    /// so pixels stay comparable and constant borders stay 0.
    Unit,
    /// As read.
    None,
}

/// How the validation part is drawn from the training data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ValSplit {
    /// A seeded random draw.
    #[default]
    Random,
    /// The last rows (data ordered in time: validate on the latest stretch).
    Last,
}

/// The validation figure early stopping and best-model selection follow (lower is better).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Monitor {
    /// Mean validation loss (training loss without a validation part).
    #[default]
    ValLoss,
    /// Validation error rate, `1 - accuracy` (classification).
    ValError,
    /// Validation RMSE in the targets' units (regression).
    ValRmse,
}

/// The learning-rate schedule after the warm-up ([`crate::train::schedule`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleName {
    /// The same rate throughout.
    #[default]
    Constant,
    /// Multiplied by `decay` every `decay_every` epochs.
    Step,
    /// Multiplied by `decay` per epoch, continuously (every step a little).
    Exp,
    /// Half a cosine from `lr` down to `min_lr` over the run, or over cycles (`cycle`).
    Cosine,
}

/// The default learning rate of each optimizer, chosen on validation data of the shipped
/// datasets (`scripts/choose-lr`; docs/recipes.md).
pub fn default_lr(optimizer: OptimizerName) -> f32 {
    match optimizer {
        OptimizerName::Sgd => 0.3,
        OptimizerName::Momentum | OptimizerName::Nesterov => 0.1,
        OptimizerName::Adam => 0.002,
    }
}

/// A training run's hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSpec {
    /// Hidden layer widths (inputs and outputs come from the data).
    pub hidden: Vec<usize>,
    /// Hidden activation name.
    pub activation: String,
    /// Output activation name (default: softmax for classes, identity for regression).
    pub output: Option<String>,
    /// Loss name (default: cross-entropy for classes, mse for regression).
    pub loss: Option<String>,
    /// Optimizer.
    pub optimizer: OptimizerName,
    /// Learning rate (default: the optimizer's, [`default_lr`]); the peak rate when a
    /// schedule is set.
    pub lr: Option<f32>,
    /// Learning-rate schedule after the warm-up.
    pub schedule: ScheduleName,
    /// Decay factor: per `decay_every` epochs (step; default 0.1) or per epoch (exp;
    /// default 0.9).
    pub decay: Option<f32>,
    /// Epochs between step decays.
    pub decay_every: usize,
    /// Lowest rate of the cosine schedule.
    pub min_lr: f32,
    /// Cosine with warm restarts: epochs of the first cycle (0: one cosine over the run).
    pub cycle: usize,
    /// Cosine with warm restarts: each cycle this many times longer than the one before.
    pub cycle_mult: usize,
    /// Epochs of linear warm-up from near 0 to `lr` before the schedule (fractions allowed).
    pub warmup: f32,
    /// Momentum coefficient (momentum, nesterov).
    pub momentum: f32,
    /// Mini-batch size.
    pub batch: usize,
    /// Maximum epochs.
    pub epochs: usize,
    /// L1 coefficient on weights.
    pub l1: f32,
    /// L2 coefficient on weights.
    pub l2: f32,
    /// Dropout rate on hidden layers.
    pub dropout: f32,
    /// Clip gradients to this global norm.
    pub clip_norm: Option<f32>,
    /// Weight init name (default: by activation).
    pub init: Option<String>,
    /// Seed for init, shuffling, dropout, validation split.
    pub seed: u64,
    /// Worker threads (0 = all cores).
    pub threads: usize,
    /// Samples per shard: the unit of parallel work; results do not depend on `threads`.
    pub shard: usize,
    /// Fraction of the training data held out for validation (early stopping).
    pub val_fraction: f32,
    /// How the validation part is drawn from the training data.
    pub val_split: ValSplit,
    /// The validation figure that early stopping and best-model selection follow.
    pub monitor: Monitor,
    /// The least decrease of the monitored figure that counts as an improvement.
    pub min_delta: f64,
    /// Stop after this many epochs without a better monitored figure (0 = never).
    pub patience: usize,
    /// Train this many seeds and keep the best on validation.
    pub restarts: usize,
    /// Input scaling (its statistics saved with the model).
    pub scale: InputScale,
    /// Older name of `scale`: `false` means `scale = "none"`, `true` `"standardize"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standardize: Option<bool>,
    /// Shuffle each epoch (off: sequential batches, as the benchmark workloads).
    pub shuffle: bool,
    /// Image data (digits, MNIST): add one-pixel shifted copies of the training set.
    pub augment: bool,
    /// Image data: shift every training image by a random offset of up to this many pixels
    /// in each direction, drawn afresh each epoch from the seed (0: off).
    pub random_shift: usize,
    /// Max-norm bound on each neuron's incoming weights, applied after every step.
    pub max_norm: Option<f32>,
    /// Across MPI ranks, sum gradients with `MPI_Allreduce` instead of in shard order:
    /// faster on many ranks, but its grouping of the sums depends on the number of ranks, so
    /// the weights are not bit-reproducible across rank counts.
    pub allreduce: bool,
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            hidden: vec![128],
            activation: "relu".into(),
            output: None,
            loss: None,
            optimizer: OptimizerName::Adam,
            lr: None,
            schedule: ScheduleName::Constant,
            decay: None,
            decay_every: 10,
            min_lr: 0.0,
            cycle: 0,
            cycle_mult: 1,
            warmup: 0.0,
            momentum: 0.9,
            batch: 32,
            epochs: 60,
            l1: 0.0,
            l2: 0.0,
            dropout: 0.0,
            clip_norm: None,
            init: None,
            seed: 1,
            threads: 0,
            shard: 32,
            val_fraction: 0.1,
            val_split: ValSplit::Random,
            monitor: Monitor::ValLoss,
            min_delta: 0.0,
            patience: 10,
            restarts: 1,
            scale: InputScale::Auto,
            standardize: None,
            shuffle: true,
            augment: true,
            random_shift: 0,
            allreduce: false,
            max_norm: None,
        }
    }
}

fn act(name: &str) -> Result<Activation> {
    Activation::from_name(name).ok_or_else(|| {
        Error::Usage(format!("unknown activation {name:?}; use identity, sigmoid, tanh, relu, leaky-relu or softmax"))
    })
}

impl TrainSpec {
    /// Reads a TOML config file.
    pub fn from_toml(path: &std::path::Path) -> Result<TrainSpec> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        toml::from_str(&text).map_err(|e| Error::Foreign { path: path.into(), msg: e.to_string() })
    }

    /// The topology for `inputs` features and `outputs` targets.
    pub fn topology(&self, inputs: usize, outputs: usize, classify: bool) -> Result<Topology> {
        let hidden = act(&self.activation)?;
        let output = match &self.output {
            Some(o) => act(o)?,
            None if classify => Activation::Softmax,
            None => Activation::Identity,
        };
        let loss = match &self.loss {
            Some(l) => Loss::from_name(l)
                .ok_or_else(|| Error::Usage(format!("unknown loss {l:?}; use sse, mse, bce or cross-entropy")))?,
            None if output == Activation::Softmax => Loss::CrossEntropy,
            None if output == Activation::Sigmoid && classify => Loss::BinaryCrossEntropy,
            None => Loss::Mse,
        };
        let mut sizes = vec![inputs];
        sizes.extend(&self.hidden);
        sizes.push(outputs);
        Topology::dense(&sizes, hidden, output, loss).map_err(Error::core("building the network"))
    }

    /// The learning rate: the one given, else the optimizer's default.
    pub fn lr(&self) -> f32 {
        self.lr.unwrap_or_else(|| default_lr(self.optimizer))
    }

    /// The spec with every default that depends on other settings written out (the
    /// learning rate, the input scaling for `images`), as the run folder records it.
    pub fn resolved(&self, images: bool) -> TrainSpec {
        let mut s = self.clone();
        s.lr = Some(self.lr());
        s.scale = self.input_scale(images);
        s.standardize = None;
        s
    }

    /// The input scaling for image data (`images`) or tables.
    pub fn input_scale(&self, images: bool) -> InputScale {
        match (self.standardize, self.scale) {
            (Some(false), _) => InputScale::None,
            (Some(true), _) => InputScale::Standardize,
            (None, InputScale::Auto) if images => InputScale::Unit,
            (None, InputScale::Auto) => InputScale::Standardize,
            (None, s) => s,
        }
    }

    /// The learning-rate schedule for a run of `steps_per_epoch` steps per epoch.
    pub fn schedule(&self, steps_per_epoch: usize) -> Schedule {
        Schedule {
            kind: self.schedule,
            lr: self.lr() as f64,
            min_lr: self.min_lr as f64,
            decay: self.decay.map_or(
                match self.schedule {
                    ScheduleName::Exp => 0.9,
                    _ => 0.1,
                },
                |d| d as f64,
            ),
            decay_every: self.decay_every as f64,
            cycle: self.cycle as f64,
            cycle_mult: self.cycle_mult as f64,
            warmup: self.warmup as f64,
            epochs: self.epochs as f64,
            steps_per_epoch: steps_per_epoch.max(1) as f64,
        }
    }

    /// The optimizer rule (at the base learning rate; a schedule sets each step's).
    pub fn rule(&self) -> Rule {
        let lr = self.lr();
        match self.optimizer {
            OptimizerName::Sgd => Rule::Sgd { lr },
            OptimizerName::Momentum => Rule::Momentum { lr, mu: self.momentum, nesterov: false },
            OptimizerName::Nesterov => Rule::Momentum { lr, mu: self.momentum, nesterov: true },
            OptimizerName::Adam => Rule::adam(lr),
        }
    }

    /// Weight initialization.
    pub fn init(&self) -> Result<Init> {
        match &self.init {
            Some(n) => Init::from_name(n)
                .ok_or_else(|| Error::Usage(format!("unknown init {n:?}; use xavier, xavier-normal, he or he-normal"))),
            None => Ok(Init::for_activation(act(&self.activation)?)),
        }
    }

    /// Checks ranges that the core does not see (batch, shard, epochs, fractions).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Usage(m.to_string()));
        if self.batch == 0 {
            return bad("--batch must be at least 1");
        }
        if self.shard == 0 {
            return bad("--shard must be at least 1");
        }
        if self.epochs == 0 {
            return bad("--epochs must be at least 1");
        }
        if self.restarts == 0 {
            return bad("--restarts must be at least 1");
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return bad("--val-fraction must be in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("--dropout must be in [0, 1)");
        }
        if !(self.lr().is_finite() && self.lr() > 0.0) {
            return bad("--lr must be a positive number");
        }
        if !(self.min_lr.is_finite() && self.min_lr >= 0.0 && self.min_lr <= self.lr()) {
            return bad("--min-lr must be in [0, lr]");
        }
        if self.decay.is_some_and(|d| !(d.is_finite() && d > 0.0 && d <= 1.0)) {
            return bad("--decay must be in (0, 1]");
        }
        if self.decay_every == 0 || self.cycle_mult == 0 {
            return bad("--decay-every and --cycle-mult must be at least 1");
        }
        if !(self.warmup.is_finite() && self.warmup >= 0.0) {
            return bad("--warmup must be a number of epochs >= 0");
        }
        if !(self.min_delta.is_finite() && self.min_delta >= 0.0) {
            return bad("--min-delta must be >= 0");
        }
        if self.monitor != Monitor::ValLoss && self.val_fraction == 0.0 {
            return bad("--monitor val-error and val-rmse need a validation part (--val-fraction > 0)");
        }
        if !(self.l1 >= 0.0 && self.l2 >= 0.0 && self.l1.is_finite() && self.l2.is_finite()) {
            return bad("--l1 and --l2 must be >= 0");
        }
        if self.clip_norm.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
            return bad("--clip-norm must be a positive number");
        }
        if self.max_norm.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
            return bad("--max-norm must be a positive number");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str) -> TrainSpec {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs").join(name);
        TrainSpec::from_toml(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn the_digits_config_is_the_default_written_out() {
        assert_eq!(config("digits.toml").resolved(true), TrainSpec::default().resolved(true));
    }

    #[test]
    fn the_shipped_configs_parse_and_validate() {
        for name in ["mnist.toml", "bikeshare.toml", "digits.toml"] {
            config(name).validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let mnist = config("mnist.toml");
        assert_eq!(
            (mnist.schedule, mnist.monitor, mnist.random_shift, mnist.augment),
            (ScheduleName::Cosine, Monitor::ValError, 2, false)
        );
        let bike = config("bikeshare.toml");
        assert_eq!((bike.val_split, bike.monitor), (ValSplit::Last, Monitor::ValRmse));
    }

    #[test]
    fn each_optimizer_has_its_default_rate_and_a_given_rate_wins() {
        for (optimizer, rate) in [
            (OptimizerName::Adam, 0.002),
            (OptimizerName::Sgd, 0.3),
            (OptimizerName::Momentum, 0.1),
            (OptimizerName::Nesterov, 0.1),
        ] {
            let spec = TrainSpec { optimizer, ..TrainSpec::default() };
            assert_eq!(spec.lr(), rate);
            assert_eq!(spec.resolved(false).lr, Some(rate));
            assert_eq!(TrainSpec { lr: Some(0.5), ..spec }.lr(), 0.5);
        }
    }
}
