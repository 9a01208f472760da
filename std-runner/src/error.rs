//! The runner's error type: what went wrong, where, and (via [`Error::hint`]) what to do.

use std::path::PathBuf;

/// Everything the runner can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing", ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A data file is malformed.
    #[error("{path}:{line}: {msg}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (or record) number; 0 for the header.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// A dataset's shape does not fit the model or the request.
    #[error("{op}: expected {expected}, got {got}")]
    Shape {
        /// What was being done.
        op: &'static str,
        /// What was needed.
        expected: String,
        /// What was found.
        got: String,
    },
    /// The core rejected an argument.
    #[error("{op}: {source}")]
    Core {
        /// What was being done.
        op: &'static str,
        /// The core's error.
        source: myelin_core::Error,
    },
    /// A model or checkpoint file is invalid.
    #[error("{path}: {source}")]
    Model {
        /// The file.
        path: PathBuf,
        /// The format error.
        source: myelin_core::format::FormatError,
    },
    /// An ONNX file cannot be imported (or a model exported to ONNX).
    #[error("{path}: {source}")]
    Onnx {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: crate::io::onnx::OnnxError,
    },
    /// Training diverged: a loss or gradient became NaN or infinite.
    #[error("training diverged at epoch {epoch}, step {step}: {what}")]
    Diverged {
        /// Epoch (1-based).
        epoch: usize,
        /// Step within the epoch (1-based).
        step: usize,
        /// What became non-finite.
        what: String,
    },
    /// A bad command-line or configuration value.
    #[error("{0}")]
    Usage(String),
    /// The trainer's threads could not be started.
    #[error("cannot start {threads} threads: {reason}")]
    Threads {
        /// Threads asked for (0: all cores).
        threads: usize,
        /// The operating system's or the pool's reason.
        reason: String,
    },
    /// The CPU lacks instructions this build was compiled for.
    #[error("this build of myelin uses {missing} instructions, which this CPU lacks")]
    Cpu {
        /// The missing feature list.
        missing: String,
    },
    /// The run would need more memory than this process may use.
    #[error("not enough memory: {detail}\n  {} available to this process; {advice}", human_bytes(*available))]
    Memory {
        /// Bytes needed.
        need: u64,
        /// Bytes available (the smallest of MemAvailable, the cgroup's room and RLIMIT_AS).
        available: u64,
        /// What needs them, part by part.
        detail: String,
        /// What to change.
        advice: String,
    },
    /// Anything from a third-party format (safetensors, JSON, TOML).
    #[error("{path}: {msg}")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// The library's message.
        msg: String,
    },
}

impl Error {
    /// A line telling the user what to try, where one helps.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                "check the path; `myelin train` with no --data uses the shipped digits"
            }
            Error::Model { .. } => {
                "the file is not an intact myelin model: re-export it or restore it from a checkpoint"
            }
            Error::Onnx { .. } => {
                "myelin imports MLPs: Gemm or MatMul + Add layers with Relu, LeakyRelu (0.01), Sigmoid, Tanh or \
                 Softmax, an optional Sub + Div standardization at the input (docs/onnx.md)"
            }
            Error::Diverged { .. } => "lower --lr, or add --clip-norm 1.0 to bound each step's gradient",
            Error::Cpu { .. } => "rebuild without the x86-64-v3 flags in .cargo/config.toml for this machine",
            Error::Shape { .. } => "`myelin inspect MODEL` shows the inputs and outputs a model expects",
            Error::Memory { .. } => "`myelin train --help` and `myelin inspect MODEL` give the memory formula",
            _ => return None,
        })
    }

    /// Shorthand for an I/O error with context.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { op, path: path.into(), source }
    }

    /// Shorthand for a core error (or a model-format error) with context.
    pub fn core<E: Into<myelin_core::Error>>(op: &'static str) -> impl FnOnce(E) -> Error {
        move |source| Error::Core { op, source: source.into() }
    }
}

/// Result with the runner's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Bytes as B / KiB / MiB / GiB / TiB with one decimal.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
