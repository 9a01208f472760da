//! Steps shared across ranks (`Trainer::step_across`) give the weights and losses of one
//! process, bit for bit: ranks are threads here, joined by channels (the MPI transport is
//! tested in `tests/mpi.rs`). Covers 1-4 ranks, more ranks than shards, a lone shard,
//! dropout, L2 and an acting clip, and uneven last batches.

use myelin::data::{Dataset, Targets};
use myelin::train::{Collective, Reduction, Trainer, TrainerConfig};
use myelin::{Error, Result};
use myelin_core::*;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

/// One rank's links: from the previous rank, to the next, and the last rank's broadcast.
struct Link {
    rank: usize,
    ranks: usize,
    from_previous: Option<Receiver<Vec<f32>>>,
    to_next: Option<Sender<Vec<f32>>>,
    /// The last rank: one sender per other rank; the others: their receiver.
    to_all: Vec<Sender<Vec<f32>>>,
    from_last: Option<Receiver<Vec<f32>>>,
    /// Every rank's gathered value, filled in before the barrier.
    gathered: Arc<(Mutex<Vec<u64>>, Barrier)>,
    /// Every rank's buffer for `sum_all`.
    summed: Arc<Mutex<Vec<Vec<f32>>>>,
}

const WAIT: Duration = Duration::from_secs(30);

fn lost(what: &str) -> Error {
    Error::Usage(format!("rank link: {what}"))
}

impl Collective for Link {
    fn rank(&self) -> usize {
        self.rank
    }
    fn ranks(&self) -> usize {
        self.ranks
    }
    fn receive_from_previous(&self, buf: &mut [f32]) -> Result<()> {
        let rx = self.from_previous.as_ref().ok_or_else(|| lost("no previous rank"))?;
        let v = rx.recv_timeout(WAIT).map_err(|_| lost("previous rank silent"))?;
        if v.len() != buf.len() {
            return Err(lost("message of the wrong length"));
        }
        buf.copy_from_slice(&v);
        Ok(())
    }
    fn send_to_next(&self, buf: &[f32]) -> Result<()> {
        self.to_next.as_ref().ok_or_else(|| lost("no next rank"))?.send(buf.to_vec()).map_err(|_| lost("next gone"))
    }
    fn broadcast_from_last(&self, buf: &mut [f32]) -> Result<()> {
        if self.rank + 1 == self.ranks {
            for tx in &self.to_all {
                tx.send(buf.to_vec()).map_err(|_| lost("a rank gone"))?;
            }
            return Ok(());
        }
        let v = self.from_last.as_ref().ok_or_else(|| lost("no last rank"))?.recv_timeout(WAIT);
        buf.copy_from_slice(&v.map_err(|_| lost("last rank silent"))?);
        Ok(())
    }
    fn sum_all(&self, buf: &mut [f32]) -> Result<()> {
        let (_, barrier) = &*self.gathered;
        self.summed.lock().map_err(|_| lost("poisoned"))?[self.rank] = buf.to_vec();
        barrier.wait();
        {
            let all = self.summed.lock().map_err(|_| lost("poisoned"))?;
            buf.fill(0.0);
            for part in all.iter() {
                buf.iter_mut().zip(part).for_each(|(b, v)| *b += v);
            }
        }
        barrier.wait();
        Ok(())
    }
    fn gather_u64(&self, value: u64) -> Result<Vec<u64>> {
        let (values, barrier) = &*self.gathered;
        values.lock().map_err(|_| lost("poisoned"))?[self.rank] = value;
        barrier.wait();
        let all = values.lock().map_err(|_| lost("poisoned"))?.clone();
        barrier.wait();
        Ok(all)
    }
}

fn links(ranks: usize) -> Vec<Link> {
    let gathered = Arc::new((Mutex::new(vec![0; ranks]), Barrier::new(ranks)));
    let summed = Arc::new(Mutex::new(vec![vec![]; ranks]));
    let mut links: Vec<Link> = (0..ranks)
        .map(|rank| Link {
            rank,
            ranks,
            from_previous: None,
            to_next: None,
            to_all: vec![],
            from_last: None,
            gathered: gathered.clone(),
            summed: summed.clone(),
        })
        .collect();
    for r in 1..ranks {
        let (tx, rx) = channel();
        links[r - 1].to_next = Some(tx);
        links[r].from_previous = Some(rx);
        let (tx, rx) = channel();
        links[ranks - 1].to_all.push(tx);
        links[r - 1].from_last = Some(rx);
    }
    links
}

fn data(n: usize) -> Dataset {
    let mut r = Rng::new(4);
    Dataset {
        x: (0..n * 20).map(|_| r.uniform() - 0.5).collect(),
        features: 20,
        targets: Targets::Classes { labels: (0..n).map(|_| r.below(5)).collect(), classes: 5, names: vec![] },
    }
}

#[derive(Clone, Copy, Debug)]
struct Case {
    batch: usize,
    shard: usize,
    dropout: f32,
    l2: f32,
    clip: Option<f32>,
    max_norm: Option<f32>,
}

