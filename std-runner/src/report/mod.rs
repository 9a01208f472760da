//! What a run and a model report: evaluation figures ([`metrics`]), the per-epoch
//! `metrics.jsonl` ([`MetricsLog`]), progress and epoch lines ([`progress`]), learning
//! curves ([`plot`]) and prediction CSVs ([`predictions`]).

pub mod metrics;
pub mod plot;
pub mod predictions;
pub mod progress;

use crate::error::{Error, Result};
use crate::io::modelfile::write_atomic;
use crate::train::checkpoint::EpochMetrics;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `metrics.jsonl`: one JSON line per epoch, appended as epochs end.
pub struct MetricsLog {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsLog {
    /// Opens the log at `path` holding exactly `history` (a resumed run's checkpointed
    /// epochs: a killed run may have written lines for an epoch whose checkpoint never
    /// landed).
    pub fn open(path: &Path, history: &[EpochMetrics]) -> Result<MetricsLog> {
        let mut lines = String::new();
        for figures in history {
            lines += &serde_json::to_string(figures).unwrap_or_default();
            lines.push('\n');
        }
        write_atomic(path, lines.as_bytes())?;
        let file = std::fs::OpenOptions::new().append(true).open(path).map_err(|e| Error::io("opening", path, e))?;
        Ok(MetricsLog { path: path.to_path_buf(), file })
    }

    /// Appends one epoch's line.
    pub fn append(&mut self, figures: &EpochMetrics) -> Result<()> {
        writeln!(self.file, "{}", serde_json::to_string(figures).unwrap_or_default())
            .map_err(|e| Error::io("writing", &self.path, e))
    }
}
