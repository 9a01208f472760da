//! # myelin (runner)
//!
//! The workstation side of myelin: datasets (the shipped digits, MNIST IDX, CSV),
//! data-parallel training that is bit-identical for any thread count, GEMM-backed kernels,
//! evaluation, model files, interop with safetensors, and the benchmark workloads. The
//! `myelin` binary is a thin CLI over this library.
//!
//! ## Features
//!
//! None. The x86_64 build targets `x86-64-v3` (AVX2 + FMA, see `.cargo/config.toml`);
//! [`cpu::check`] refuses to run on a CPU without them.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod bench;
pub mod checkpoint;
pub mod cpu;
pub mod data;
pub mod error;
pub mod gemm;
pub mod interop;
pub mod memory;
pub mod metrics;
pub mod modelfile;
pub mod plot;
pub mod run;
pub mod source;
pub mod spec;
pub mod team;
pub mod trainer;

pub use error::{Error, Result};
