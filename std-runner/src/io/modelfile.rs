//! Saving and loading trained models: the core's model file (`.myelin`) plus a JSON sidecar
//! (`.json`) with what the core does not need but a user does (CSV schema, class names,
//! target scaling, the spec that trained it). Every write is atomic.

use crate::data::csv::Schema;
use crate::data::Standardizer;
use crate::error::{Error, Result};
use crate::train::spec::TrainSpec;
use myelin_core::format;
use myelin_core::Topology;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What accompanies a model file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Where the data came from (`digits`, `mnist:DIR`, `csv:PATH`).
    pub source: String,
    /// CSV schema (CSV data only).
    pub schema: Option<Schema>,
    /// Class names, class order (classification).
    pub classes: Vec<String>,
    /// Regression targets are standardized for training: (mean, std) per target.
    pub target_scale: Option<(Vec<f32>, Vec<f32>)>,
    /// The spec that trained it.
    pub spec: Option<TrainSpec>,
}

/// A model loaded into owned memory.
#[derive(Clone, Debug)]
pub struct Saved {
    /// The network.
    pub topology: Topology,
    /// Parameters.
    pub params: Vec<f32>,
    /// Input standardization.
    pub standardizer: Option<Standardizer>,
    /// Sidecar.
    pub meta: Meta,
    /// An int8 model (file version 2): `topology` is its shape, `params` are empty and
    /// `standardizer` is `None` (its input quantizer takes raw features).
    pub int8: Option<crate::quant::Int8Model>,
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync,
/// rename over the target, fsync the directory. Readers see the old file or the new one,
/// never a mix, even if the process is killed mid-write.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        let (head, tail) = bytes.split_at(bytes.len() / 2);
        f.write_all(head)?;
        test_pause(&name, "mid-write");
        f.write_all(tail)?;
        f.sync_all()?;
        test_pause(&name, "before-rename");
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("writing", path, e)
    })
}

/// Removes the temporary files [`write_atomic`] leaves in `dir` when killed mid-write.
pub fn remove_stale_temporaries(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.contains(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Pause points for the fault-injection tests, compiled into debug builds only (the binary
/// the tests run; release builds carry none). `MYELIN_TEST_PAUSE=FILE:POINT[@N]` stops the
/// process at `POINT` of the `N`th (default first) atomic write of a file named `FILE`: it
/// prints `paused at FILE:POINT` on stderr and sleeps until killed, so a test can SIGKILL it
/// at exactly that moment. Points: `mid-write` (half the temporary file written) and
/// `before-rename` (temporary file complete and synced, target not yet replaced).
#[cfg(debug_assertions)]
fn test_pause(file: &str, point: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    let Ok(spec) = std::env::var("MYELIN_TEST_PAUSE") else { return };
    let (target, nth) = match spec.split_once('@') {
        Some((t, n)) => (t.to_string(), n.parse().unwrap_or(1)),
        None => (spec.clone(), 1),
    };
    if target != format!("{file}:{point}") {
        return;
    }
    if SEEN.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        eprintln!("paused at {target}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

#[cfg(not(debug_assertions))]
fn test_pause(_: &str, _: &str) {}

/// Encodes a model file in memory.
pub fn encode(topo: &Topology, params: &[f32], std: Option<&Standardizer>) -> Result<Vec<u8>> {
    let mut out = vec![0u8; format::encoded_len(topo, std.is_some()).map_err(Error::core("sizing the model file"))?];
    format::write(topo, params, std.map(Standardizer::view), &mut out).map_err(Error::core("encoding the model"))?;
    Ok(out)
}

/// The sidecar path for a model path.
pub fn meta_path(model: &Path) -> PathBuf {
    model.with_extension("json")
}

/// Saves model and sidecar atomically.
pub fn save(path: &Path, topo: &Topology, params: &[f32], std: Option<&Standardizer>, meta: &Meta) -> Result<()> {
    write_atomic(path, &encode(topo, params, std)?)?;
    let json = serde_json::to_vec_pretty(meta).map_err(|e| Error::Foreign { path: path.into(), msg: e.to_string() })?;
    write_atomic(&meta_path(path), &json)
}

/// Saves an int8 model and its sidecar atomically.
pub fn save_int8(path: &Path, model: &crate::quant::Int8Model, meta: &Meta) -> Result<()> {
    write_atomic(path, model.bytes())?;
    let json = serde_json::to_vec_pretty(meta).map_err(|e| Error::Foreign { path: path.into(), msg: e.to_string() })?;
    write_atomic(&meta_path(path), &json)
}

/// Decodes model-file bytes into owned memory.
pub fn decode(bytes: &[u8], path: &Path) -> Result<(Topology, Vec<f32>, Option<Standardizer>)> {
    let mut scratch = vec![0.0f32; bytes.len() / 4];
    let m = format::parse(bytes, &mut scratch).map_err(|source| Error::Model { path: path.into(), source })?;
    let std = m.standardizer.map(|s| Standardizer { mean: s.mean.to_vec(), std: s.std.to_vec() });
    Ok((m.topology, m.params.to_vec(), std))
}

/// Loads a model and its sidecar (absent sidecar: defaults).
pub fn load(path: &Path) -> Result<Saved> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    let (topology, params, standardizer, int8) = if bytes.get(4..6) == Some(&myelin_core::quant::VERSION.to_le_bytes())
    {
        let q = crate::quant::Int8Model::from_bytes(&bytes, path)?;
        (q.topology()?, vec![], None, Some(q))
    } else {
        let (t, p, s) = decode(&bytes, path)?;
        (t, p, s, None)
    };
    let mp = meta_path(path);
    let meta = match std::fs::read(&mp) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Foreign { path: mp, msg: e.to_string() })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Meta::default(),
        Err(e) => return Err(Error::io("reading", mp, e)),
    };
    Ok(Saved { topology, params, standardizer, meta, int8 })
}

/// Folds regression target scaling into the output layer, so the model alone outputs data
/// units: `y = y' s + m` with `y' = x W^T + b` becomes `W <- s W` (row-wise), `b <- s b + m`.
/// Only exact for an identity output; other outputs are an error.
pub fn fold_target_scale(topo: &Topology, params: &[f32], scale: &(Vec<f32>, Vec<f32>)) -> Result<Vec<f32>> {
    if topo.output_activation() != myelin_core::Activation::Identity {
        return Err(Error::Usage(
            "the model's targets were standardized for training and its output activation is not identity: \
             the scaling cannot be folded into the file; use `myelin predict`, which applies it"
                .into(),
        ));
    }
    let last = topo.layers().len() - 1;
    let r = topo.param_range(last).ok_or_else(|| Error::Usage("empty model".into()))?;
    let n_in = topo.layers()[last].inputs;
    let mut p = params.to_vec();
    for (j, (m, s)) in scale.0.iter().zip(&scale.1).enumerate() {
        p[r.w + j * n_in..r.w + (j + 1) * n_in].iter_mut().for_each(|w| *w *= s);
        p[r.b + j] = p[r.b + j] * s + m;
    }
    Ok(p)
}
