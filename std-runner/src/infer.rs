//! Inference over a dataset: a model's outputs for every sample, in chunks of 256, and the
//! same in data units for a saved model (regression targets unscaled).

use crate::data::source::unscale_outputs;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::io::modelfile::Saved;
use myelin_core::quant::I8Backend;
use myelin_core::{Kernels, Topology};

/// Outputs (samples, outputs) of `topo` with `params` for every sample of `data`.
pub fn predict<K: Kernels + Sync>(topo: &Topology, params: &[f32], kernels: &K, data: &Dataset) -> Result<Vec<f32>> {
    const CHUNK: usize = 256;
    let (fi, fo) = (topo.inputs(), topo.outputs());
    let mut out = vec![0.0; data.len() * fo];
    let mut work = vec![0.0; topo.inference_len(CHUNK).map_err(Error::core("sizing"))?];
    for (c, o) in out.chunks_mut(CHUNK * fo).enumerate() {
        let n = o.len() / fo;
        let x = &data.x[c * CHUNK * fi..(c * CHUNK + n) * fi];
        let len = topo.inference_len(n).map_err(Error::core("sizing"))?;
        let y = topo.predict(kernels, params, x, n, &mut work[..len]).map_err(Error::core("predict"))?;
        o.copy_from_slice(y);
    }
    Ok(out)
}

/// A saved model's outputs for every sample of `data` (already standardized), in data
/// units.
pub fn outputs<K: Kernels + Sync>(model: &Saved, kernels: &K, data: &Dataset) -> Result<Vec<f32>> {
    outputs_with(model, kernels, I8Backend::detect(), data)
}

/// [`outputs`] with the int8 kernel set named: an int8 model runs on `int8`, a float model
/// on `kernels`.
pub fn outputs_with<K: Kernels + Sync>(
    model: &Saved,
    kernels: &K,
    int8: I8Backend,
    data: &Dataset,
) -> Result<Vec<f32>> {
    let mut y = match &model.int8 {
        Some(q) => q.predict(int8, &data.x, data.features)?,
        None => predict(&model.topology, &model.params, kernels, data)?,
    };
    if let Some(s) = &model.meta.target_scale {
        unscale_outputs(&mut y, s);
    }
    Ok(y)
}
