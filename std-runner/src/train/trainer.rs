//! Data-parallel training over fixed-size shards, bit-identical for any thread count.
//!
//! A mini-batch of `B` samples is cut into shards of `shard` samples (the last may be
//! smaller); the cut depends only on `B` and `shard`, never on the number of threads. Each
//! shard gathers its rows, runs the core's forward and backward into its *own* arena and
//! yields `g_s`, the gradient of its mean loss. The batch gradient is
//! `g = sum_s (n_s / B) g_s`, summed per parameter in shard order; dropout masks come from a
//! stream derived from (seed, epoch, step, shard). Which thread runs a shard therefore
//! cannot change a single bit. Shards run in parallel only when each carries enough work to
//! repay a hand-over; otherwise they run one after another, their large products split
//! across the threads ([`TeamGemm`], same bits). The parallel phases of a step (the shards
//! or a lone shard's products, then the reduction and update) run on a [`Team`] of spinning
//! threads (a hand-over without waking a sleeping thread); the update gives each thread the
//! same contiguous range of parameters every step.

use super::shift::ImageShift;
use super::team::Team;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gemm::{Gemm, TeamGemm};
use crate::memory::zeros;
use myelin_core::{Dropout, Health, Kernels, Optimizer, Rng, Topology};
use rayon::prelude::*;
use std::ops::Range;

/// Rows per team member below which a shard's rows are gathered by one thread.
const GATHER_ROWS: usize = 16;
/// Floating-point work per shard below which shards run sequentially.
const MIN_PARALLEL_FLOPS: usize = 2_000_000;
/// Parameters per chunk when reducing shard gradients in parallel (the update splits
/// arenas of at least two chunks across the team).
const REDUCE_CHUNK: usize = 1 << 14;
/// Parameters reduced and updated at a time inside a chunk (a stack buffer of gradients).
const UPDATE_BLOCK: usize = 1024;
/// Team members that take part in the update (more threads than this leave the rest idle
/// in that phase).
const MAX_MEMBERS: usize = 64;

/// A member's part of the update: first parameter index, then its parameters and their
/// two optimizer-state slices (empty where the rule keeps none).
type Part<'a> = (usize, &'a mut [f32], &'a mut [f32], &'a mut [f32]);

/// How a [`Trainer`] runs: everything but the parameters and the optimizer it trains.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainerConfig {
    /// Largest mini-batch a step accepts (arenas are sized for it).
    pub batch: usize,
    /// Samples per shard, the unit of parallel work (clamped to `1..=batch`). The weights
    /// depend on it, never on `threads`.
    pub shard: usize,
    /// Threads (0: all cores).
    pub threads: usize,
    /// Seed of the dropout streams.
    pub seed: u64,
    /// Dropout rate on hidden layers (0: off).
    pub dropout: f32,
    /// L1 coefficient on weights.
    pub l1: f32,
    /// L2 coefficient on weights.
    pub l2: f32,
    /// Global gradient-norm clip.
    pub clip_norm: Option<f32>,
    /// Max-norm bound on each neuron's incoming weights, applied after every step.
    pub max_norm: Option<f32>,
    /// Core backend and sgemm routing; whether a lone shard's products are split across
    /// threads is the trainer's choice (more than one thread), whatever `split` says here.
    pub kernels: Gemm,
    /// How [`Trainer::step_across`] sums the ranks' gradients.
    pub reduction: Reduction,
    /// Random translations of image inputs (training only; off: `None`).
    pub shift: Option<ImageShift>,
}

/// How the ranks of [`Trainer::step_across`] sum their gradients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// In shard order along the ranks: the bits of one process, for any rank count.
    #[default]
    InShardOrder,
    /// Each rank sums its own shards, then `allreduce` adds the ranks' sums: fewer serial
    /// hops on many ranks, but the grouping depends on the rank count, so the weights are
    /// not bit-reproducible across rank counts.
    Allreduce,
}

