//! The `train` command: epochs of shuffled mini-batches, validation, early stopping, random
//! restarts, per-epoch metrics, gradient health, checkpoints and resume, learning curves.

use crate::checkpoint::{Checkpoint, EpochMetrics, State};
use crate::error::{Error, Result};
use crate::metrics;
use crate::modelfile;
use crate::source::{prepare, unscale_outputs, Prepared, Source};
use crate::spec::TrainSpec;
use crate::trainer::Trainer;
use myelin_core::{Optimizer, Rng, Topology};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How to run `train`.
pub struct RunOptions {
    /// Hyperparameters.
    pub spec: TrainSpec,
    /// Data.
    pub source: Source,
    /// Run folder.
    pub out: PathBuf,
    /// Continue from `out/checkpoint.myelin-ckpt`.
    pub resume: bool,
    /// Show a progress bar.
    pub progress: bool,
    /// Stop (as if interrupted) after this many epochs in this process (tests).
    pub stop_after: Option<usize>,
    /// Also measure the test set after every epoch (metrics, progress line, curves). Off by
    /// default: the test set is for the end (`eval`); choosing anything by its per-epoch
    /// figure leaks it into the model.
    pub test_every_epoch: bool,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The run folder.
    pub out: PathBuf,
    /// Test accuracy (classification) or RMSE (regression).
    pub test_metric: f64,
    /// RMSE of the mean predictor (regression).
    pub baseline: Option<f64>,
    /// Epochs trained in total (all restarts).
    pub epochs: usize,
    /// Seconds spent in training steps.
    pub train_seconds: f64,
    /// Whether the run finished (false: stopped by `stop_after`).
    pub finished: bool,
}

/// Checkpoint file name inside a run folder.
pub const CHECKPOINT: &str = "checkpoint.myelin-ckpt";

fn new_state(spec: &TrainSpec) -> State {
    State {
        spec: spec.clone(),
        restart: 0,
        epoch: 0,
        opt_steps: 0,
        best: None,
        best_overall: None,
        bad_epochs: 0,
        finished: false,
        history: vec![],
    }
}

fn fresh(topo: &Topology, spec: &TrainSpec, restart: usize) -> Result<(Vec<f32>, Optimizer)> {
    let mut params = crate::memory::zeros(topo.params_len(), "parameters")?;
    let seed = spec.seed.wrapping_add(restart as u64);
    topo.init_params(&mut params, spec.init()?, &mut Rng::stream(seed, INIT_STREAM)).map_err(Error::core("init"))?;
    Ok((params, Optimizer::new(spec.rule()).map_err(Error::core("optimizer"))?))
}

const INIT_STREAM: u64 = 0x1417;
const SHUFFLE_STREAM: u64 = 1 << 60;

/// Mean loss of `params` on `d` (targets as trained on).
fn dataset_loss(topo: &Topology, outputs: &[f32], d: &crate::data::Dataset) -> f64 {
    let w = topo.outputs();
    let mut t = vec![0.0; w];
    let mut total = 0.0f64;
    for (i, y) in outputs.chunks_exact(w).enumerate() {
        d.target_row(i, &mut t);
        total += topo.loss().sample(y, &t) as f64;
    }
    total / d.len().max(1) as f64
}

/// Test figure in data units: accuracy or RMSE.
fn test_metric(p: &Prepared, mut outputs: Vec<f32>) -> (f64, Option<f64>) {
    if p.test.is_classification() {
        (metrics::classify(&p.test, &outputs).accuracy, None)
    } else {
        if let Some(s) = &p.meta.target_scale {
            unscale_outputs(&mut outputs, s);
        }
        let r = metrics::regress(&p.test, &outputs);
        (r.rmse, Some(r.rmse_mean_predictor))
    }
}

