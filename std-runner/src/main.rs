//! The `myelin` command line: the arguments (clap) and the dispatch to one module per
//! command in `commands/`.

mod commands;

use clap::{Args, Parser, Subcommand};
use myelin::data::csv::Column;
use myelin::error::Result;
use myelin::train::spec::{InputScale, Monitor, OptimizerName, ScheduleName, ValSplit};
use std::path::PathBuf;
use std::process::ExitCode;

/// Train, evaluate and export multi-layer perceptrons; benchmark them.
#[derive(Parser)]
#[command(name = "myelin", version, about, long_about = None, args_override_self = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a network (default: the shipped 8x8 digits) into a run folder.
    ///
    /// Memory: before allocating, the run adds up what it will hold and refuses with an
    /// error naming the parts if that exceeds what this process may use (the smallest of
    /// MemAvailable, the cgroup's limit and RLIMIT_AS). In bytes, with P parameters, S =
    /// ceil(batch / shard) shards and k optimizer values per parameter (SGD 0, momentum 1,
    /// Adam 2): 4 * (P * (4 + S + k) + S * workspace_len(shard) + S * shard * (inputs +
    /// outputs)) + 8 * P * (3 + k) while a checkpoint is written. `myelin inspect MODEL`
    /// prints it for a model. A batch larger than the training set is the training set.
    #[command(long_about)]
    Train(Box<TrainArgs>),
    /// Evaluate a model on a dataset's test part: accuracy, precision/recall, confusion
    /// matrix, or RMSE/MAE.
    Eval(EvalArgs),
    /// Predict for every row of a CSV/IDX file, or for one sample given on the command line.
    Predict(PredictArgs),
    /// Show a model's topology, parameter count and exact firmware RAM/flash budget.
    Inspect {
        /// Model file (.myelin).
        model: PathBuf,
    },
    /// Write a model for firmware (.myelin, optionally a Rust file of consts) or as
    /// safetensors.
    Export(ExportArgs),
    /// Build a model from a safetensors file of PyTorch nn.Linear layers.
    Import(ImportArgs),
    /// Run the agreed CPU workloads and print samples/s and latency as JSON.
    Bench(BenchArgs),
    /// Quantize a float model to int8 (format version 2) with activation ranges from
    /// calibration samples of the training part; prints float and int8 figures on the test
    /// part. `eval`, `predict`, `inspect` and `export` take the result.
    Quantize(QuantizeArgs),
}

