//! `myelin train`: the flags (over an optional TOML config) into a spec, then the run.

use crate::TrainArgs;
use myelin::error::Result;
use myelin::train::run::{train, RunOptions};
use myelin::train::spec::TrainSpec;
use std::path::PathBuf;

/// Trains into the run folder and prints the test figure and where the files are.
pub fn run(a: TrainArgs) -> Result<()> {
    let spec = spec(&a)?;
    let source = super::source(&a.data)?;
    let out = a.out.clone().unwrap_or_else(|| next_run_dir(&a.data.data));
    if !a.quiet {
        println!("run folder: {}", out.display());
    }
    let t0 = std::time::Instant::now();
    let s = train(&RunOptions {
        spec,
        source,
        out,
        resume: a.resume,
        progress: !a.quiet,
        stop_after: a.stop_after,
        test_every_epoch: a.test_every_epoch,
    })?;
    if !s.finished {
        println!("stopped after {} epochs; continue with --resume --out {}", s.epochs, s.out.display());
        return Ok(());
    }
    let what = match s.baseline {
        Some(b) => {
            format!("test RMSE {:.3} (mean predictor {:.3}, {:.2}x better)", s.test_metric, b, b / s.test_metric)
        }
        None => format!("test accuracy {:.2}%", 100.0 * s.test_metric),
    };
    println!(
        "{what} after {} epochs; {:.1}s training, {:.1}s total",
        s.epochs,
        s.train_seconds,
        t0.elapsed().as_secs_f64()
    );
    println!("model:   {}", s.out.join("model.myelin").display());
    println!("metrics: {}", s.out.join("metrics.jsonl").display());
    println!("curves:  {} (and .svg)", s.out.join("curves.png").display());
    Ok(())
}

/// The spec: the config file's (or the defaults), each flag given overriding it.
fn spec(a: &TrainArgs) -> Result<TrainSpec> {
    let mut s = match &a.config {
        Some(p) => TrainSpec::from_toml(p)?,
        None => TrainSpec::default(),
    };
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = &a.$f { s.$f = v.clone(); } )* };
    }
    set!(
        hidden,
        activation,
        optimizer,
        lr,
        momentum,
        batch,
        epochs,
        l1,
        l2,
        dropout,
        seed,
        threads,
        shard,
        val_fraction,
        patience,
        restarts
    );
    if a.output.is_some() {
        s.output = a.output.clone();
    }
    if a.loss.is_some() {
        s.loss = a.loss.clone();
    }
    if a.clip_norm.is_some() {
        s.clip_norm = a.clip_norm;
    }
    if a.init.is_some() {
        s.init = a.init.clone();
    }
    if a.no_standardize {
        s.standardize = false;
    }
    if a.no_shuffle {
        s.shuffle = false;
    }
    if a.no_augment {
        s.augment = false;
    }
    Ok(s)
}

/// `runs/<data>-NNN`, the next free number.
fn next_run_dir(data: &str) -> PathBuf {
    let tag: String = data
        .split([':', '/', '\\'])
        .rfind(|s| !s.is_empty())
        .unwrap_or("run")
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
        .collect();
    let tag = tag.trim_end_matches(".csv").trim_end_matches(".gz").to_string();
    (1..)
        .map(|i| PathBuf::from(format!("runs/{tag}-{i:03}")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| "runs/run".into())
}
