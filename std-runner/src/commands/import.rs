//! `myelin import`: a model from a safetensors file of PyTorch `nn.Linear` layers.

use crate::ImportArgs;
use myelin::error::{Error, Result};
use myelin::io::modelfile::{self, Meta};
use myelin::io::safetensors;
use myelin_core::{Activation, Loss};

/// Reads the layers with the activations and loss given (flags or sidecar) and saves them.
pub fn run(args: ImportArgs) -> Result<()> {
    let (mut acts, mut loss) = (args.activations.clone(), args.loss.clone());
    if let Some(p) = &args.sidecar {
        #[derive(serde::Deserialize)]
        struct Side {
            activations: Vec<String>,
            loss: Option<String>,
        }
        let b = std::fs::read(p).map_err(|e| Error::io("reading", p, e))?;
        let s: Side = serde_json::from_slice(&b).map_err(|e| Error::Foreign { path: p.clone(), msg: e.to_string() })?;
        acts = s.activations;
        loss = loss.or(s.loss);
    }
    if acts.is_empty() {
        return Err(Error::Usage("give --activations (one per Linear layer, e.g. relu,softmax) or --sidecar".into()));
    }
    let acts: Vec<Activation> = acts
        .iter()
        .map(|n| Activation::from_name(n).ok_or_else(|| Error::Usage(format!("unknown activation {n:?}"))))
        .collect::<Result<_>>()?;
    let last = *acts.last().unwrap_or(&Activation::Identity);
    let loss = match loss {
        Some(l) => Loss::from_name(&l).ok_or_else(|| Error::Usage(format!("unknown loss {l:?}")))?,
        None if last == Activation::Softmax => Loss::CrossEntropy,
        None => Loss::Mse,
    };
    let (topo, params) = safetensors::import(&args.input, &acts, loss)?;
    let meta = Meta { source: format!("safetensors:{}", args.input.display()), ..Meta::default() };
    modelfile::save(&args.out, &topo, &params, None, &meta)?;
    println!("imported {} layers ({} parameters) into {}", topo.layers().len(), topo.params_len(), args.out.display());
    Ok(())
}