/// Runs (or resumes) training; writes model, metrics, plots and checkpoints into `opts.out`.
pub fn train(opts: &RunOptions) -> Result<Summary> {
    let kernels = crate::gemm::Gemm::from_env()?;
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io("creating", &opts.out, e))?;
    remove_stale_temporaries(&opts.out);
    let ckpt_path = opts.out.join(CHECKPOINT);
    let resumed = if opts.resume { Some(Checkpoint::load(&ckpt_path)?) } else { None };
    let mut spec = resumed.as_ref().map_or_else(|| opts.spec.clone(), |c| c.state.spec.clone());
    spec.validate()?;
    let p = prepare(&opts.source, &spec)?;
    let topo = spec.topology(p.train.features, p.train.target_width(), p.train.is_classification())?;
    if spec.batch > p.train.len() && !p.train.is_empty() {
        // One step over the whole training set per epoch: the same steps as the larger
        // batch, without buffers sized for samples that do not exist.
        eprintln!(
            "note: --batch {} is larger than the training set ({} samples): each batch is the whole set",
            spec.batch,
            p.train.len()
        );
        spec.batch = p.train.len();
    }
    let slots = spec.rule().state_len(1);
    crate::memory::Footprint::training(&topo, spec.batch, spec.shard, slots).check(
        &format!(
            "training {:?} with batch {} in shards of {}",
            topo.layers().iter().map(|l| l.outputs).collect::<Vec<_>>(),
            spec.batch,
            spec.shard
        ),
        "use fewer or narrower --hidden layers, or a smaller --batch or --shard",
    )?;
    let metrics_path = opts.out.join("metrics.jsonl");

    let (mut state, mut params, mut best_params, mut overall_best, mut opt, mut opt_state) = match resumed {
        Some(c) => {
            if c.topo != topo {
                return Err(Error::Shape {
                    op: "resuming",
                    expected: format!("{:?}", c.topo.layers()),
                    got: format!("{:?} from the data and spec", topo.layers()),
                });
            }
            let opt = Optimizer::with_steps(spec.rule(), c.state.opt_steps).map_err(Error::core("optimizer"))?;
            let overall = (!c.overall_params.is_empty()).then_some(c.overall_params);
            (c.state, c.params, c.best_params, overall, opt, c.opt_state)
        }
        None => {
            let (params, opt) = fresh(&topo, &spec, 0)?;
            let _ = std::fs::remove_file(&metrics_path);
            (new_state(&spec), params.clone(), params, None, opt, vec![])
        }
    };
    // The metrics file mirrors the checkpoint's history (a killed run may have written lines
    // for an epoch whose checkpoint never landed).
    let mut lines = String::new();
    for m in &state.history {
        lines += &serde_json::to_string(m).unwrap_or_default();
        lines.push('\n');
    }
    modelfile::write_atomic(&metrics_path, lines.as_bytes())?;
    let mut metrics_file = std::fs::OpenOptions::new()
        .append(true)
        .open(&metrics_path)
        .map_err(|e| Error::io("opening", &metrics_path, e))?;

    let classify = p.train.is_classification();
    let mut epochs_this_process = 0;
    let mut train_seconds = 0.0;
    'restarts: while state.restart < spec.restarts {
        if state.finished {
            state.restart += 1;
            state.epoch = 0;
            state.opt_steps = 0;
            state.best = None;
            state.bad_epochs = 0;
            state.finished = false;
            if state.restart >= spec.restarts {
                break;
            }
            let (p0, o) = fresh(&topo, &spec, state.restart)?;
            params = p0.clone();
            best_params = p0;
            opt = o;
            opt_state = vec![];
        }
        let seed = spec.seed.wrapping_add(state.restart as u64);
        let mut tr = Trainer::new(topo, std::mem::take(&mut params), opt, spec.batch, spec.shard, spec.threads, seed)?;
        tr.set_kernels(kernels);
        if !opt_state.is_empty() {
            tr.state.copy_from_slice(&opt_state);
        }
        tr.dropout = spec.dropout;
        tr.l1 = spec.l1;
        tr.l2 = spec.l2;
        tr.clip_norm = spec.clip_norm;
        let n = p.train.len();
        let steps = n.div_ceil(spec.batch);
        while state.epoch < spec.epochs {
            if opts.stop_after.is_some_and(|s| epochs_this_process >= s) {
                return Ok(Summary {
                    out: opts.out.clone(),
                    test_metric: f64::NAN,
                    baseline: None,
                    epochs: state.history.len(),
                    train_seconds,
                    finished: false,
                });
            }
            let epoch = state.epoch + 1;
            let mut order: Vec<usize> = (0..n).collect();
            if spec.shuffle {
                Rng::stream(seed ^ SHUFFLE_STREAM, epoch as u64).shuffle(&mut order);
            }
            let bar = progress_bar(opts.progress, steps as u64, state.restart, spec.restarts, epoch, spec.epochs);
            let t0 = Instant::now();
            let mut loss_sum = 0.0f64;
            for (s, batch) in order.chunks(spec.batch).enumerate() {
                let loss = tr.step(&p.train, batch, epoch as u64, s as u64)?;
                if !loss.is_finite() {
                    let layer = first_bad_layer(&topo, &tr.params)
                        .map_or(String::new(), |l| format!("; layer {l} now has non-finite weights"));
                    return Err(Error::Diverged { epoch, step: s + 1, what: format!("loss is {loss}{layer}") });
                }
                loss_sum += loss as f64;
                if s % 16 == 0 || s + 1 == steps {
                    bar.set_position(s as u64 + 1);
                    bar.set_message(format!("loss {:.4}", loss_sum / (s + 1) as f64));
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            train_seconds += secs;
            if let Some(l) = first_bad_layer(&topo, &tr.params) {
                return Err(Error::Diverged { epoch, step: steps, what: format!("layer {l} has non-finite weights") });
            }
            let m =
                epoch_metrics(&tr, &p, &state, epoch, loss_sum / steps as f64, secs, classify, opts.test_every_epoch)?;
            bar.finish_and_clear();
            if opts.progress {
                print_epoch(&m, classify);
            }
            // Early stopping on validation loss (training loss without a validation set).
            let score = m.val_loss.unwrap_or(m.train_loss);
            if state.best.is_none_or(|(b, _)| score < b) {
                state.best = Some((score, epoch));
                best_params.copy_from_slice(&tr.params);
                state.bad_epochs = 0;
            } else {
                state.bad_epochs += 1;
            }
            writeln!(metrics_file, "{}", serde_json::to_string(&m).unwrap_or_default())
                .map_err(|e| Error::io("writing", &metrics_path, e))?;
            state.history.push(m);
            state.epoch = epoch;
            state.opt_steps = tr.opt.steps();
            state.finished = epoch == spec.epochs || (spec.patience > 0 && state.bad_epochs >= spec.patience);
            if state.finished {
                let score = state.best.map_or(f64::INFINITY, |b| b.0);
                if state.best_overall.is_none_or(|(b, _)| score < b) {
                    state.best_overall = Some((score, state.restart));
                    modelfile::save(
                        &opts.out.join("best-so-far.myelin"),
                        &topo,
                        &best_params,
                        p.standardizer.as_ref(),
                        &p.meta,
                    )?;
                    overall_best = Some(best_params.clone());
                }
            }
            Checkpoint {
                state: state.clone(),
                topo,
                params: tr.params.clone(),
                best_params: best_params.clone(),
                overall_params: overall_best.clone().unwrap_or_default(),
                opt_state: tr.state.clone(),
                standardizer: p.standardizer.clone(),
            }
            .save(&ckpt_path)?;
            epochs_this_process += 1;
            if state.finished {
                if opts.progress && epoch < spec.epochs {
                    println!(
                        "early stop: no better validation loss for {} epochs (best at epoch {})",
                        spec.patience,
                        state.best.map_or(0, |b| b.1)
                    );
                }
                continue 'restarts;
            }
        }
        state.finished = true;
    }
    let final_params = overall_best.unwrap_or(best_params);
    // The model lands only when the run is complete (the checkpoint stays for inspection).
    let model_path = opts.out.join("model.myelin");
    modelfile::save(&model_path, &topo, &final_params, p.standardizer.as_ref(), &p.meta)?;
    let outputs = crate::trainer::predict(&topo, &final_params, &kernels, &p.test)?;
    let (test, baseline) = test_metric(&p, outputs);
    crate::plot::curves(&opts.out.join("curves"), &state.history, if classify { "accuracy" } else { "RMSE" })?;
    Ok(Summary {
        out: opts.out.clone(),
        test_metric: test,
        baseline,
        epochs: state.history.len(),
        train_seconds,
        finished: true,
    })
}

