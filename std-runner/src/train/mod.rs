//! Training: the spec a user gives, the [`Trainer`] that takes steps, and the run loop
//! around it.
//!
//! - [`spec`]: hyperparameters (flags or TOML) and what they build (topology, optimizer);
//! - [`trainer`]: one step = gather -> forward -> loss -> backward per shard, then the
//!   shard gradients summed in shard order and the optimizer; bit-identical for any thread
//!   count;
//! - [`team`]: the spinning threads the step's two parallel phases run on;
//! - [`run`]: restarts of epochs, validation, early stopping ([`early_stop`]) and
//!   checkpoints ([`checkpoint`]) with resume;
//! - `mpi` (feature `mpi`): the steps shared by the ranks of an MPI job
//!   ([`Collective`], [`Trainer::step_across`]).

pub mod checkpoint;
pub mod early_stop;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod run;
pub mod schedule;
pub mod shift;
pub mod spec;
pub mod team;
pub mod trainer;

pub use shift::ImageShift;
pub use trainer::{Collective, Reduction, ReductionStats, Trainer, TrainerConfig};
