//! safetensors in and out: PyTorch `nn.Sequential` of `nn.Linear` layers (`0.weight`,
//! `0.bias`, `2.weight`, ...; weight (out, in) row-major, which is myelin's layout).

use crate::error::{Error, Result};
use myelin_core::{Activation, Layer, Loss, Topology};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::BTreeMap;
use std::path::Path;

fn fail(path: &Path, msg: impl Into<String>) -> Error {
    Error::Foreign { path: path.into(), msg: msg.into() }
}

/// Reads the Linear layers of a safetensors file, in module-index order, with the given
/// activations (one per layer) and loss: returns the topology and the parameter arena.
pub fn import(path: &Path, activations: &[Activation], loss: Loss) -> Result<(Topology, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| fail(path, format!("not a safetensors file: {e}")))?;
    // module index -> (weight, bias)
    let mut mods: BTreeMap<u64, (Option<TensorView<'_>>, Option<TensorView<'_>>)> = BTreeMap::new();
    for (name, view) in st.tensors() {
        let (prefix, kind) = name
            .rsplit_once('.')
            .ok_or_else(|| fail(path, format!("tensor {name:?}: expected <index>.weight or <index>.bias")))?;
        let idx: u64 = prefix
            .rsplit('.')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| fail(path, format!("tensor {name:?}: no module index")))?;
        let e = mods.entry(idx).or_default();
        match kind {
            "weight" => e.0 = Some(view),
            "bias" => e.1 = Some(view),
            _ => return Err(fail(path, format!("tensor {name:?}: only weight and bias are supported"))),
        }
    }
    if mods.len() != activations.len() {
        return Err(Error::Usage(format!(
            "{} has {} Linear layers but {} activations were given",
            path.display(),
            mods.len(),
            activations.len()
        )));
    }
    let mut layers = Vec::new();
    let mut params = Vec::new();
    for ((idx, (w, b)), &act) in mods.iter().zip(activations) {
        let w = w.as_ref().ok_or_else(|| fail(path, format!("layer {idx} has no weight")))?;
        if w.dtype() != Dtype::F32 || w.shape().len() != 2 {
            return Err(fail(
                path,
                format!("{idx}.weight must be a 2-D float32 tensor, got {:?} {:?}", w.dtype(), w.shape()),
            ));
        }
        let (out, inp) = (w.shape()[0], w.shape()[1]);
        params.extend(w.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        match b {
            Some(b) if b.dtype() == Dtype::F32 && b.shape() == [out] => {
                params.extend(b.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            }
            Some(b) => {
                return Err(fail(
                    path,
                    format!("{idx}.bias must be float32 of shape [{out}], got {:?} {:?}", b.dtype(), b.shape()),
                ))
            }
            None => params.extend(std::iter::repeat_n(0.0, out)),
        }
        layers.push(Layer::new(inp, out, act));
    }
    let topo = Topology::new(&layers, loss).map_err(Error::core("building the imported network"))?;
    Ok((topo, params))
}

/// Writes `params` as safetensors with PyTorch names (`{2i}.weight`, `{2i}.bias`: Linear
/// layers at even indices of an `nn.Sequential` with activations between them) and the
/// activations in the metadata.
pub fn export(path: &Path, topo: &Topology, params: &[f32]) -> Result<()> {
    let mut tensors = Vec::new();
    let mut acts = Vec::new();
    for (i, l) in topo.layers().iter().enumerate() {
        let r = topo.param_range(i).ok_or_else(|| Error::Usage("layer out of range".into()))?;
        let bytes = |s: &[f32]| s.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        tensors.push((format!("{}.weight", 2 * i), vec![l.outputs, l.inputs], bytes(&params[r.w..r.b])));
        tensors.push((format!("{}.bias", 2 * i), vec![l.outputs], bytes(&params[r.b..r.end])));
        acts.push(l.activation.name());
    }
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, d)| TensorView::new(Dtype::F32, s.clone(), d).map(|v| (n.clone(), v)))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| fail(path, e.to_string()))?;
    let mut meta = std::collections::HashMap::new();
    meta.insert("activations".to_string(), acts.join(","));
    meta.insert("loss".to_string(), topo.loss().name().to_string());
    meta.insert("format".to_string(), "myelin-mlp".to_string());
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| fail(path, e.to_string()))?;
    crate::io::modelfile::write_atomic(path, &bytes)
}