/// What the reductions of [`Trainer::step_across`] cost this rank since the last
/// [`Trainer::take_reduction_stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReductionStats {
    /// Steps taken across ranks.
    pub steps: u64,
    /// Seconds in the reduction (sending, receiving, waiting for the other ranks, folding).
    pub seconds: f64,
    /// Bytes this rank sent (the broadcast counted once, at its root).
    pub bytes_sent: u64,
}

impl Default for TrainerConfig {
    /// Batch 64 in shards of 32 on all cores, seed 0, no regularization, the fastest
    /// kernels this CPU runs.
    fn default() -> TrainerConfig {
        TrainerConfig {
            batch: 64,
            shard: 32,
            threads: 0,
            seed: 0,
            dropout: 0.0,
            l1: 0.0,
            l2: 0.0,
            clip_norm: None,
            max_norm: None,
            kernels: Gemm::default(),
            reduction: Reduction::InShardOrder,
            shift: None,
        }
    }
}

impl TrainerConfig {
    /// Whether the update needs the whole batch gradient at once (a penalty or a clip),
    /// rather than streaming it range by range into the optimizer.
    fn needs_whole_gradient(&self) -> bool {
        self.l1 != 0.0 || self.l2 != 0.0 || self.clip_norm.is_some()
    }
}

/// One shard's arena: gathered inputs and targets, workspace, gradient.
struct Shard {
    /// Gathered inputs (shard, inputs); unused when the shard's samples are consecutive.
    inputs: Vec<f32>,
    /// Targets (shard, outputs).
    targets: Vec<f32>,
    /// Training workspace for `shard` samples.
    work: Vec<f32>,
    /// Gradient of the shard's mean loss (the parameter arena's layout).
    grads: Vec<f32>,
    /// Samples in the shard this step.
    len: usize,
    /// The shard's mean loss this step.
    loss: f32,
}

/// What one step does: the batch and the shards it is cut into.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Samples in the batch.
    batch: usize,
    /// Shards in use (`ceil(batch / shard)`).
    shards: usize,
}

impl Plan {
    /// The contiguous shards process `rank` of `ranks` computes: rank `r` takes shards
    /// `ceil(S r / R) .. ceil(S (r + 1) / R)`, so the order of ranks is the order of shards
    /// (with fewer shards than ranks, some ranks have none).
    fn shards_of(&self, rank: usize, ranks: usize) -> Range<usize> {
        let cut = |r: usize| (self.shards * r).div_ceil(ranks.max(1)).min(self.shards);
        cut(rank)..cut(rank + 1)
    }
}

/// Processes that share every step's shards (MPI ranks, or threads in a test): each runs
/// the same trainer on the same data and computes a contiguous range of the shards; the
/// shard gradients are then summed *in shard order* by passing the running sum from rank to
/// rank, so the weights are those of one process for any number of ranks.
///
/// Every call must return within a bounded time or fail (a dead peer is an error, not a
/// hang).
pub trait Collective {
    /// This process's rank, `0..ranks()`.
    fn rank(&self) -> usize;
    /// Processes taking part.
    fn ranks(&self) -> usize;
    /// Receives `buf.len()` floats from rank `rank() - 1`.
    fn receive_from_previous(&self, buf: &mut [f32]) -> Result<()>;
    /// Sends `buf` to rank `rank() + 1`.
    fn send_to_next(&self, buf: &[f32]) -> Result<()>;
    /// Replaces `buf` on every rank with the last rank's `buf`.
    fn broadcast_from_last(&self, buf: &mut [f32]) -> Result<()>;
    /// Replaces `buf` on every rank with the elementwise sum of every rank's `buf`, grouped
    /// as the transport likes (`MPI_Allreduce`).
    fn sum_all(&self, buf: &mut [f32]) -> Result<()>;
    /// Every rank's `value`, in rank order, on every rank (the start-up agreement).
    fn gather_u64(&self, value: u64) -> Result<Vec<u64>>;
}

/// Floats per message of the ordered reduction: the next rank folds one chunk while this
/// one folds the next.
const CHAIN_CHUNK: usize = 1 << 16;

