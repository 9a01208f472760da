//! The MPI transport of [`Collective`] (`--features mpi`): `mpirun -np N myelin train ...`
//! runs the same command on every rank; the ranks share each step's shards and sum the
//! shard gradients in shard order ([`Trainer::step_across`](super::Trainer::step_across)), so
//! the weights are those of one process for any number of ranks and threads per rank.
//!
//! Every wait is bounded: each operation is posted non-blocking and polled (yielding the
//! core, so ranks that outnumber cores still progress) until it completes or the deadline
//! passes (`MYELIN_MPI_TIMEOUT` seconds, default 120). A rank whose peer has died or
//! stopped answering prints what it was waiting for and aborts the job (`MPI_Abort`: an MPI
//! operation still in flight cannot be abandoned otherwise), so no rank hangs.

use super::Collective;
use crate::error::{Error, Result};
use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::point_to_point::{Destination, Source};
use mpi::request::{LocalScope, Request};
use mpi::topology::{Communicator, SimpleCommunicator};
use std::time::{Duration, Instant};

/// This process's place in an MPI job.
pub struct Mpi {
    world: SimpleCommunicator,
    rank: usize,
    ranks: usize,
    timeout: Duration,
    // Finalizes MPI when dropped, after the communicator's last use.
    _universe: mpi::environment::Universe,
}

/// Whether this process was started by an MPI launcher (`mpirun`, `mpiexec`, `srun`).
pub fn launched() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].iter().any(|v| std::env::var_os(v).is_some())
}

impl Mpi {
    /// Joins the job this process was launched in; `None` when it was not launched by an MPI
    /// launcher or is its only rank (then it trains alone, with the same bits).
    pub fn join() -> Result<Option<Mpi>> {
        if !launched() {
            return Ok(None);
        }
        let universe = mpi::initialize().ok_or_else(|| Error::Usage("MPI was already initialized".into()))?;
        let world = universe.world();
        let (rank, ranks) = (world.rank() as usize, world.size() as usize);
        if ranks < 2 {
            return Ok(None);
        }
        let timeout = match std::env::var("MYELIN_MPI_TIMEOUT") {
            Ok(s) => Duration::from_secs_f64(
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v > 0.0)
                    .ok_or_else(|| Error::Usage(format!("MYELIN_MPI_TIMEOUT={s:?}: give seconds > 0")))?,
            ),
            Err(_) => Duration::from_secs(120),
        };
        Ok(Some(Mpi { world, rank, ranks, timeout, _universe: universe }))
    }

    /// Polls `request` until it completes, yielding the core between polls; past the
    /// deadline, says what this rank was waiting for and aborts the job.
    fn finish<'a, D: ?Sized>(&self, mut request: Request<'a, D, &LocalScope<'a>>, what: &str) {
        let deadline = Instant::now() + self.timeout;
        loop {
            match request.test() {
                Ok(_) => return,
                Err(pending) => request = pending,
            }
            if Instant::now() > deadline {
                eprintln!(
                    "error: rank {} of {}: no progress for {:.0} s while {what}: a rank has died or stopped \
                     (MYELIN_MPI_TIMEOUT sets the limit); aborting the job",
                    self.rank,
                    self.ranks,
                    self.timeout.as_secs_f64()
                );
                self.world.abort(2);
            }
            std::thread::yield_now();
        }
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }

    fn ranks(&self) -> usize {
        self.ranks
    }

    fn receive_from_previous(&self, buf: &mut [f32]) -> Result<()> {
        let from = self.world.process_at_rank(self.rank as i32 - 1);
        mpi::request::scope(|scope| {
            let request = from.immediate_receive_into(scope, buf);
            self.finish(request, "receiving the running gradient sum from the previous rank");
        });
        Ok(())
    }

    fn send_to_next(&self, buf: &[f32]) -> Result<()> {
        let to = self.world.process_at_rank(self.rank as i32 + 1);
        mpi::request::scope(|scope| {
            let request = to.immediate_send(scope, buf);
            self.finish(request, "sending the running gradient sum to the next rank");
        });
        Ok(())
    }

    fn broadcast_from_last(&self, buf: &mut [f32]) -> Result<()> {
        let root = self.world.process_at_rank(self.ranks as i32 - 1);
        mpi::request::scope(|scope| {
            let request = root.immediate_broadcast_into(scope, buf);
            self.finish(request, "receiving the batch gradient from the last rank");
        });
        Ok(())
    }

    fn sum_all(&self, buf: &mut [f32]) -> Result<()> {
        let send = buf.to_vec();
        mpi::request::scope(|scope| {
            let request = self.world.immediate_all_reduce_into(scope, &send[..], buf, SystemOperation::sum());
            self.finish(request, "summing the gradients of all ranks (allreduce)");
        });
        Ok(())
    }

    fn gather_u64(&self, value: u64) -> Result<Vec<u64>> {
        let mut all = vec![0u64; self.ranks];
        mpi::request::scope(|scope| {
            let request = self.world.immediate_all_gather_into(scope, &value, &mut all[..]);
            self.finish(request, "agreeing on the configuration at start-up");
        });
        Ok(all)
    }
}