#[derive(Args)]
struct QuantizeArgs {
    /// Float model file.
    model: PathBuf,
    /// Calibration data (as --data; default: the model's own dataset). Samples are drawn
    /// from its training part only; the figures come from its test part.
    #[arg(long)]
    calibrate: Option<String>,
    #[command(flatten)]
    data: DataArgs,
    /// Calibration samples drawn.
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// Seed of the calibration draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// One weight scale per layer instead of one per output neuron.
    #[arg(long)]
    per_tensor: bool,
    /// Activation ranges from this percentile (e.g. 99.99) instead of min/max.
    #[arg(long)]
    percentile: Option<f64>,
    /// Weight bits: 8 (-127..=127), or 7 (-63..=63: the AVX2 kernels' faster exact path).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(7..=8))]
    weight_bits: u8,
    /// Output int8 model file.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Data: `digits` (shipped), `mnist:DIR` (IDX files), or `csv:FILE`.
    #[arg(long, default_value = "digits")]
    data: String,
    /// CSV test file (default: the last 20% of the training file's rows).
    #[arg(long)]
    test: Option<PathBuf>,
    /// CSV label column for classification (name, 0-based index or `last`).
    #[arg(long)]
    label: Option<Column>,
    /// CSV target column(s) for regression; makes the task regression.
    #[arg(long, value_delimiter = ',')]
    target: Vec<Column>,
    /// CSV columns to ignore.
    #[arg(long, value_delimiter = ',')]
    drop: Vec<Column>,
    /// CSV numeric columns to one-hot encode as categories (e.g. hour of day).
    #[arg(long, value_delimiter = ',')]
    one_hot: Vec<Column>,
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// TOML file with any of the options below (flags given here override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run folder (default: runs/<data>-NNN, the next free number).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long, requires = "out")]
    resume: bool,
    /// No progress bar or per-epoch lines.
    #[arg(long, short)]
    quiet: bool,
    /// Stop after this many epochs as if interrupted (checkpoint kept; resume later).
    #[arg(long, hide = true)]
    stop_after: Option<usize>,
    /// Also measure the test set after every epoch (metrics.jsonl, progress, curves). By
    /// default it is measured once, at the end: choosing anything by it leaks it.
    #[arg(long)]
    test_every_epoch: bool,
    /// Hidden layer widths, e.g. 128 or 256,128.
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Hidden activation: relu, leaky-relu, tanh, sigmoid, identity.
    #[arg(long)]
    activation: Option<String>,
    /// Output activation (default: softmax for classes, identity for regression).
    #[arg(long)]
    output: Option<String>,
    /// Loss: cross-entropy, bce, mse, sse (default: from the output activation).
    #[arg(long)]
    loss: Option<String>,
    /// Optimizer.
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerName>,
    /// Learning rate (default per optimizer: adam 0.002, sgd 0.3, momentum and nesterov
    /// 0.1); the peak when a schedule is set.
    #[arg(long)]
    lr: Option<f32>,
    /// Learning-rate schedule after the warm-up.
    #[arg(long, value_enum)]
    schedule: Option<ScheduleName>,
    /// Decay factor: per --decay-every epochs (step; default 0.1) or per epoch (exp; 0.9).
    #[arg(long)]
    decay: Option<f32>,
    /// Epochs between step decays.
    #[arg(long)]
    decay_every: Option<usize>,
    /// Lowest rate of the cosine schedule.
    #[arg(long)]
    min_lr: Option<f32>,
    /// Cosine with warm restarts: epochs of the first cycle (0: one cosine over the run).
    #[arg(long)]
    cycle: Option<usize>,
    /// Cosine with warm restarts: growth factor of each cycle's length.
    #[arg(long)]
    cycle_mult: Option<usize>,
    /// Epochs of linear learning-rate warm-up before the schedule (fractions allowed).
    #[arg(long)]
    warmup: Option<f32>,
    /// Momentum coefficient (momentum, nesterov).
    #[arg(long)]
    momentum: Option<f32>,
    /// Mini-batch size.
    #[arg(long)]
    batch: Option<usize>,
    /// Maximum epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// L1 penalty on weights.
    #[arg(long)]
    l1: Option<f32>,
    /// L2 penalty on weights.
    #[arg(long)]
    l2: Option<f32>,
    /// Dropout rate on hidden layers (training only).
    #[arg(long)]
    dropout: Option<f32>,
    /// Clip each step's gradient to this global L2 norm.
    #[arg(long)]
    clip_norm: Option<f32>,
    /// Max-norm: after every step, scale each neuron's incoming weights back to this L2 norm
    /// when they exceed it (Srivastava et al. 2014 use 3 to 4 with dropout).
    #[arg(long)]
    max_norm: Option<f32>,
    /// Weight init: xavier, xavier-normal, he, he-normal (default: by activation).
    #[arg(long)]
    init: Option<String>,
    /// Seed for init, shuffling, dropout and the validation split.
    #[arg(long)]
    seed: Option<u64>,
    /// Threads (0: all cores). Results are bit-identical for any value.
    #[arg(long)]
    threads: Option<usize>,
    /// Samples per shard, the unit of parallel work.
    #[arg(long)]
    shard: Option<usize>,
    /// Fraction of training data held out for validation.
    #[arg(long)]
    val_fraction: Option<f32>,
    /// Validation part: a seeded random draw, or the last rows (data ordered in time).
    #[arg(long, value_enum)]
    val_split: Option<ValSplit>,
    /// The validation figure early stopping and the kept model follow.
    #[arg(long, value_enum)]
    monitor: Option<Monitor>,
    /// The least decrease of the monitored figure that counts as better.
    #[arg(long)]
    min_delta: Option<f64>,
    /// Early stopping: epochs without a better monitored figure (0: off).
    #[arg(long)]
    patience: Option<usize>,
    /// Random restarts: train this many seeds, keep the best on validation.
    #[arg(long)]
    restarts: Option<usize>,
    /// Input scaling (default auto: images to [0, 1], tables standardized per column).
    #[arg(long, value_enum)]
    scale: Option<InputScale>,
    /// Same as --scale none.
    #[arg(long, conflicts_with = "scale")]
    no_standardize: bool,
    /// Do not shuffle between epochs.
    #[arg(long)]
    no_shuffle: bool,
    /// Do not add shifted copies of training images (digits, MNIST).
    #[arg(long)]
    no_augment: bool,
    /// Shift each training image by a random offset of up to this many pixels each way,
    /// drawn afresh every epoch from the seed (0: off).
    #[arg(long)]
    random_shift: Option<usize>,
    /// Across MPI ranks, sum gradients with MPI_Allreduce: faster on many ranks, but the
    /// weights then depend on the number of ranks (not bit-reproducible across rank counts).
    #[arg(long)]
    allreduce: bool,
}

