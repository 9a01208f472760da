//! `myelin inspect`: a model's topology, parameter count, firmware budget and the host
//! trainer's memory footprint.

use myelin::error::{Error, Result};
use myelin::io::modelfile;
use std::path::Path;

/// Prints the model's layers and budgets.
pub fn run(path: &Path) -> Result<()> {
    let model = modelfile::load(path)?;
    let topology = &model.topology;
    println!("model {}", path.display());
    println!(
        "  loss {}; source {}",
        topology.loss().name(),
        if model.meta.source.is_empty() { "unknown" } else { &model.meta.source }
    );
    for (i, layer) in topology.layers().iter().enumerate() {
        println!("  layer {}: {:>5} -> {:<5} {}", i + 1, layer.inputs, layer.outputs, layer.activation.name());
    }
    let params = topology.params_len();
    let file =
        myelin_core::format::encoded_len(topology, model.standardizer.is_some()).map_err(Error::core("sizing"))?;
    let infer = topology.inference_len(1).map_err(Error::core("sizing"))?;
    let train = topology.workspace_len(1).map_err(Error::core("sizing"))?;
    println!("  parameters {params} ({} bytes as f32)", 4 * params);
    println!("  multiply-accumulates per inference {}", topology.macs());
    println!("firmware budget (batch 1):");
    println!("  flash: model file {file} bytes (include_model!, parameters read in place)");
    println!("  RAM:   inference workspace {} bytes (inference_len = {infer} f32)", 4 * infer);
    println!(
        "  RAM for on-device training, batch 1: params + grads {} bytes, workspace {} bytes, plus optimizer state",
        8 * params,
        4 * train
    );
    // The host trainer's footprint (myelin::memory): the CLI's defaults, batch 64 in shards of 32, Adam.
    let (batch, shard, slots) = (64, 32, 2);
    let footprint = myelin::memory::Footprint::training(topology, batch, shard, slots);
    println!(
        "training on the host, batch {batch}, shard {shard}, Adam: {} ({} bytes)",
        myelin::memory::human(footprint.total()),
        footprint.total()
    );
    println!("  = 4 * (P * (4 + S + k) + S * workspace_len(shard) + S * shard * (inputs + outputs)) + 8 * P * (3 + k)");
    println!("    with P = {params} parameters, S = ceil(batch / shard) shards, k = optimizer values per parameter");
    println!("{}", footprint.describe());
    Ok(())
}
