//! `myelin import`: a model from an ONNX graph, or from a safetensors file of PyTorch
//! `nn.Linear` layers.

use crate::ImportArgs;
use myelin::error::{Error, Result};
use myelin::io::modelfile::{self, Meta};
use myelin::io::safetensors;
use myelin_core::{Activation, Loss};

/// Reads the layers (an ONNX graph, or safetensors with the activations and loss given by
/// flags or sidecar) and saves them.
pub fn run(args: ImportArgs) -> Result<()> {
    if args.input.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
        return onnx(&args);
    }
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

/// An ONNX graph: its layers, activations, standardization and class names.
fn onnx(args: &ImportArgs) -> Result<()> {
    if !args.activations.is_empty() || args.sidecar.is_some() || args.loss.is_some() {
        return Err(Error::Usage(
            "an ONNX graph names its own activations and loss: drop --activations, --loss, --sidecar".into(),
        ));
    }
    let bytes = std::fs::read(&args.input).map_err(|e| Error::io("reading", &args.input, e))?;
    let imported =
        myelin::io::onnx::import(&bytes).map_err(|source| Error::Onnx { path: args.input.clone(), source })?;
    let meta = Meta { source: format!("onnx:{}", args.input.display()), ..imported.meta };
    modelfile::save(&args.out, &imported.topology, &imported.params, imported.standardizer.as_ref(), &meta)?;
    for note in &imported.notes {
        println!("note: {note}");
    }
    let acts: Vec<&str> = imported.topology.layers().iter().map(|l| l.activation.name()).collect();
    println!(
        "imported {} layers ({}; {} parameters{}) into {}",
        imported.topology.layers().len(),
        acts.join(", "),
        imported.topology.params_len(),
        if imported.standardizer.is_some() { ", with the input standardization" } else { "" },
        args.out.display()
    );
    Ok(())
}
