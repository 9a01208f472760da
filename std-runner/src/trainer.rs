//! Data-parallel training over fixed-size shards, bit-identical for any thread count.
//!
//! A mini-batch of `B` samples is cut into shards of `shard` samples (the last may be
//! smaller); the cut depends only on `B` and `shard`, never on the number of threads. Each
//! shard gathers its rows, runs the core's forward and backward into its *own* arena and
//! yields `g_s`, the gradient of its mean loss. The batch gradient is
//! `g = sum_s (n_s / B) g_s`, summed per parameter in shard order; dropout masks come from a
//! stream derived from (seed, epoch, step, shard). Which thread runs a shard therefore
//! cannot change a single bit. Shards run in parallel only when each carries enough work to
//! repay a hand-over; otherwise they run one after another, same bits. The two parallel
//! phases of a step (the shards, then the reduction and update) run on a [`Team`] of
//! spinning threads (a hand-over without waking a sleeping thread); the update gives
//! each thread the same contiguous range of parameters every step.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gemm::Gemm;
use crate::team::Team;
use myelin_core::{Dropout, Health, Kernels, Optimizer, Rng, Topology};
use rayon::prelude::*;

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
type Range<'a> = (usize, &'a mut [f32], &'a mut [f32], &'a mut [f32]);

/// One shard's arena: gathered inputs and targets, workspace, gradient.
struct Shard {
    x: Vec<f32>,
    t: Vec<f32>,
    work: Vec<f32>,
    grads: Vec<f32>,
    n: usize,
    loss: f32,
}

/// Training state: parameters, optimizer and the per-shard arenas (reused every step).
pub struct Trainer {
    /// The network shape.
    pub topo: Topology,
    /// The parameter arena.
    pub params: Vec<f32>,
    /// The optimizer.
    pub opt: Optimizer,
    /// Optimizer state (`Rule::state_len`).
    pub state: Vec<f32>,
    grads: Vec<f32>,
    shards: Vec<Shard>,
    shard_size: usize,
    batch: usize,
    kernels: Gemm,
    pool: std::sync::Arc<rayon::ThreadPool>,
    /// Spinning threads for the per-step phases (the shards, the reduction and update); as
    /// many members as the pool has threads (one: no extra thread).
    team: Team,
    /// Dropout rate on hidden layers.
    pub dropout: f32,
    /// L1 and L2 coefficients.
    pub l1: f32,
    /// L2 coefficient.
    pub l2: f32,
    /// Global gradient-norm clip.
    pub clip_norm: Option<f32>,
    seed: u64,
}

impl Trainer {
    /// A trainer for `topo` with batches of up to `batch` samples cut into `shard`-sample
    /// shards, running on `threads` threads (0: all cores).
    pub fn new(
        topo: Topology,
        params: Vec<f32>,
        opt: Optimizer,
        batch: usize,
        shard: usize,
        threads: usize,
        seed: u64,
    ) -> Result<Trainer> {
        let n = topo.params_len();
        if params.len() != n {
            return Err(Error::Shape {
                op: "loading parameters",
                expected: format!("{n}"),
                got: format!("{}", params.len()),
            });
        }
        let shard_size = shard.clamp(1, batch.max(1));
        let count = batch.div_ceil(shard_size);
        let work = topo.workspace_len(shard_size).map_err(Error::core("sizing the workspace"))?;
        use crate::memory::zeros;
        let shards = (0..count)
            .map(|_| {
                Ok(Shard {
                    x: zeros(shard_size * topo.inputs(), "a shard's inputs")?,
                    t: zeros(shard_size * topo.outputs(), "a shard's targets")?,
                    work: zeros(work, "a shard's workspace")?,
                    grads: zeros(n, "a shard's gradient")?,
                    n: 0,
                    loss: 0.0,
                })
            })
            .collect::<Result<Vec<Shard>>>()?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::Usage(format!("cannot start {threads} threads: {e}")))?;
        let state = zeros(opt.rule().state_len(n), "optimizer state")?;
        let members = pool.current_num_threads();
        let team = Team::new(members).map_err(|e| Error::Usage(format!("cannot start {members} threads: {e}")))?;
        Ok(Trainer {
            topo,
            params,
            opt,
            state,
            grads: zeros(n, "the combined gradient")?,
            shards,
            shard_size,
            batch,
            kernels: Gemm { split: threads != 1, ..Gemm::default() },
            pool: std::sync::Arc::new(pool),
            team,
            dropout: 0.0,
            l1: 0.0,
            l2: 0.0,
            clip_norm: None,
            seed,
        })
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

    /// Chooses the kernels: the core backend and which products go through sgemm (the
    /// split across threads stays the trainer's choice). The default is [`Gemm::default`],
    /// the fastest backend this CPU runs.
    pub fn set_kernels(&mut self, kernels: Gemm) {
        self.kernels = Gemm { split: self.kernels.split, ..kernels };
    }

