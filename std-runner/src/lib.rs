//! # myelin (runner)
//!
//! The workstation side of myelin, laid out in the order a sample goes through it:
//!
//! ```text
//! data/     read (digits, MNIST IDX, CSV) -> encode -> split train/val/test -> scale
//!   |
//! train/    spec -> Trainer: per step, shards gather (random image shifts) -> forward ->
//!   |       loss -> backward, then reduce in shard order -> regularize -> optimizer at the
//!   |       schedule's rate (bit-identical for any thread count); the run loop: epochs,
//!   |       early stopping on the monitored figure, restarts, checkpoints
//!   |       gemm: which products go to the core's kernels, which to sgemm
//! io/       model file (.myelin + JSON sidecar, atomic writes), ONNX, safetensors, Rust consts
//!   |
//! quant     post-training int8 quantization, int8 models in owned memory
//!   |
//! infer     outputs for a dataset, in data units (float or int8 models)
//!   |
//! report/   metrics (accuracy, confusion, RMSE), metrics.jsonl, progress lines, curves,
//!           prediction CSV
//! ```
//!
//! [`bench`](mod@bench) holds the CPU workloads measured against the peers; [`memory`] checks a run's
//! footprint before allocating; [`cpu`] refuses a CPU this build cannot run on. The
//! `myelin` binary is clap and dispatch over one module per command.
//!
//! ## Features
//!
//! None. The x86_64 build targets `x86-64-v3` (AVX2 + FMA, see `.cargo/config.toml`);
//! [`cpu::check`] refuses to run on a CPU without them.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod bench;
pub mod cpu;
pub mod data;
pub mod error;
pub mod gemm;
pub mod infer;
pub mod io;
pub mod memory;
pub mod quant;
pub mod report;
pub mod train;

pub use error::{Error, Result};
