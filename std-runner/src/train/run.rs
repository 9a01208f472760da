//! The `train` command's loop: restarts of epochs of shuffled mini-batches, each epoch
//! measured, recorded and checkpointed.
//!
//! ```text
//! Run::open          folder, checkpoint (resume), data, topology, memory check
//! for each restart:  Run::next_restart -> a Trainer from fresh or resumed parameters
//!   for each epoch:  Run::train_epoch   shuffle, Trainer::step per batch, divergence check
//!                    epoch_metrics      validation loss/accuracy, gradient health
//!                    Run::record        early stopping, best parameters, metrics.jsonl,
//!                                       best restart so far, checkpoint
//! Run::finish        model.myelin, test figure, curves
//! ```

use super::checkpoint::{Checkpoint, EpochMetrics, State};
use super::early_stop::EarlyStopping;
use super::shift::ImageShift;
use super::spec::Monitor;
use super::spec::TrainSpec;
use super::trainer::{Collective, Reduction, ReductionStats, Trainer, TrainerConfig};
use crate::data::source::{prepare, Prepared, Source};
use crate::error::{Error, Result};
use crate::gemm::Gemm;
use crate::io::modelfile;
use crate::report::{metrics, progress, MetricsLog};
use myelin_core::kernels::{Backend, Simd};
use myelin_core::{Optimizer, Rng, Topology};
use std::path::PathBuf;
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

const INIT_STREAM: u64 = 0x1417;
const SHUFFLE_STREAM: u64 = 1 << 60;

/// Runs (or resumes) training; writes model, metrics, plots and checkpoints into `opts.out`.
pub fn train(opts: &RunOptions) -> Result<Summary> {
    train_with(opts, None)
}

/// [`train`] as one rank of `group` (an MPI job): every rank trains the same steps on its
/// share of the shards; rank 0 alone writes the run folder. The ranks first agree on one
/// kernel backend every rank runs, then check that they were given the same configuration
/// and data.
pub fn train_with(opts: &RunOptions, group: Option<&dyn Collective>) -> Result<Summary> {
    let mut kernels = Gemm::from_env()?;
    if let Some(group) = group {
        kernels.backend = agree_on_backend(group, kernels.backend)?;
    }
    let mut run = Run::open(opts, group, kernels)?;
    while let Some(trainer) = run.next_restart(kernels)? {
        if !run.train_restart(trainer)? {
            run.report_reduction();
            return Ok(run.summary(f64::NAN, None, false));
        }
    }
    run.report_reduction();
    run.finish(kernels)
}

/// A run in progress: its data, the resumable state and the tensors between restarts.
struct Run<'o> {
    opts: &'o RunOptions,
    /// The other ranks sharing the steps (MPI), if any.
    group: Option<&'o dyn Collective>,
    /// Whether this process writes the run folder (rank 0, or the only process).
    lead: bool,
    spec: TrainSpec,
    data: Prepared,
    topo: Topology,
    /// Epoch counters, early stopping, history: what the checkpoint's JSON holds.
    state: State,
    /// Parameters and optimizer the next [`Run::next_restart`] starts from.
    start: Option<(Vec<f32>, Optimizer, Vec<f32>)>,
    /// Best parameters of the current restart.
    best_params: Vec<f32>,
    /// Best parameters over finished restarts.
    overall_best: Option<Vec<f32>>,
    /// metrics.jsonl (the lead process only).
    log: Option<MetricsLog>,
    epochs_this_process: usize,
    train_seconds: f64,
    /// What the reductions across ranks cost this process.
    reduction: ReductionStats,
}