    /// The kernels in use.
    pub fn kernels(&self) -> Gemm {
        self.kernels
    }

    /// One optimizer step on the samples `idx` of `data`; returns the batch's mean loss.
    /// `epoch` and `step` number the dropout streams.
    pub fn step(&mut self, data: &Dataset, idx: &[usize], epoch: u64, step: u64) -> Result<f32> {
        let b = idx.len();
        if b == 0 || b > self.batch {
            return Err(Error::Shape {
                op: "training step",
                expected: format!("1..={} samples", self.batch),
                got: format!("{b}"),
            });
        }
        let used = b.div_ceil(self.shard_size);
        let (topo, params) = (&self.topo, &self.params);
        let (seed, dropout, size) = (self.seed, self.dropout, self.shard_size);
        let flops_per_shard = 6 * size * topo.macs();
        let threads = self.pool.current_num_threads();
        let parallel_shards = used > 1 && threads > 1 && flops_per_shard >= MIN_PARALLEL_FLOPS;
        // Shards that run side by side keep their products whole: splitting them as well
        // nests fork/joins that wait on each other (slower: BENCHMARKS.md, "Kernel choices").
        let kernels = &Gemm { split: self.kernels.split && !parallel_shards, ..self.kernels };
        let run = |(s, shard): (usize, &mut Shard)| -> Result<()> {
            let part = &idx[s * size..((s + 1) * size).min(b)];
            shard.n = part.len();
            let (fi, fo) = (topo.inputs(), topo.outputs());
            let n = part.len();
            // Consecutive samples are read in place; others are gathered into the shard.
            let consecutive = part.windows(2).all(|w| w[1] == w[0] + 1);
            for (r, &i) in part.iter().enumerate() {
                if !consecutive {
                    shard.x[r * fi..(r + 1) * fi].copy_from_slice(data.row(i));
                }
                data.target_row(i, &mut shard.t[r * fo..(r + 1) * fo]);
            }
            let x = match part.first() {
                Some(&first) if consecutive => &data.x[first * fi..(first + n) * fi],
                _ => &shard.x[..n * fi],
            };
            let t = &shard.t[..n * fo];
            let work = &mut shard.work[..topo.workspace_len(n).map_err(Error::core("workspace"))?];
            let stream = (epoch << 40) ^ (step << 12) ^ s as u64;
            let mut drop = if dropout > 0.0 {
                Some(Dropout::new(dropout, Rng::stream(seed, stream)).map_err(Error::core("dropout"))?)
            } else {
                None
            };
            let pass = topo.forward(kernels, params, x, n, work, drop.as_mut()).map_err(Error::core("forward"))?;
            shard.loss = topo.loss_of(&pass, work, t).map_err(Error::core("loss"))?;
            // Overwrites the shard's gradient arena (no zeroing pass needed).
            topo.backward_into(kernels, &pass, params, x, t, work, &mut shard.grads)
                .map_err(Error::core("backward"))?;
            Ok(())
        };
        let shards = &mut self.shards[..used];
        if parallel_shards {
            self.team.try_for_each_mut(shards, |s, shard| run((s, shard)))?;
        } else if threads > 1 {
            // Inside the pool: a lone shard's large products are split by rows across this
            // pool's threads (Gemm::split; same bits as one thread).
            self.pool.install(|| shards.iter_mut().enumerate().try_for_each(run))?;
        } else {
            shards.iter_mut().enumerate().try_for_each(run)?;
        }

        // g = sum_s (n_s / B) g_s, per parameter in shard order.
        let inv_b = 1.0 / b as f32;
        let loss = shards.iter().fold(0.0f32, |acc, s| acc + s.loss * (s.n as f32 * inv_b));
        if self.l1 == 0.0 && self.l2 == 0.0 && self.clip_norm.is_none() {
            // Nothing needs the whole gradient at once: reduce and update range by range, on
            // all threads.
            // Per element the operations are those of the sequential path below.
            let update = self.opt.begin();
            let n = self.params.len();
            let (s0, s1) = update.state_parts(&mut self.state, n);
            let shards = &self.shards[..used];
            // Parameters from `at0` on: reduce and update them block by block.
            let chunk = |at0: usize, p: &mut [f32], s0: &mut [f32], s1: &mut [f32]| -> Result<()> {
                let mut g = [0.0f32; UPDATE_BLOCK];
                let mut start = 0;
                while start < p.len() {
                    let end = (start + UPDATE_BLOCK).min(p.len());
                    let at = at0 + start;
                    let g = &mut g[..end - start];
                    if let [only] = shards {
                        g.copy_from_slice(&only.grads[at..at + g.len()]);
                    } else {
                        sum_shards(shards, at, inv_b, g);
                    }
                    let part = |s: &mut [f32]| if s.is_empty() { 0..0 } else { start..end };
                    let (r0, r1) = (part(s0), part(s1));
                    update
                        .apply(&mut p[start..end], g, &mut s0[r0], &mut s1[r1])
                        .map_err(Error::core("optimizer step"))?;
                    start = end;
                }
                Ok(())
            };
            // One contiguous range per team member, the same every step, so each member keeps
            // updating the parameters it updated before; small arenas stay on this thread.
            let team = &mut self.team;
            let members = if n >= 2 * REDUCE_CHUNK { team.size().min(MAX_MEMBERS) } else { 1 };
            let per = n.div_ceil(members).div_ceil(UPDATE_BLOCK) * UPDATE_BLOCK;
            let mut parts: [Option<Range<'_>>; MAX_MEMBERS] = std::array::from_fn(|_| None);
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
            })?;
            return Ok(loss);
        }
        let grads: &mut [f32] = if used == 1 {
            &mut self.shards[0].grads
        } else {
            let shards = &self.shards[..used];
            let reduce = |(c, out): (usize, &mut [f32])| sum_shards(shards, c * REDUCE_CHUNK, inv_b, out);
            if self.grads.len() >= 4 * REDUCE_CHUNK && threads > 1 {
                self.pool.install(|| self.grads.par_chunks_mut(REDUCE_CHUNK).enumerate().for_each(reduce));
            } else {
                self.grads.chunks_mut(REDUCE_CHUNK).enumerate().for_each(reduce);
            }
            &mut self.grads
        };
        if self.l1 > 0.0 || self.l2 > 0.0 {
            self.topo
                .add_penalty_grads(&self.params, grads, self.l1, self.l2)
                .map_err(Error::core("regularization"))?;
        }
        if let Some(c) = self.clip_norm {
            myelin_core::clip_global_norm(grads, c).map_err(Error::core("clipping"))?;
        }
        self.opt.step(&mut self.params, grads, &mut self.state).map_err(Error::core("optimizer step"))?;
        Ok(loss)
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
        let mut t = vec![0.0; n * fo];
        for (i, row) in t.chunks_exact_mut(fo).enumerate() {
            data.target_row(i, row);
        }
        let x = &data.x[..n * fi];
        let mut work = vec![0.0; self.topo.workspace_len(n).map_err(Error::core("workspace"))?];
        let mut grads = vec![0.0; self.topo.params_len()];
        let pass =
            self.topo.forward(&self.kernels, &self.params, x, n, &mut work, None).map_err(Error::core("forward"))?;
        self.topo
            .backward(&self.kernels, &pass, &self.params, x, &t, &mut work, &mut grads)
            .map_err(Error::core("backward"))?;
        self.topo.health(&pass, &work, &grads).map_err(Error::core("health"))
    }

    /// Outputs for every sample of `data` (row-major, `outputs` wide), in chunks.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<f32>> {
        self.pool.install(|| predict(&self.topo, &self.params, &self.kernels, data))
    }
}