fn trainer(case: Case) -> Trainer {
    trainer_with(case, Reduction::InShardOrder)
}

fn trainer_with(case: Case, reduction: Reduction) -> Trainer {
    let topo = Topology::dense(&[20, 24, 16, 5], Activation::Tanh, Activation::Softmax, Loss::CrossEntropy).unwrap();
    let mut p = vec![0.0; topo.params_len()];
    topo.init_params(&mut p, Init::XavierUniform, &mut Rng::new(2)).unwrap();
    let opt = Optimizer::new(Rule::adam(0.01)).unwrap();
    let Case { batch, shard, dropout, l2, clip, max_norm } = case;
    let config = TrainerConfig {
        batch,
        shard,
        threads: 1,
        seed: 9,
        dropout,
        l2,
        clip_norm: clip,
        max_norm,
        reduction,
        ..TrainerConfig::default()
    };
    Trainer::new(topo, p, opt, config).unwrap()
}

/// Three epochs' steps over 70 samples (the last batch short).
fn batches(case: Case) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..70).collect();
    Rng::new(6).shuffle(&mut order);
    (0..3).flat_map(|_| order.chunks(case.batch).map(<[usize]>::to_vec).collect::<Vec<_>>()).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// (parameters, losses) of one process.
fn alone(case: Case, d: &Dataset) -> (Vec<u32>, Vec<u32>) {
    let mut t = trainer(case);
    let losses: Vec<f32> = batches(case).iter().enumerate().map(|(s, b)| t.step(d, b, 1, s as u64).unwrap()).collect();
    (bits(t.params()), bits(&losses))
}

/// (parameters, losses) of every rank when `ranks` share the steps.
fn shared(case: Case, d: &Dataset, ranks: usize) -> Vec<(Vec<u32>, Vec<u32>)> {
    shared_with(case, d, ranks, Reduction::InShardOrder)
}

fn shared_with(case: Case, d: &Dataset, ranks: usize, reduction: Reduction) -> Vec<(Vec<u32>, Vec<u32>)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = links(ranks)
            .into_iter()
            .map(|link| {
                scope.spawn(move || {
                    let mut t = trainer_with(case, reduction);
                    let losses: Vec<f32> = batches(case)
                        .iter()
                        .enumerate()
                        .map(|(s, b)| t.step_across(d, b, 1, s as u64, &link).unwrap())
                        .collect();
                    (bits(t.params()), bits(&losses))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn any_number_of_ranks_gives_the_bits_of_one_process() {
    let d = data(70);
    let mut cases = vec![];
    for (batch, shard) in [(32, 8), (32, 16), (20, 16), (8, 16), (30, 7)] {
        for (dropout, l2, clip, max_norm) in
            [(0.0, 0.0, None, None), (0.3, 0.0, None, None), (0.0, 1e-3, Some(0.05), None), (0.2, 0.0, None, Some(0.4))]
        {
            cases.push(Case { batch, shard, dropout, l2, clip, max_norm });
        }
    }
    for case in cases {
        let want = alone(case, &d);
        for ranks in 1..=4 {
            for (rank, got) in shared(case, &d, ranks).into_iter().enumerate() {
                assert_eq!(got.1, want.1, "{case:?}, {ranks} ranks: rank {rank}'s losses differ");
                assert_eq!(got.0, want.0, "{case:?}, {ranks} ranks: rank {rank}'s weights differ");
            }
        }
    }
}

#[test]
fn a_silent_peer_is_an_error_not_a_hang() {
    let case = Case { batch: 32, shard: 8, dropout: 0.0, l2: 0.0, clip: None, max_norm: None };
    let d = data(70);
    let mut all = links(2);
    let last = all.pop().unwrap();
    drop(all); // rank 0 never runs: its sender is gone
    let mut t = trainer(case);
    let idx: Vec<usize> = (0..32).collect();
    let err = t.step_across(&d, &idx, 1, 0, &last).unwrap_err();
    assert!(err.to_string().contains("previous rank silent"), "{err}");
}

/// The opt-in allreduce: every rank ends with the same weights, close to one process's (its
/// sums are grouped by rank, so not the same bits).
#[test]
fn allreduce_ranks_agree_and_stay_close_to_one_process() {
    let d = data(70);
    let case = Case { batch: 32, shard: 8, dropout: 0.0, l2: 0.0, clip: None, max_norm: None };
    let want: Vec<f32> = alone(case, &d).0.into_iter().map(f32::from_bits).collect();
    for ranks in [2, 3] {
        let got = shared_with(case, &d, ranks, Reduction::Allreduce);
        assert!(got.iter().all(|g| g == &got[0]), "{ranks} ranks disagree");
        let w: Vec<f32> = got[0].0.iter().map(|&b| f32::from_bits(b)).collect();
        let worst = w.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "{ranks} ranks: allreduce weights {worst} away from one process");
    }
}