impl<'o> Run<'o> {
    /// Prepares the run folder, the checkpoint (when resuming), the data and the topology,
    /// and checks the memory the run needs.
    fn open(opts: &'o RunOptions, group: Option<&'o dyn Collective>, kernels: Gemm) -> Result<Run<'o>> {
        let lead = group.is_none_or(|g| g.rank() == 0);
        if lead {
            std::fs::create_dir_all(&opts.out).map_err(|e| Error::io("creating", &opts.out, e))?;
            modelfile::remove_stale_temporaries(&opts.out);
        }
        let resumed = if opts.resume { Some(Checkpoint::load(&opts.out.join(CHECKPOINT))?) } else { None };
        let given = resumed.as_ref().map_or(&opts.spec, |checkpoint| &checkpoint.state.spec);
        let mut spec = given.resolved(opts.source.image_sides().is_some());
        spec.validate()?;
        let data = prepare(&opts.source, &spec)?;
        let topo = spec.topology(data.train.features, data.train.target_width(), data.train.is_classification())?;
        check_monitor(&spec, &data)?;
        clamp_batch(&mut spec, data.train.len());
        check_memory(&topo, &spec)?;
        let (state, start, best_params, overall_best) = match resumed {
            Some(checkpoint) => resume(checkpoint, &topo, &spec)?,
            None => {
                let (params, opt) = fresh(&topo, &spec, 0)?;
                let state = State {
                    spec: spec.clone(),
                    restart: 0,
                    epoch: 0,
                    opt_steps: 0,
                    early: EarlyStopping::default(),
                    best_overall: None,
                    finished: false,
                    history: vec![],
                };
                (state, (params.clone(), opt, vec![]), params, None)
            }
        };
        if let Some(group) = group {
            agree_on_configuration(group, &spec, &topo, &data, &state, kernels)?;
        }
        let log = if lead { Some(MetricsLog::open(&opts.out.join("metrics.jsonl"), &state.history)?) } else { None };
        Ok(Run {
            opts,
            group,
            lead,
            spec,
            data,
            topo,
            state,
            start: Some(start),
            best_params,
            overall_best,
            log,
            epochs_this_process: 0,
            train_seconds: 0.0,
            reduction: ReductionStats::default(),
        })
    }

    /// The trainer for the restart to train next (the resumed one, or a fresh seed after a
    /// finished one); `None` when every restart has finished.
    fn next_restart(&mut self, kernels: Gemm) -> Result<Option<Trainer>> {
        if self.state.finished {
            let state = &mut self.state;
            (state.restart, state.epoch, state.opt_steps, state.early, state.finished) =
                (state.restart + 1, 0, 0, EarlyStopping::default(), false);
            if state.restart < self.spec.restarts {
                let (params, opt) = fresh(&self.topo, &self.spec, state.restart)?;
                self.best_params = params.clone();
                self.start = Some((params, opt, vec![]));
            }
        }
        if self.state.restart >= self.spec.restarts {
            return Ok(None);
        }
        let Some((params, opt, opt_state)) = self.start.take() else { return Ok(None) };
        let spec = &self.spec;
        let config = TrainerConfig {
            batch: spec.batch,
            shard: spec.shard,
            threads: spec.threads,
            seed: self.seed(),
            dropout: spec.dropout,
            l1: spec.l1,
            l2: spec.l2,
            clip_norm: spec.clip_norm,
            max_norm: spec.max_norm,
            kernels,
            reduction: if spec.allreduce { Reduction::Allreduce } else { Reduction::InShardOrder },
            shift: match (spec.random_shift, self.data.image) {
                (0, _) | (_, None) => None,
                (max, Some((width, height))) => Some(ImageShift { width, height, max }),
            },
        };
        let mut trainer = Trainer::new(self.topo, params, opt, config)?;
        trainer.restore_optimizer_state(&opt_state)?;
        Ok(Some(trainer))
    }

    /// The current restart's seed.
    fn seed(&self) -> u64 {
        restart_seed(&self.spec, self.state.restart)
    }

    /// Trains the current restart to its end; `false` if the run stopped as if interrupted
    /// (`stop_after`).
    fn train_restart(&mut self, mut trainer: Trainer) -> Result<bool> {
        while self.state.epoch < self.spec.epochs {
            if self.opts.stop_after.is_some_and(|limit| self.epochs_this_process >= limit) {
                return Ok(false);
            }
            let epoch = self.state.epoch + 1;
            let (train_loss, seconds) = self.train_epoch(&mut trainer, epoch)?;
            let mut figures = epoch_metrics(&trainer, &self.data, &self.state, epoch, train_loss, seconds, self.opts)?;
            figures.lr = Some(trainer.optimizer().rule().lr() as f64);
            if self.opts.progress {
                progress::print_epoch(&figures, self.data.train.is_classification());
            }
            self.record(&trainer, figures)?;
            if self.state.finished {
                if self.opts.progress && epoch < self.spec.epochs {
                    println!(
                        "early stop: no better {} for {} epochs (best at epoch {})",
                        monitor_name(self.spec.monitor),
                        self.spec.patience,
                        self.state.early.best_epoch()
                    );
                }
                return Ok(true);
            }
        }
        self.state.finished = true;
        Ok(true)
    }

    /// One epoch of steps over the shuffled training set: (mean step loss, seconds).
    fn train_epoch(&mut self, trainer: &mut Trainer, epoch: usize) -> Result<(f64, f64)> {
        let (spec, train) = (&self.spec, &self.data.train);
        let steps = train.len().div_ceil(spec.batch);
        let schedule = spec.schedule(steps);
        let first_step = (epoch as u64 - 1) * steps as u64;
        let mut order: Vec<usize> = (0..train.len()).collect();
        if spec.shuffle {
            Rng::stream(self.seed() ^ SHUFFLE_STREAM, epoch as u64).shuffle(&mut order);
        }
        let bar = progress::epoch_bar(self.opts.progress, steps as u64, self.state.restart, spec, epoch);
        let t0 = Instant::now();
        let mut loss_sum = 0.0f64;
        for (step, batch) in order.chunks(spec.batch).enumerate() {
            let rate = schedule.rate(first_step + step as u64);
            trainer.set_lr(rate)?;
            let loss = match self.group {
                Some(group) => trainer.step_across(train, batch, epoch as u64, step as u64, group)?,
                None => trainer.step(train, batch, epoch as u64, step as u64)?,
            };
            if !loss.is_finite() {
                let layer = first_bad_layer(&self.topo, trainer.params())
                    .map_or(String::new(), |layer| format!("; layer {layer} now has non-finite weights"));
                return Err(Error::Diverged { epoch, step: step + 1, what: format!("loss is {loss}{layer}") });
            }
            loss_sum += loss as f64;
            if step % 16 == 0 || step + 1 == steps {
                bar.set_position(step as u64 + 1);
                bar.set_message(format!("loss {:.4}  lr {rate:.2e}", loss_sum / (step + 1) as f64));
            }
        }
        let seconds = t0.elapsed().as_secs_f64();
        self.train_seconds += seconds;
        let stats = trainer.take_reduction_stats();
        self.reduction.steps += stats.steps;
        self.reduction.seconds += stats.seconds;
        self.reduction.bytes_sent += stats.bytes_sent;
        bar.finish_and_clear();
        if let Some(layer) = first_bad_layer(&self.topo, trainer.params()) {
            return Err(Error::Diverged { epoch, step: steps, what: format!("layer {layer} has non-finite weights") });
        }
        Ok((loss_sum / steps as f64, seconds))
    }

    /// After an epoch: early stopping and the restart's best parameters, the metrics line,
    /// the best finished restart so far, and the checkpoint.
    fn record(&mut self, trainer: &Trainer, figures: EpochMetrics) -> Result<()> {
        // Early stopping on the monitored figure (training loss without a validation set).
        let epoch = figures.epoch;
        if self.state.early.observe(monitored(self.spec.monitor, &figures), self.spec.min_delta, epoch) {
            self.best_params.copy_from_slice(trainer.params());
        }
        if let Some(log) = &mut self.log {
            log.append(&figures)?;
        }
        let state = &mut self.state;
        state.history.push(figures);
        state.epoch = epoch;
        state.opt_steps = trainer.optimizer().steps();
        state.finished = epoch == self.spec.epochs || state.early.should_stop(self.spec.patience);
        if state.finished {
            let score = state.early.best_score();
            if state.best_overall.is_none_or(|(best, _)| score < best) {
                state.best_overall = Some((score, state.restart));
                let data = &self.data;
                let path = self.opts.out.join("best-so-far.myelin");
                if self.lead {
                    modelfile::save(&path, &self.topo, &self.best_params, data.standardizer.as_ref(), &data.meta)?;
                }
                self.overall_best = Some(self.best_params.clone());
            }
        }
        self.epochs_this_process += 1;
        if !self.lead {
            return Ok(());
        }
        Checkpoint {
            state: self.state.clone(),
            topology: self.topo,
            params: trainer.params().to_vec(),
            best_params: self.best_params.clone(),
            overall_params: self.overall_best.clone().unwrap_or_default(),
            opt_state: trainer.optimizer_state().to_vec(),
            standardizer: self.data.standardizer.clone(),
        }
        .save(&self.opts.out.join(CHECKPOINT))
    }

    /// Writes the model (the best restart's best parameters), measures the test set once
    /// and draws the curves. The model lands only when the run is complete (the checkpoint
    /// stays for inspection).
    fn finish(mut self, kernels: Gemm) -> Result<Summary> {
        let params = self.overall_best.take().unwrap_or(std::mem::take(&mut self.best_params));
        let data = &self.data;
        let model_path = self.opts.out.join("model.myelin");
        if self.lead {
            modelfile::save(&model_path, &self.topo, &params, data.standardizer.as_ref(), &data.meta)?;
        }
        let outputs = crate::infer::predict(&self.topo, &params, &kernels, &data.test)?;
        let (test, baseline) = metrics::test_figure(&data.test, data.meta.target_scale.as_ref(), outputs);
        let metric = if data.train.is_classification() { "accuracy" } else { "RMSE" };
        if self.lead {
            crate::report::plot::curves(&self.opts.out.join("curves"), &self.state.history, metric)?;
        }
        Ok(self.summary(test, baseline, true))
    }

    /// With `MYELIN_MPI_PROFILE` set, every rank prints what its reductions cost per step:
    /// seconds (waiting for slower ranks included), their share of the training time, and
    /// the bytes it sent.
    fn report_reduction(&self) {
        let (Some(group), Some(_)) = (self.group, std::env::var_os("MYELIN_MPI_PROFILE")) else { return };
        let r = &self.reduction;
        let steps = r.steps.max(1) as f64;
        eprintln!(
            "rank {} of {}: {} steps, {:.3} ms per step of which {:.3} ms reducing ({:.1}%), {} bytes sent per step",
            group.rank(),
            group.ranks(),
            r.steps,
            1e3 * self.train_seconds / steps,
            1e3 * r.seconds / steps,
            100.0 * r.seconds / self.train_seconds.max(f64::MIN_POSITIVE),
            r.bytes_sent / r.steps.max(1)
        );
    }

    fn summary(&self, test_metric: f64, baseline: Option<f64>, finished: bool) -> Summary {
        Summary {
            out: self.opts.out.clone(),
            test_metric,
            baseline,
            epochs: self.state.history.len(),
            train_seconds: self.train_seconds,
            finished,
        }
    }
}

