//! `myelin train`: the flags (over an optional TOML config) into a spec, then the run.

use crate::TrainArgs;
use myelin::error::{Error, Result};
use myelin::train::run::{train_with, RunOptions};
use myelin::train::spec::{InputScale, TrainSpec};
use myelin::train::Collective;
use std::path::PathBuf;

/// Trains into the run folder and prints the test figure and where the files are. Under an
/// MPI launcher (with the `mpi` feature) every rank runs this; rank 0 alone prints and
/// writes.
pub fn run(args: TrainArgs) -> Result<()> {
    #[cfg(feature = "mpi")]
    let mpi = myelin::train::mpi::Mpi::join()?;
    #[cfg(feature = "mpi")]
    let group = mpi.as_ref().map(|m| m as &dyn Collective);
    #[cfg(not(feature = "mpi"))]
    let group: Option<&dyn Collective> = None;
    let lead = group.is_none_or(|g| g.rank() == 0);
    let spec = spec(&args)?;
    let source = super::source(&args.data)?;
    let out = match (&args.out, group) {
        (Some(out), _) => out.clone(),
        (None, None) => next_run_dir(&args.data.data),
        (None, Some(_)) => {
            return Err(Error::Usage(
                "give --out DIR when training on several ranks: every rank names the same run folder".into(),
            ))
        }
    };
    let quiet = args.quiet || !lead;
    if !quiet {
        println!("run folder: {}", out.display());
    }
    let t0 = std::time::Instant::now();
    let options = RunOptions {
        spec,
        source,
        out,
        resume: args.resume,
        progress: !quiet,
        stop_after: args.stop_after,
        test_every_epoch: args.test_every_epoch,
    };
    let summary = train_with(&options, group)?;
    if !lead {
        return Ok(());
    }
    if !summary.finished {
        println!("stopped after {} epochs; continue with --resume --out {}", summary.epochs, summary.out.display());
        return Ok(());
    }
    let what = match summary.baseline {
        Some(baseline) => {
            format!(
                "test RMSE {:.3} (mean predictor {:.3}, {:.2}x better)",
                summary.test_metric,
                baseline,
                baseline / summary.test_metric
            )
        }
        None => format!("test accuracy {:.2}%", 100.0 * summary.test_metric),
    };
    println!(
        "{what} after {} epochs; {:.1}s training, {:.1}s total",
        summary.epochs,
        summary.train_seconds,
        t0.elapsed().as_secs_f64()
    );
    println!("model:   {}", summary.out.join("model.myelin").display());
    println!("metrics: {}", summary.out.join("metrics.jsonl").display());
    println!("curves:  {} (and .svg)", summary.out.join("curves.png").display());
    Ok(())
}

/// The spec: the config file's (or the defaults), each flag given overriding it.
fn spec(args: &TrainArgs) -> Result<TrainSpec> {
    let mut s = match &args.config {
        Some(p) => TrainSpec::from_toml(p)?,
        None => TrainSpec::default(),
    };
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = &args.$f { s.$f = v.clone(); } )* };
    }
    set!(
        hidden,
        activation,
        optimizer,
        schedule,
        decay_every,
        min_lr,
        cycle,
        cycle_mult,
        warmup,
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
        val_split,
        monitor,
        min_delta,
        patience,
        restarts,
        scale,
        random_shift
    );
    if args.lr.is_some() {
        s.lr = args.lr;
    }
    if args.decay.is_some() {
        s.decay = args.decay;
    }
    if args.output.is_some() {
        s.output = args.output.clone();
    }
    if args.loss.is_some() {
        s.loss = args.loss.clone();
    }
    if args.clip_norm.is_some() {
        s.clip_norm = args.clip_norm;
    }
    if args.max_norm.is_some() {
        s.max_norm = args.max_norm;
    }
    if args.init.is_some() {
        s.init = args.init.clone();
    }
    if args.no_standardize {
        s.scale = InputScale::None;
        s.standardize = None;
    }
    if args.scale.is_some() {
        s.standardize = None;
    }
    if args.no_shuffle {
        s.shuffle = false;
    }
    if args.no_augment {
        s.augment = false;
    }
    if args.allreduce {
        s.allreduce = true;
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