/// Everything a shard's forward and backward read, shared by all shards of a step (the
/// kernels apart: they depend on whether the shards run side by side).
struct ShardInputs<'a> {
    topo: &'a Topology,
    params: &'a [f32],
    data: &'a Dataset,
    idx: &'a [usize],
    size: usize,
    seed: u64,
    dropout: f32,
    shift: Option<ImageShift>,
    epoch: u64,
    step: u64,
}

/// Training state: parameters, optimizer and the per-shard arenas (reused every step).
pub struct Trainer {
    topo: Topology,
    params: Vec<f32>,
    opt: Optimizer,
    /// Optimizer state (`Rule::state_len`).
    opt_state: Vec<f32>,
    /// The combined gradient, when the update needs it whole.
    grads: Vec<f32>,
    shards: Vec<Shard>,
    config: TrainerConfig,
    /// The reductions' cost so far ([`Trainer::take_reduction_stats`]).
    stats: ReductionStats,
    pool: std::sync::Arc<rayon::ThreadPool>,
    /// Spinning threads for the per-step phases (the shards or a lone shard's products,
    /// the reduction and update); as many members as the pool has threads (one: no extra
    /// thread).
    team: Team,
    /// The team members' buffers for a lone shard's forward split by neurons.
    scratch: Vec<Vec<f32>>,
}