/// The resumed state, start tensors, the restart's best and the best finished restart.
type Resumed = (State, (Vec<f32>, Optimizer, Vec<f32>), Vec<f32>, Option<Vec<f32>>);

/// Picks a checkpoint up where it stopped, after checking it fits the data and spec.
fn resume(checkpoint: Checkpoint, topo: &Topology, spec: &TrainSpec) -> Result<Resumed> {
    if checkpoint.topology != *topo {
        return Err(Error::Shape {
            op: "resuming",
            expected: format!("{:?}", checkpoint.topology.layers()),
            got: format!("{:?} from the data and spec", topo.layers()),
        });
    }
    let opt = Optimizer::with_steps(spec.rule(), checkpoint.state.opt_steps).map_err(Error::core("optimizer"))?;
    let overall = (!checkpoint.overall_params.is_empty()).then_some(checkpoint.overall_params);
    Ok((checkpoint.state, (checkpoint.params, opt, checkpoint.opt_state), checkpoint.best_params, overall))
}

/// Fresh parameters (seeded by the restart) and optimizer.
fn fresh(topo: &Topology, spec: &TrainSpec, restart: usize) -> Result<(Vec<f32>, Optimizer)> {
    let mut params = crate::memory::zeros(topo.params_len(), "parameters")?;
    let mut rng = Rng::stream(restart_seed(spec, restart), INIT_STREAM);
    topo.init_params(&mut params, spec.init()?, &mut rng).map_err(Error::core("init"))?;
    Ok((params, Optimizer::new(spec.rule()).map_err(Error::core("optimizer"))?))
}

