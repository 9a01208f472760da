//! Checkpoints: everything needed to continue a run exactly where it stopped, in one
//! checksummed file written atomically.
//!
//! ```text
//! "MYCK" | version u32 | json length u32 | json (State) | model length u32 | model file
//!        | best length u32 | model file of this restart's best parameters
//!        | overall length u32 | model file of the best finished restart (length 0: none yet)
//!        | optimizer state count u64 | f32 state | CRC-32 of everything before
//! ```
//!
//! Shuffling and dropout streams are derived from (seed, epoch, step), so no generator state
//! needs saving: a resumed run replays the same batches and masks as an uninterrupted one.

use super::early_stop::EarlyStopping;
use super::spec::TrainSpec;
use crate::error::{Error, Result};
use crate::io::modelfile::{decode, encode, write_atomic};
use myelin_core::format::crc32;
use myelin_core::Topology;
use serde::{Deserialize, Serialize};
use std::path::Path;

const MAGIC: &[u8; 4] = b"MYCK";
const VERSION: u32 = 1;

/// Per-epoch figures, also written as JSON lines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Restart index (0-based).
    pub restart: usize,
    /// Epoch (1-based).
    pub epoch: usize,
    /// Mean training loss over the epoch's steps.
    pub train_loss: f64,
    /// Validation loss (NaN-free: null when there is no validation set).
    pub val_loss: Option<f64>,
    /// Validation accuracy (classification).
    pub val_accuracy: Option<f64>,
    /// Validation RMSE in the targets' units (regression).
    #[serde(default)]
    pub val_rmse: Option<f64>,
    /// Learning rate of the epoch's last step.
    #[serde(default)]
    pub lr: Option<f64>,
    /// Test accuracy (classification) or RMSE (regression) in data units.
    pub test_metric: Option<f64>,
    /// Global gradient norm at the end of the epoch, on up to 512 validation samples.
    pub grad_norm: f64,
    /// Per-layer gradient norms (same probe).
    pub layer_grad_norms: Vec<f64>,
    /// Per-layer dead-ReLU fractions.
    pub dead_fraction: Vec<f64>,
    /// Per-layer saturated-unit fractions.
    pub saturated_fraction: Vec<f64>,
    /// Wall seconds spent in this epoch's training steps.
    pub seconds: f64,
}

/// The resumable state besides the tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The spec of the run.
    pub spec: TrainSpec,
    /// Restart being trained (0-based).
    pub restart: usize,
    /// Epochs completed in this restart.
    pub epoch: usize,
    /// Optimizer steps taken in this restart.
    pub opt_steps: u64,
    /// Early stopping in this restart: the best validation loss, its epoch, epochs since
    /// (`best` and `bad_epochs` in the JSON).
    #[serde(flatten)]
    pub early: EarlyStopping,
    /// Best over finished restarts: (validation loss, restart).
    pub best_overall: Option<(f64, usize)>,
    /// Whether this restart has stopped (early stopping or last epoch).
    pub finished: bool,
    /// Every epoch so far, all restarts.
    pub history: Vec<EpochMetrics>,
}

/// A checkpoint in memory.
pub struct Checkpoint {
    /// Non-tensor state.
    pub state: State,
    /// The network.
    pub topology: Topology,
    /// Current parameters.
    pub params: Vec<f32>,
    /// Best parameters of the current restart.
    pub best_params: Vec<f32>,
    /// Best parameters over finished restarts (empty until one finishes).
    pub overall_params: Vec<f32>,
    /// Optimizer state.
    pub opt_state: Vec<f32>,
    /// Input standardization.
    pub standardizer: Option<crate::data::Standardizer>,
}

impl Checkpoint {
    /// Writes atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json =
            serde_json::to_vec(&self.state).map_err(|e| Error::Foreign { path: path.into(), msg: e.to_string() })?;
        let model = encode(&self.topology, &self.params, self.standardizer.as_ref())?;
        let best = encode(&self.topology, &self.best_params, self.standardizer.as_ref())?;
        let overall = if self.overall_params.is_empty() {
            vec![]
        } else {
            encode(&self.topology, &self.overall_params, self.standardizer.as_ref())?
        };
        let mut b = Vec::with_capacity(32 + json.len() + model.len() * 2 + 4 * self.opt_state.len());
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        for part in [&json, &model, &best, &overall] {
            b.extend_from_slice(&(part.len() as u32).to_le_bytes());
            b.extend_from_slice(part);
        }
        b.extend_from_slice(&(self.opt_state.len() as u64).to_le_bytes());
        for v in &self.opt_state {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let crc = crc32(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        write_atomic(path, &b)
    }

    /// Reads and verifies a checkpoint.
    pub fn load(path: &Path) -> Result<Checkpoint> {
        let b = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
        let bad = |msg: &str| Error::Parse { path: path.into(), line: 0, msg: format!("checkpoint {msg}") };
        if b.len() < 12 || &b[..4] != MAGIC {
            return Err(bad("has a bad magic (not a myelin checkpoint)"));
        }
        let (body, tail) = b.split_at(b.len() - 4);
        if crc32(body) != u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) {
            return Err(bad("is corrupted (checksum mismatch)"));
        }
        if u32::from_le_bytes([b[4], b[5], b[6], b[7]]) != VERSION {
            return Err(bad("version is not supported"));
        }
        let mut at: usize = 8;
        let mut take = |n: usize| -> Result<&[u8]> {
            let s = body
                .get(at..at.checked_add(n).ok_or_else(|| bad("is truncated"))?)
                .ok_or_else(|| bad("is truncated"))?;
            at += n;
            Ok(s)
        };
        let mut part = || -> Result<&[u8]> {
            let l = take(4)?;
            let n = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
            take(n)
        };
        let json = part()?.to_vec();
        let model = part()?.to_vec();
        let best = part()?.to_vec();
        let overall = part()?.to_vec();
        let state: State = serde_json::from_slice(&json).map_err(|e| bad(&format!("state: {e}")))?;
        let (topology, params, standardizer) = decode(&model, path)?;
        let (_, best_params, _) = decode(&best, path)?;
        let overall_params = if overall.is_empty() { vec![] } else { decode(&overall, path)?.1 };
        let l = take(8)?;
        let count = u64::from_le_bytes([l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]]) as usize;
        let raw = take(count.checked_mul(4).ok_or_else(|| bad("is truncated"))?)?;
        let opt_state = raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Ok(Checkpoint { state, topology, params, best_params, overall_params, opt_state, standardizer })
    }
}