impl Trainer {
    /// A trainer for `topo` starting from `params` with optimizer `opt` (its state zero;
    /// [`Trainer::restore_optimizer_state`] continues a saved one), run as `config` says.
    pub fn new(topo: Topology, params: Vec<f32>, opt: Optimizer, config: TrainerConfig) -> Result<Trainer> {
        let n = topo.params_len();
        if params.len() != n {
            return Err(Error::Shape {
                op: "loading parameters",
                expected: format!("{n}"),
                got: format!("{}", params.len()),
            });
        }
        config.shift.map_or(Ok(()), |shift| shift.check(topo.inputs()))?;
        let shard_size = config.shard.clamp(1, config.batch.max(1));
        let shards = Self::arenas(&topo, config.batch.div_ceil(shard_size), shard_size)?;
        let threads = config.threads;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::Threads { threads, reason: e.to_string() })?;
        let members = pool.current_num_threads();
        let team = Team::new(members).map_err(|e| Error::Threads { threads: members, reason: e.to_string() })?;
        let config =
            TrainerConfig { shard: shard_size, kernels: Gemm { split: threads != 1, ..config.kernels }, ..config };
        Ok(Trainer {
            topo,
            params,
            opt_state: zeros(opt.rule().state_len(n), "optimizer state")?,
            opt,
            grads: zeros(n, "the combined gradient")?,
            shards,
            config,
            stats: ReductionStats::default(),
            pool: std::sync::Arc::new(pool),
            team,
            scratch: Vec::new(),
        })
    }

    /// `count` shard arenas of `size` samples each.
    fn arenas(topo: &Topology, count: usize, size: usize) -> Result<Vec<Shard>> {
        let work = topo.workspace_len(size).map_err(Error::core("sizing the workspace"))?;
        (0..count)
            .map(|_| {
                Ok(Shard {
                    inputs: zeros(size * topo.inputs(), "a shard's inputs")?,
                    targets: zeros(size * topo.outputs(), "a shard's targets")?,
                    work: zeros(work, "a shard's workspace")?,
                    grads: zeros(topo.params_len(), "a shard's gradient")?,
                    len: 0,
                    loss: 0.0,
                })
            })
            .collect()
    }

    /// Continues from a saved optimizer state (`Rule::state_len` values; empty: keep zeros).
    pub fn restore_optimizer_state(&mut self, state: &[f32]) -> Result<()> {
        if state.is_empty() {
            return Ok(());
        }
        if state.len() != self.opt_state.len() {
            return Err(Error::Shape {
                op: "restoring the optimizer state",
                expected: format!("{} values", self.opt_state.len()),
                got: format!("{}", state.len()),
            });
        }
        self.opt_state.copy_from_slice(state);
        Ok(())
    }

    /// The network shape.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// The parameter arena.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// The parameters, giving the trainer up.
    pub fn into_params(self) -> Vec<f32> {
        self.params
    }

    /// The optimizer (its step count numbers Adam's bias correction).
    pub fn optimizer(&self) -> &Optimizer {
        &self.opt
    }

    /// The optimizer's state (`Rule::state_len` values).
    pub fn optimizer_state(&self) -> &[f32] {
        &self.opt_state
    }

    /// How the trainer runs (the shard size as clamped).
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// Runs `f` on one of the pool's threads, so the steps it takes fork and join inside
    /// the pool instead of handing each step over from outside. Use it around an epoch's
    /// loop of [`Trainer::step`].
    pub fn run_in_pool<R: Send>(&mut self, f: impl FnOnce(&mut Trainer) -> R + Send) -> R {
        let pool = self.pool.clone();
        pool.install(|| f(self))
    }

    /// Threads in the pool.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Sets the learning rate of the next steps (a schedule calls it before every step).
    pub fn set_lr(&mut self, lr: f32) -> Result<()> {
        self.opt.set_lr(lr).map_err(Error::core("setting the learning rate"))
    }

    /// The kernels in use.
    pub fn kernels(&self) -> Gemm {
        self.config.kernels
    }

    /// One optimizer step on the samples `idx` of `data`; returns the batch's mean loss.
    /// `epoch` and `step` number the dropout streams.
    ///
    /// gather -> forward -> loss -> backward per shard (`run_shards`), then
    /// `g = sum_s (n_s / B) g_s` and the optimizer (`reduce_and_update`).
    pub fn step(&mut self, data: &Dataset, idx: &[usize], epoch: u64, step: u64) -> Result<f32> {
        let plan = self.plan(idx.len())?;
        self.run_shards(0..plan.shards, data, idx, epoch, step)?;
        let loss = self.batch_loss(plan);
        self.reduce_and_update(plan)?;
        self.constrain()?;
        Ok(loss)
    }

    /// [`Trainer::step`] shared with the other ranks of `group`: this rank computes its
    /// contiguous range of the shards, the shard gradients are summed in shard order along
    /// the ranks (`reduce_in_order`) and every rank applies the same update. The weights
    /// are bit-identical to [`Trainer::step`] in one process.
    pub fn step_across(
        &mut self,
        data: &Dataset,
        idx: &[usize],
        epoch: u64,
        step: u64,
        group: &dyn Collective,
    ) -> Result<f32> {
        let plan = self.plan(idx.len())?;
        let mine = plan.shards_of(group.rank(), group.ranks());
        self.run_shards(mine.clone(), data, idx, epoch, step)?;
        let t0 = std::time::Instant::now();
        let loss = match self.config.reduction {
            Reduction::InShardOrder => self.reduce_in_order(plan, mine, group)?,
            Reduction::Allreduce => self.reduce_all(plan, mine, group)?,
        };
        self.stats.steps += 1;
        self.stats.seconds += t0.elapsed().as_secs_f64();
        self.regularize_and_apply(false)?;
        self.constrain()?;
        Ok(loss)
    }

    /// The weight constraint after a step (max-norm), on the whole arena in order, so the
    /// bits do not depend on the thread or rank count.
    fn constrain(&mut self) -> Result<()> {
        match self.config.max_norm {
            Some(max) => self.topo.apply_max_norm(&mut self.params, max).map_err(Error::core("max-norm")),
            None => Ok(()),
        }
    }

    /// The reductions' cost since the last call (then zero again).
    pub fn take_reduction_stats(&mut self) -> ReductionStats {
        std::mem::take(&mut self.stats)
    }

    /// The opt-in [`Reduction::Allreduce`]: this rank's own shards summed in order (zeros
    /// without any), then `sum_all` of the gradient and of the loss.
    fn reduce_all(&mut self, plan: Plan, mine: Range<usize>, group: &dyn Collective) -> Result<f32> {
        let inv_b = 1.0 / plan.batch as f32;
        let shards = &self.shards[mine];
        let mut loss = [fold_loss(shards, 0.0, inv_b)];
        match shards {
            [] => self.grads.fill(0.0),
            _ => sum_shards(shards, 0, inv_b, &mut self.grads),
        }
        group.sum_all(&mut self.grads)?;
        group.sum_all(&mut loss)?;
        self.stats.bytes_sent += 4 * (self.grads.len() as u64 + 1);
        Ok(loss[0])
    }

    /// How a batch of `batch` samples is cut into shards.
    fn plan(&self, batch: usize) -> Result<Plan> {
        if batch == 0 || batch > self.config.batch {
            return Err(Error::Shape {
                op: "training step",
                expected: format!("1..={} samples", self.config.batch),
                got: format!("{batch}"),
            });
        }
        Ok(Plan { batch, shards: batch.div_ceil(self.config.shard) })
    }

    /// The pass of each shard in `range` ([`shard_pass`]): side by side on the team when
    /// there are several and each carries enough work to repay a hand-over; otherwise in
    /// order, their large products split across the team (same bits: [`TeamGemm`]).
    fn run_shards(&mut self, range: Range<usize>, data: &Dataset, idx: &[usize], epoch: u64, step: u64) -> Result<()> {
        let flops_per_shard = 6 * self.config.shard * self.topo.macs();
        let threads = self.threads();
        let parallel = range.len() > 1 && threads > 1 && flops_per_shard >= MIN_PARALLEL_FLOPS;
        // Shards that run side by side keep their products whole: splitting them as well
        // nests fork/joins that wait on each other (slower: BENCHMARKS.md, "Kernel choices").
        let kernels = &Gemm { split: self.config.kernels.split && !parallel, ..self.config.kernels };
        let inputs = ShardInputs {
            topo: &self.topo,
            params: &self.params,
            data,
            idx,
            size: self.config.shard,
            seed: self.config.seed,
            dropout: self.config.dropout,
            shift: self.config.shift,
            epoch,
            step,
        };
        let first = range.start;
        let shards = &mut self.shards[range];
        if parallel {
            return self
                .team
                .try_for_each_mut(shards, |index, arena| shard_pass(&inputs, kernels, None, first + index, arena));
        }
        let on_team = TeamGemm::new(*kernels, &mut self.team, &mut self.scratch);
        shards
            .iter_mut()
            .enumerate()
            .try_for_each(|(index, arena)| shard_pass(&inputs, &on_team, Some(&on_team), first + index, arena))
    }

    /// The batch's mean loss: `sum_s (n_s / B) loss_s`, in shard order.
    fn batch_loss(&self, plan: Plan) -> f32 {
        let inv_b = 1.0 / plan.batch as f32;
        fold_loss(&self.shards[..plan.shards], 0.0, inv_b)
    }

    /// `g = sum_s (n_s / B) g_s` per parameter in shard order, then the optimizer step:
    /// streamed range by range on the team when nothing needs the whole gradient, else
    /// reduced whole, penalized, clipped and applied.
    fn reduce_and_update(&mut self, plan: Plan) -> Result<()> {
        if self.config.needs_whole_gradient() {
            self.reduce_whole(plan);
            self.regularize_and_apply(plan.shards == 1)
        } else {
            self.reduce_and_update_streaming(plan)
        }
    }

    /// The streamed update: each team member reduces and updates its own contiguous range
    /// of parameters, block by block (the same range every step, so it stays in that
    /// member's cache); small arenas stay on this thread. Per element the operations are
    /// those of [`Trainer::regularize_and_apply`] without a penalty or a clip.
    fn reduce_and_update_streaming(&mut self, plan: Plan) -> Result<()> {
        let inv_b = 1.0 / plan.batch as f32;
        let update = self.opt.begin();
        let backend = self.config.kernels.backend;
        let n = self.params.len();
        let (s0, s1) = update.state_parts(&mut self.opt_state, n);
        let shards = &self.shards[..plan.shards];
        // Parameters from `at0` on: reduce and update them block by block.
        let chunk = |at0: usize, p: &mut [f32], s0: &mut [f32], s1: &mut [f32]| -> Result<()> {
            let mut g = [0.0f32; UPDATE_BLOCK];
            let mut start = 0;
            while start < p.len() {
                let end = (start + UPDATE_BLOCK).min(p.len());
                let at = at0 + start;
                // A lone shard's gradient is read where it lies; several are summed first.
                let g: &[f32] = match shards {
                    [only] => &only.grads[at..at + (end - start)],
                    _ => {
                        let g = &mut g[..end - start];
                        sum_shards(shards, at, inv_b, g);
                        g
                    }
                };
                let part = |s: &mut [f32]| if s.is_empty() { 0..0 } else { start..end };
                let (r0, r1) = (part(s0), part(s1));
                update
                    .apply_on(backend, &mut p[start..end], g, &mut s0[r0], &mut s1[r1])
                    .map_err(Error::core("optimizer step"))?;
                start = end;
            }
            Ok(())
        };
        let team = &mut self.team;
        let members = if n >= 2 * REDUCE_CHUNK { team.size().min(MAX_MEMBERS) } else { 1 };
        let per = n.div_ceil(members).div_ceil(UPDATE_BLOCK) * UPDATE_BLOCK;
        let mut parts: [Option<Part<'_>>; MAX_MEMBERS] = std::array::from_fn(|_| None);
        let (mut p, mut a, mut v) = (&mut self.params[..], s0, s1);
        for (m, slot) in parts.iter_mut().enumerate().take(members) {
            let take = per.min(p.len());
            let (ph, pt) = p.split_at_mut(take);
            let (ah, at) = a.split_at_mut(if a.is_empty() { 0 } else { take });
            let (vh, vt) = v.split_at_mut(if v.is_empty() { 0 } else { take });
            *slot = Some((m * per, ph, ah, vh));
            (p, a, v) = (pt, at, vt);
        }
        team.try_for_each_mut(&mut parts[..members], |_, part| match part {
            Some((at0, p, a, v)) => chunk(*at0, p, a, v),
            None => Ok(()),
        })
    }

    /// The whole batch gradient into `self.grads` (a lone shard's gradient is used where
    /// it lies), chunk by chunk, on the pool's threads when it is large.
    fn reduce_whole(&mut self, plan: Plan) {
        if plan.shards == 1 {
            return;
        }
        let inv_b = 1.0 / plan.batch as f32;
        let shards = &self.shards[..plan.shards];
        let reduce = |(c, out): (usize, &mut [f32])| sum_shards(shards, c * REDUCE_CHUNK, inv_b, out);
        if self.grads.len() >= 4 * REDUCE_CHUNK && self.threads() > 1 {
            self.pool.install(|| self.grads.par_chunks_mut(REDUCE_CHUNK).enumerate().for_each(reduce));
        } else {
            self.grads.chunks_mut(REDUCE_CHUNK).enumerate().for_each(reduce);
        }
    }

    /// Adds the L1/L2 penalty gradients, clips the global norm, and takes the optimizer
    /// step with the batch gradient: the lone shard's own (`in_shard`), else the combined
    /// one `reduce_whole` or `reduce_in_order` left.
    fn regularize_and_apply(&mut self, in_shard: bool) -> Result<()> {
        let grads: &mut [f32] = if in_shard { &mut self.shards[0].grads } else { &mut self.grads };
        let TrainerConfig { l1, l2, clip_norm, .. } = self.config;
        if l1 > 0.0 || l2 > 0.0 {
            self.topo.add_penalty_grads(&self.params, grads, l1, l2).map_err(Error::core("regularization"))?;
        }
        if let Some(c) = clip_norm {
            myelin_core::clip_global_norm(grads, c).map_err(Error::core("clipping"))?;
        }
        let backend = self.config.kernels.backend;
        self.opt.step_on(backend, &mut self.params, grads, &mut self.opt_state).map_err(Error::core("optimizer step"))
    }

    /// The batch gradient and loss summed in shard order along the ranks, into `self.grads`
    /// on every rank. Rank `r` receives the running sums (loss, then the gradient chunk by
    /// chunk) from rank `r - 1`, continues them over its own shards exactly as
    /// [`sum_shards`] would, and passes them on; the last rank broadcasts the result. A rank
    /// before which no shard was summed starts the sums itself (a product, not `0 + ...`,
    /// so a `-0.0` stays `-0.0`); a batch of one shard is that shard's gradient, copied.
    fn reduce_in_order(&mut self, plan: Plan, mine: Range<usize>, group: &dyn Collective) -> Result<f32> {
        let inv_b = 1.0 / plan.batch as f32;
        let (rank, ranks) = (group.rank(), group.ranks());
        // [loss so far, 1 if an earlier rank has summed a shard]
        let mut head = [0.0f32; 2];
        if rank > 0 {
            group.receive_from_previous(&mut head)?;
        }
        let started = head[1] != 0.0;
        let shards = &self.shards[mine];
        let loss = fold_loss(shards, head[0], inv_b);
        let passes_on = started || !shards.is_empty();
        let next = rank + 1 < ranks;
        if next {
            group.send_to_next(&[loss, if passes_on { 1.0 } else { 0.0 }])?;
            self.stats.bytes_sent += 8;
        }
        let mut at = 0;
        for g in self.grads.chunks_mut(CHAIN_CHUNK) {
            if started {
                group.receive_from_previous(g)?;
            }
            match shards {
                [] => {}
                [only] if plan.shards == 1 => g.copy_from_slice(&only.grads[at..at + g.len()]),
                _ if started => add_shards(shards, at, inv_b, g),
                _ => sum_shards(shards, at, inv_b, g),
            }
            if next && passes_on {
                group.send_to_next(g)?;
                self.stats.bytes_sent += 4 * g.len() as u64;
            }
            at += g.len();
        }
        if rank + 1 == ranks {
            self.stats.bytes_sent += 4 * (1 + self.grads.len() as u64);
        }
        let mut total = [loss];
        group.broadcast_from_last(&mut total)?;
        group.broadcast_from_last(&mut self.grads)?;
        Ok(total[0])
    }

    /// Gradient health measured on up to 512 samples of `data` (a fresh forward and backward
    /// pass at the current parameters; no update): a unit counts as dead only if it is
    /// inactive on every one of them.
    pub fn health_on(&self, data: &Dataset) -> Result<Health> {
        let n = data.len().min(512);
        if n == 0 {
            return Err(Error::Usage("health needs at least one sample".into()));
        }
        let (fi, fo) = (self.topo.inputs(), self.topo.outputs());
        let mut targets = vec![0.0; n * fo];
        for (i, row) in targets.chunks_exact_mut(fo).enumerate() {
            data.target_row(i, row);
        }
        let x = &data.x[..n * fi];
        let kernels = &self.config.kernels;
        let mut work = vec![0.0; self.topo.workspace_len(n).map_err(Error::core("workspace"))?];
        let mut grads = vec![0.0; self.topo.params_len()];
        let pass = self.topo.forward(kernels, &self.params, x, n, &mut work, None).map_err(Error::core("forward"))?;
        self.topo
            .backward(kernels, &pass, &self.params, x, &targets, &mut work, &mut grads)
            .map_err(Error::core("backward"))?;
        self.topo.health(&pass, &work, &grads).map_err(Error::core("health"))
    }

    /// Outputs for every sample of `data` (row-major, `outputs` wide), in chunks.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<f32>> {
        self.pool.install(|| crate::infer::predict(&self.topo, &self.params, &self.config.kernels, data))
    }
}