/// The seed of restart `restart` (init, shuffling and dropout streams derive from it).
fn restart_seed(spec: &TrainSpec, restart: usize) -> u64 {
    spec.seed.wrapping_add(restart as u64)
}

/// The figure `monitor` follows in an epoch's `figures` (lower is better).
fn monitored(monitor: Monitor, figures: &EpochMetrics) -> f64 {
    match monitor {
        Monitor::ValLoss => figures.val_loss.unwrap_or(figures.train_loss),
        Monitor::ValError => figures.val_accuracy.map_or(f64::NAN, |a| 1.0 - a),
        Monitor::ValRmse => figures.val_rmse.unwrap_or(f64::NAN),
    }
}

/// What `monitor` follows, in words.
fn monitor_name(monitor: Monitor) -> &'static str {
    match monitor {
        Monitor::ValLoss => "validation loss",
        Monitor::ValError => "validation error",
        Monitor::ValRmse => "validation RMSE",
    }
}

/// Refuses a monitor the data cannot give: an error rate needs classes, an RMSE targets.
fn check_monitor(spec: &TrainSpec, data: &Prepared) -> Result<()> {
    let classify = data.train.is_classification();
    match spec.monitor {
        Monitor::ValError if !classify => Err(Error::Usage("--monitor val-error needs classes; use val-rmse".into())),
        Monitor::ValRmse if classify => {
            Err(Error::Usage("--monitor val-rmse needs numeric targets; use val-error".into()))
        }
        _ if spec.monitor != Monitor::ValLoss && data.val.is_empty() => Err(Error::Usage(format!(
            "--monitor {} needs a validation part, and this one is empty",
            monitor_name(spec.monitor)
        ))),
        _ => Ok(()),
    }
}

