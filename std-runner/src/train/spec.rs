//! Everything that defines a training run, as one serializable value: command-line flags,
//! a TOML config file and checkpoints all go through [`TrainSpec`].

use crate::error::{Error, Result};
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
    /// Learning rate.
    pub lr: f32,
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
    /// Stop after this many epochs without a better validation loss (0 = never).
    pub patience: usize,
    /// Train this many seeds and keep the best on validation.
    pub restarts: usize,
    /// Standardize inputs (statistics saved with the model).
    pub standardize: bool,
    /// Shuffle each epoch (off: sequential batches, as the benchmark workloads).
    pub shuffle: bool,
    /// Image data (digits, MNIST): add one-pixel shifted copies of the training set.
    pub augment: bool,
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
            lr: 0.002,
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
            patience: 10,
            restarts: 1,
            standardize: true,
            shuffle: true,
            augment: true,
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

    /// The optimizer rule.
    pub fn rule(&self) -> Rule {
        match self.optimizer {
            OptimizerName::Sgd => Rule::Sgd { lr: self.lr },
            OptimizerName::Momentum => Rule::Momentum { lr: self.lr, mu: self.momentum, nesterov: false },
            OptimizerName::Nesterov => Rule::Momentum { lr: self.lr, mu: self.momentum, nesterov: true },
            OptimizerName::Adam => Rule::adam(self.lr),
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
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("--lr must be a positive number");
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