/// Shard `index`'s samples: targets into `targets`; inputs into `buf` only when the samples are
/// not consecutive rows of `data` (consecutive ones are read in place). Returns the shard's
/// inputs (n, inputs) and `n`. With a `team`, its members copy (or shift) blocks of the rows
/// side by side: rows picked at random from a large dataset are reads from memory, which a
/// lone thread waits on one row after another.
fn gather<'a>(
    input: &ShardInputs<'a>,
    index: usize,
    buf: &'a mut [f32],
    targets: &mut [f32],
    team: Option<&TeamGemm<'_>>,
) -> (&'a [f32], usize) {
    let (b, size) = (input.idx.len(), input.size);
    let part = &input.idx[index * size..((index + 1) * size).min(b)];
    let (fi, fo) = (input.topo.inputs(), input.topo.outputs());
    let consecutive = input.shift.is_none() && part.windows(2).all(|w| w[1] == w[0] + 1);
    // Rows `r0..` of the shard into `rows` and their targets into `tgts`.
    let fill = |r0: usize, rows: &mut [f32], tgts: &mut [f32]| {
        for ((&i, row), t) in part[r0..].iter().zip(rows.chunks_exact_mut(fi.max(1))).zip(tgts.chunks_exact_mut(fo)) {
            match input.shift {
                Some(shift) => shift.apply(input.data.row(i), shift.offsets(input.seed, input.epoch, i), row),
                None if !consecutive => row.copy_from_slice(input.data.row(i)),
                None => {}
            }
            input.data.target_row(i, t);
        }
    };
    let n = part.len();
    let members = team.map_or(1, |t| t.size()).min(n / GATHER_ROWS);
    match team {
        Some(team) if members > 1 && !consecutive && fi > 0 && fo > 0 => {
            let per = n.div_ceil(members);
            let mut blocks: Vec<(&mut [f32], &mut [f32])> =
                buf[..n * fi].chunks_mut(per * fi).zip(targets[..n * fo].chunks_mut(per * fo)).collect();
            team.each(&mut blocks, |c, (rows, tgts)| fill(c * per, rows, tgts));
        }
        _ => fill(0, &mut buf[..n * fi], &mut targets[..n * fo]),
    }
    let x = match part.first() {
        Some(&first) if consecutive => &input.data.x[first * fi..(first + n) * fi],
        _ => &buf[..n * fi],
    };
    (x, n)
}