/// A batch larger than the training set becomes the training set: one step over the whole
/// set per epoch, the same steps as the larger batch, without buffers sized for samples
/// that do not exist.
fn clamp_batch(spec: &mut TrainSpec, samples: usize) {
    if spec.batch > samples && samples > 0 {
        eprintln!(
            "note: --batch {} is larger than the training set ({samples} samples): each batch is the whole set",
            spec.batch
        );
        spec.batch = samples;
    }
}

/// Refuses a run whose buffers exceed the memory this process may use, naming the parts.
fn check_memory(topo: &Topology, spec: &TrainSpec) -> Result<()> {
    let slots = spec.rule().state_len(1);
    let widths: Vec<usize> = topo.layers().iter().map(|l| l.outputs).collect();
    crate::memory::Footprint::training(topo, spec.batch, spec.shard, slots).check(
        &format!("training {widths:?} with batch {} in shards of {}", spec.batch, spec.shard),
        "use fewer or narrower --hidden layers, or a smaller --batch or --shard",
    )
}

/// The first layer (1-based) whose weights or biases are NaN or infinite.
fn first_bad_layer(topo: &Topology, params: &[f32]) -> Option<usize> {
    (0..topo.layers().len()).find_map(|layer| {
        let range = topo.param_range(layer)?;
        params[range.w..range.end].iter().any(|v| !v.is_finite()).then_some(layer + 1)
    })
}