#[derive(Args)]
struct EvalArgs {
    /// Model file.
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PredictArgs {
    /// Model file.
    model: PathBuf,
    /// CSV file (encoded with the model's schema) or IDX image file.
    #[arg(long, conflicts_with = "sample")]
    input: Option<PathBuf>,
    /// One sample: comma-separated raw feature values.
    #[arg(long, allow_hyphen_values = true)]
    sample: Option<String>,
    /// Write predictions as CSV here (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct ExportArgs {
    /// Model file.
    model: PathBuf,
    /// Output path.
    #[arg(long)]
    out: PathBuf,
    /// `myelin` (model file for firmware), `onnx` or `safetensors`.
    #[arg(long, default_value = "myelin")]
    format: String,
    /// Also write a Rust source file with the topology as consts (buffer sizes at compile time).
    #[arg(long)]
    rust: Option<PathBuf>,
}

#[derive(Args)]
struct ImportArgs {
    /// An ONNX model (`.onnx`: an MLP graph from torch.onnx.export, skl2onnx or `myelin
    /// export --format onnx`), or a safetensors file with `<i>.weight` (out, in) and
    /// `<i>.bias` tensors.
    input: PathBuf,
    /// Activation per Linear layer, e.g. relu,softmax (default: from the file's metadata).
    #[arg(long, value_delimiter = ',')]
    activations: Vec<String>,
    /// Loss to record (default: cross-entropy after softmax, else mse).
    #[arg(long)]
    loss: Option<String>,
    /// JSON sidecar with {"activations": [...], "loss": "..."} instead of the flags.
    #[arg(long)]
    sidecar: Option<PathBuf>,
    /// Output model file.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct BenchArgs {
    /// Thread counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Workloads (default: all).
    #[arg(long, value_delimiter = ',')]
    workload: Vec<String>,
    /// Timed epochs (median is reported).
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Also write the JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = myelin::cpu::check().and_then(|_| dispatch(cli.command)) {
        eprintln!("error: {e}");
        if let Some(h) = e.hint() {
            eprintln!("hint: {h}");
        }
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn dispatch(cmd: Command) -> Result<()> {
    match cmd {
        Command::Train(a) => commands::train::run(*a),
        Command::Eval(a) => commands::eval::run(a),
        Command::Predict(a) => commands::predict::run(a),
        Command::Inspect { model } => commands::inspect::run(&model),
        Command::Export(a) => commands::export::run(a),
        Command::Import(a) => commands::import::run(a),
        Command::Bench(a) => commands::bench::run(a),
        Command::Quantize(a) => commands::quantize::run(a),
    }
}