/// The first layer (1-based) whose weights or biases are NaN or infinite.
fn first_bad_layer(topo: &Topology, params: &[f32]) -> Option<usize> {
    (0..topo.layers().len()).find_map(|l| {
        let r = topo.param_range(l)?;
        params[r.w..r.end].iter().any(|v| !v.is_finite()).then_some(l + 1)
    })
}

/// Removes temporary files a killed writer may have left in the run folder.
fn remove_stale_temporaries(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.contains(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn epoch_metrics(
    tr: &Trainer,
    p: &Prepared,
    state: &State,
    epoch: usize,
    train_loss: f64,
    secs: f64,
    classify: bool,
    with_test: bool,
) -> Result<EpochMetrics> {
    let (val_loss, val_accuracy) = if p.val.is_empty() {
        (None, None)
    } else {
        let out = tr.predict(&p.val)?;
        let acc = classify.then(|| metrics::classify(&p.val, &out).accuracy);
        (Some(dataset_loss(&tr.topo, &out, &p.val)), acc)
    };
    let test = if p.test.is_empty() || !with_test { None } else { Some(test_metric(p, tr.predict(&p.test)?).0) };
    let probe = if p.val.is_empty() { &p.train } else { &p.val };
    let h = tr.health_on(probe)?;
    let layers = h.layers().to_vec();
    Ok(EpochMetrics {
        restart: state.restart,
        epoch,
        train_loss,
        val_loss,
        val_accuracy,
        test_metric: test,
        grad_norm: layers.iter().map(|l| (l.grad_norm as f64).powi(2)).sum::<f64>().sqrt(),
        layer_grad_norms: layers.iter().map(|l| l.grad_norm as f64).collect(),
        dead_fraction: layers.iter().map(|l| l.dead_fraction as f64).collect(),
        saturated_fraction: layers.iter().map(|l| l.saturated_fraction as f64).collect(),
        seconds: secs,
    })
}

fn progress_bar(
    show: bool,
    steps: u64,
    restart: usize,
    restarts: usize,
    epoch: usize,
    epochs: usize,
) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(steps);
    let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    let r = if restarts > 1 { format!("seed {}/{} ", restart + 1, restarts) } else { String::new() };
    bar.set_prefix(format!("{r}epoch {epoch:>3}/{epochs}"));
    bar
}

fn print_epoch(m: &EpochMetrics, classify: bool) {
    let mut line = format!("epoch {:>3}  train loss {:.4}", m.epoch, m.train_loss);
    if let Some(v) = m.val_loss {
        line += &format!("  val loss {v:.4}");
    }
    if let Some(a) = m.val_accuracy {
        line += &format!("  val acc {:.2}%", 100.0 * a);
    }
    if let Some(t) = m.test_metric {
        line += &if classify { format!("  test acc {:.2}%", 100.0 * t) } else { format!("  test rmse {t:.3}") };
    }
    line += &format!("  ({:.2}s)", m.seconds);
    println!("{line}");
    let mut health = String::from("        health: |g|");
    for (i, g) in m.layer_grad_norms.iter().enumerate() {
        health += &format!(" L{}={g:.2e}", i + 1);
    }
    let mut warn = Vec::new();
    for (i, ((g, d), s)) in m.layer_grad_norms.iter().zip(&m.dead_fraction).zip(&m.saturated_fraction).enumerate() {
        if *d > 0.0 {
            health += &format!(" dead(L{})={:.0}%", i + 1, 100.0 * d);
        }
        if *s > 0.0 {
            health += &format!(" saturated(L{})={:.0}%", i + 1, 100.0 * s);
        }
        if *g < 1e-8 {
            warn.push(format!("layer {} has a vanishing gradient (|g| = {g:.1e}): it has stopped learning", i + 1));
        }
        if *d >= 0.5 {
            warn.push(format!(
                "layer {}: {:.0}% of ReLU units are dead; lower --lr or use leaky-relu",
                i + 1,
                100.0 * d
            ));
        }
        if *s >= 0.5 {
            warn.push(format!(
                "layer {}: {:.0}% of units saturated; lower --lr or standardize inputs",
                i + 1,
                100.0 * s
            ));
        }
    }
    println!("{health}");
    for w in warn {
        println!("        warning: {w}");
    }
}