/// The epoch's figures: validation loss and accuracy, the test figure when asked for
/// every epoch, and gradient health on up to 512 validation (else training) samples.
fn epoch_metrics(
    trainer: &Trainer,
    data: &Prepared,
    state: &State,
    epoch: usize,
    train_loss: f64,
    seconds: f64,
    opts: &RunOptions,
) -> Result<EpochMetrics> {
    let (val_loss, val_accuracy, val_rmse) = if data.val.is_empty() {
        (None, None, None)
    } else {
        let out = trainer.predict(&data.val)?;
        let acc = data.val.is_classification().then(|| metrics::classify(&data.val, &out).accuracy);
        let rmse = (!data.val.is_classification())
            .then(|| metrics::rmse_in_data_units(&data.val, data.meta.target_scale.as_ref(), &out));
        (Some(metrics::mean_loss(trainer.topology(), &out, &data.val)), acc, rmse)
    };
    let test_metric = if data.test.is_empty() || !opts.test_every_epoch {
        None
    } else {
        let out = trainer.predict(&data.test)?;
        Some(metrics::test_figure(&data.test, data.meta.target_scale.as_ref(), out).0)
    };
    let probe = if data.val.is_empty() { &data.train } else { &data.val };
    let health = trainer.health_on(probe)?;
    let layers = health.layers();
    Ok(EpochMetrics {
        restart: state.restart,
        epoch,
        train_loss,
        val_loss,
        val_accuracy,
        val_rmse,
        lr: None,
        test_metric,
        grad_norm: layers.iter().map(|l| (l.grad_norm as f64).powi(2)).sum::<f64>().sqrt(),
        layer_grad_norms: layers.iter().map(|l| l.grad_norm as f64).collect(),
        dead_fraction: layers.iter().map(|l| l.dead_fraction as f64).collect(),
        saturated_fraction: layers.iter().map(|l| l.saturated_fraction as f64).collect(),
        seconds,
    })
}

/// The fastest kernel backend every rank runs, so that a job of mixed machines runs one
/// kernel set (a single process on that backend then gives the same bits). On x86_64 the
/// 8-lane and the AVX-512 tiles give the same bits anyway; across architectures no such
/// promise is made.
fn agree_on_backend(group: &dyn Collective, mine: Backend) -> Result<Backend> {
    let rank_of = |b: Backend| match b {
        Backend::Reference => 0,
        Backend::Portable => 1,
        Backend::Simd(s) if s.is_lanes16() => 3,
        Backend::Simd(_) => 2,
    };
    let lowest = group.gather_u64(rank_of(mine))?.into_iter().min().unwrap_or(0);
    Ok(match lowest {
        0 => Backend::Reference,
        1 => Backend::Portable,
        2 => Backend::SIMD8,
        // Every rank runs the 16-lane tiles (this one included).
        _ => Simd::lanes16().map_or(mine, Backend::Simd),
    })
}

/// Refuses to train when the ranks were given different command lines, data or kernels:
/// every rank hashes what decides the weights and compares the hashes of all ranks; every
/// rank reports the same error.
fn agree_on_configuration(
    group: &dyn Collective,
    spec: &TrainSpec,
    topo: &Topology,
    data: &Prepared,
    state: &State,
    kernels: Gemm,
) -> Result<()> {
    let mut h = Fnv::new();
    h.text(&serde_json::to_string(spec).unwrap_or_default());
    h.text(&format!("{:?}{:?}{:?}", topo.layers(), topo.loss(), kernels.mode));
    h.text(kernels.backend.name());
    h.text(&format!("{} {} {}", state.restart, state.epoch, state.opt_steps));
    for d in [&data.train, &data.val, &data.test] {
        h.text(&format!("{} {}", d.len(), d.features));
        d.x.iter().for_each(|v| h.bytes(&v.to_bits().to_le_bytes()));
        let mut t = vec![0.0; d.target_width()];
        for i in 0..d.len() {
            d.target_row(i, &mut t);
            t.iter().for_each(|v| h.bytes(&v.to_bits().to_le_bytes()));
        }
    }
    let all = group.gather_u64(h.0)?;
    let differ: Vec<String> =
        all.iter().enumerate().filter(|(_, v)| **v != all[0]).map(|(r, _)| r.to_string()).collect();
    if differ.is_empty() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "the ranks of this job disagree: rank(s) {} differ from rank 0 in the command line, the data, the \
         checkpoint or the kernels (every rank must run the same command on the same files)",
        differ.join(", ")
    )))
}

/// FNV-1a, 64 bits: a fingerprint, not a defence against an adversary.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, b: &[u8]) {
        for &v in b {
            self.0 = (self.0 ^ v as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn text(&mut self, s: &str) {
        self.bytes(s.as_bytes());
        self.bytes(&[0xff]);
    }
}