/// `out[i] = sum_s (n_s / B) g_s[at + i]`, in shard order (the first term a product, then
/// sums): the one definition of the combined gradient.
fn sum_shards(shards: &[Shard], at: usize, inv_b: f32, out: &mut [f32]) {
    let Some((first, rest)) = shards.split_first() else { return };
    let w0 = first.n as f32 * inv_b;
    out.iter_mut().zip(&first.grads[at..]).for_each(|(g, &v)| *g = v * w0);
    for s in rest {
        let w = s.n as f32 * inv_b;
        out.iter_mut().zip(&s.grads[at..]).for_each(|(g, &v)| *g += w * v);
    }
}

/// Outputs of `topo` with `params` for every sample of `data`.
pub fn predict<K: Kernels + Sync>(topo: &Topology, params: &[f32], k: &K, data: &Dataset) -> Result<Vec<f32>> {
    const CHUNK: usize = 256;
    let (fi, fo) = (topo.inputs(), topo.outputs());
    let mut out = vec![0.0; data.len() * fo];
    let mut work = vec![0.0; topo.inference_len(CHUNK).map_err(Error::core("sizing"))?];
    for (c, o) in out.chunks_mut(CHUNK * fo).enumerate() {
        let n = o.len() / fo;
        let x = &data.x[c * CHUNK * fi..(c * CHUNK + n) * fi];
        let len = topo.inference_len(n).map_err(Error::core("sizing"))?;
        let y = topo.predict(k, params, x, n, &mut work[..len]).map_err(Error::core("predict"))?;
        o.copy_from_slice(y);
    }
    Ok(out)
}