/// One shard through `kernels`: gather -> forward (with its own dropout stream) -> loss ->
/// backward into the shard's gradient arena (overwritten, no zeroing pass).
fn shard_pass<K: Kernels + ?Sized>(
    input: &ShardInputs<'_>,
    kernels: &K,
    team: Option<&TeamGemm<'_>>,
    index: usize,
    arena: &mut Shard,
) -> Result<()> {
    let Shard { inputs, targets, work, grads, len, loss } = arena;
    let (x, n) = gather(input, index, inputs, targets, team);
    *len = n;
    let topo = input.topo;
    let t = &targets[..n * topo.outputs()];
    let work = &mut work[..topo.workspace_len(n).map_err(Error::core("workspace"))?];
    let stream = (input.epoch << 40) ^ (input.step << 12) ^ index as u64;
    let mut drop = if input.dropout > 0.0 {
        Some(Dropout::new(input.dropout, Rng::stream(input.seed, stream)).map_err(Error::core("dropout"))?)
    } else {
        None
    };
    let pass = topo.forward(kernels, input.params, x, n, work, drop.as_mut()).map_err(Error::core("forward"))?;
    *loss = topo.loss_of(&pass, work, t).map_err(Error::core("loss"))?;
    topo.backward_into(kernels, &pass, input.params, x, t, work, grads).map_err(Error::core("backward"))
}

/// `out[i] = sum_s (n_s / B) g_s[at + i]`, in shard order (the first term a product, then
/// sums): the one definition of the combined gradient.
fn sum_shards(shards: &[Shard], at: usize, inv_b: f32, out: &mut [f32]) {
    let Some((first, rest)) = shards.split_first() else { return };
    let w0 = first.len as f32 * inv_b;
    out.iter_mut().zip(&first.grads[at..]).for_each(|(g, &v)| *g = v * w0);
    add_shards(rest, at, inv_b, out);
}

/// `from + sum_s (n_s / B) loss_s`, in shard order: the batch loss, or its continuation from
/// an earlier rank's running sum.
fn fold_loss(shards: &[Shard], from: f32, inv_b: f32) -> f32 {
    shards.iter().fold(from, |acc, shard| acc + shard.loss * (shard.len as f32 * inv_b))
}

/// `out[i] += sum_s (n_s / B) g_s[at + i]`, in shard order: [`sum_shards`] continued from
/// an earlier rank's running sum.
fn add_shards(shards: &[Shard], at: usize, inv_b: f32, out: &mut [f32]) {
    for s in shards {
        let w = s.len as f32 * inv_b;
        out.iter_mut().zip(&s.grads[at..]).for_each(|(g, &v)| *g += w * v);
    }
}
