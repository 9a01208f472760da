//! The `myelin` command line.

use clap::{Args, Parser, Subcommand};
use myelin::data::csv::{self, Column, Task};
use myelin::data::{idx, Dataset};
use myelin::error::{Error, Result};
use myelin::modelfile::{self, Meta, Saved};
use myelin::run::{self, RunOptions};
use myelin::source::{self, Source};
use myelin::spec::{OptimizerName, TrainSpec};
use myelin::{bench, interop, metrics};
use myelin_core::{Activation, Loss};
use std::path::{Path, PathBuf};
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

impl DataArgs {
    fn source(&self) -> Result<Source> {
        if self.data == "digits" {
            return Ok(Source::Digits);
        }
        if let Some(dir) = self.data.strip_prefix("mnist:") {
            return Ok(Source::Mnist(dir.into()));
        }
        if let Some(file) = self.data.strip_prefix("csv:") {
            let task = if self.target.is_empty() {
                Task::Classify { label: self.label.clone().unwrap_or(Column::Last) }
            } else {
                Task::Regress { targets: self.target.clone() }
            };
            let options = csv::Options { task, drop: self.drop.clone(), one_hot: self.one_hot.clone() };
            return Ok(Source::Csv { train: file.into(), test: self.test.clone(), options });
        }
        Err(Error::Usage(format!("--data {:?}: use `digits`, `mnist:DIR` or `csv:FILE`", self.data)))
    }
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
    /// Learning rate.
    #[arg(long)]
    lr: Option<f32>,
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
    /// Early stopping: epochs without a better validation loss (0: off).
    #[arg(long)]
    patience: Option<usize>,
    /// Random restarts: train this many seeds, keep the best on validation.
    #[arg(long)]
    restarts: Option<usize>,
    /// Do not standardize inputs.
    #[arg(long)]
    no_standardize: bool,
    /// Do not shuffle between epochs.
    #[arg(long)]
    no_shuffle: bool,
    /// Do not add shifted copies of training images (digits, MNIST).
    #[arg(long)]
    no_augment: bool,
}

impl TrainArgs {
    fn spec(&self) -> Result<TrainSpec> {
        let mut s = match &self.config {
            Some(p) => TrainSpec::from_toml(p)?,
            None => TrainSpec::default(),
        };
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = &self.$f { s.$f = v.clone(); } )* };
        }
        set!(
            hidden,
            activation,
            optimizer,
            lr,
            momentum,
            batch,
            epochs,
            l1,
            l2,
            dropout,
            seed,
            threads,
            shard,
            val_fraction,
            patience,
            restarts
        );
        if self.output.is_some() {
            s.output = self.output.clone();
        }
        if self.loss.is_some() {
            s.loss = self.loss.clone();
        }
        if self.clip_norm.is_some() {
            s.clip_norm = self.clip_norm;
        }
        if self.init.is_some() {
            s.init = self.init.clone();
        }
        if self.no_standardize {
            s.standardize = false;
        }
        if self.no_shuffle {
            s.shuffle = false;
        }
        if self.no_augment {
            s.augment = false;
        }
        Ok(s)
    }
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
    /// `myelin` (model file for firmware) or `safetensors`.
    #[arg(long, default_value = "myelin")]
    format: String,
    /// Also write a Rust source file with the topology as consts (buffer sizes at compile time).
    #[arg(long)]
    rust: Option<PathBuf>,
}

#[derive(Args)]
struct ImportArgs {
    /// safetensors file with `<i>.weight` (out, in) and `<i>.bias` tensors.
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
        Command::Train(a) => train(*a),
        Command::Eval(a) => eval(a),
        Command::Predict(a) => predict(a),
        Command::Inspect { model } => inspect(&model),
        Command::Export(a) => export(a),
        Command::Import(a) => import(a),
        Command::Bench(a) => bench_cmd(a),
    }
}

fn next_run_dir(data: &str) -> PathBuf {
    let tag: String = data
        .split([':', '/', '\\'])
        .rfind(|s| !s.is_empty())
        .unwrap_or("run")
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
        .collect();
    let tag = tag.trim_end_matches(".csv").trim_end_matches(".gz").to_string();
    (1..)
        .map(|i| PathBuf::from(format!("runs/{tag}-{i:03}")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| "runs/run".into())
}

fn train(a: TrainArgs) -> Result<()> {
    let spec = a.spec()?;
    let source = a.data.source()?;
    let out = a.out.clone().unwrap_or_else(|| next_run_dir(&a.data.data));
    if !a.quiet {
        println!("run folder: {}", out.display());
    }
    let t0 = std::time::Instant::now();
    let s = run::train(&RunOptions {
        spec,
        source,
        out,
        resume: a.resume,
        progress: !a.quiet,
        stop_after: a.stop_after,
        test_every_epoch: a.test_every_epoch,
    })?;
    if !s.finished {
        println!("stopped after {} epochs; continue with --resume --out {}", s.epochs, s.out.display());
        return Ok(());
    }
    let what = match s.baseline {
        Some(b) => {
            format!("test RMSE {:.3} (mean predictor {:.3}, {:.2}x better)", s.test_metric, b, b / s.test_metric)
        }
        None => format!("test accuracy {:.2}%", 100.0 * s.test_metric),
    };
    println!(
        "{what} after {} epochs; {:.1}s training, {:.1}s total",
        s.epochs,
        s.train_seconds,
        t0.elapsed().as_secs_f64()
    );
    println!("model:   {}", s.out.join("model.myelin").display());
    println!("metrics: {}", s.out.join("metrics.jsonl").display());
    println!("curves:  {} (and .svg)", s.out.join("curves.png").display());
    Ok(())
}

fn source_for(model: &Saved, data: &DataArgs) -> Result<Source> {
    // Without explicit --data, evaluate on what the model was trained on.
    if data.data == "digits" && model.meta.source != "digits" && !model.meta.source.is_empty() {
        if let Some(dir) = model.meta.source.strip_prefix("mnist:") {
            return Ok(Source::Mnist(dir.into()));
        }
    }
    data.source()
}

fn scaled_test(model: &Saved, source: &Source) -> Result<Dataset> {
    let (_, mut test, _) = source::load(source)?;
    if let Source::Csv { train, test: t, .. } = source {
        if let Some(schema) = &model.meta.schema {
            let (path, text) = match t {
                Some(p) => (p.clone(), csv::read_text(p)?),
                None => (train.clone(), csv::read_text(train)?),
            };
            let all = csv::encode(&text, &path, schema)?;
            test = if t.is_some() { all } else { all.split_at(all.len() - all.len() / 5).1 };
        }
    }
    if let Some(s) = &model.standardizer {
        s.apply(&mut test);
    }
    test.check_fits(model.topo.inputs(), model.topo.outputs())?;
    Ok(test)
}

fn outputs(model: &Saved, d: &Dataset) -> Result<Vec<f32>> {
    let mut y = myelin::trainer::predict(&model.topo, &model.params, &myelin::gemm::Gemm::from_env()?, d)?;
    if let Some(s) = &model.meta.target_scale {
        source::unscale_outputs(&mut y, s);
    }
    Ok(y)
}

fn eval(a: EvalArgs) -> Result<()> {
    let model = modelfile::load(&a.model)?;
    let source = source_for(&model, &a.data)?;
    let test = scaled_test(&model, &source)?;
    let y = outputs(&model, &test)?;
    if test.is_classification() {
        let r = metrics::classify(&test, &y);
        if a.json {
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        } else {
            print!("{}", r.table(&model.meta.classes));
        }
    } else {
        let r = metrics::regress(&test, &y);
        if a.json {
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        } else {
            println!("RMSE {:.4}  MAE {:.4}  (mean predictor RMSE {:.4})", r.rmse, r.mae, r.rmse_mean_predictor);
        }
    }
    Ok(())
}

fn predict(a: PredictArgs) -> Result<()> {
    let model = modelfile::load(&a.model)?;
    let mut d = if let Some(s) = &a.sample {
        let x: Vec<f32> = s
            .split(',')
            .map(|v| v.trim().parse::<f32>().map_err(|_| Error::Usage(format!("--sample: {v:?} is not a number"))))
            .collect::<Result<_>>()?;
        Dataset {
            x,
            features: model.topo.inputs(),
            targets: myelin::data::Targets::Values { values: vec![], width: 0 },
        }
    } else if let Some(p) = &a.input {
        read_inputs(&model, p)?
    } else {
        return Err(Error::Usage("give --input FILE or --sample v1,v2,...".into()));
    };
    if d.x.len() != d.len() * model.topo.inputs() || d.features != model.topo.inputs() {
        return Err(Error::Shape {
            op: "predict",
            expected: format!("{} features per sample", model.topo.inputs()),
            got: format!("{}", d.x.len().min(d.features)),
        });
    }
    if let Some(s) = &model.standardizer {
        s.apply(&mut d);
    }
    let y = outputs(&model, &d)?;
    let w = model.topo.outputs();
    let classify = model.topo.output_activation() == Activation::Softmax || !model.meta.classes.is_empty();
    let mut text = String::new();
    text += if classify { "prediction," } else { "" };
    text += &(0..w)
        .map(|j| model.meta.classes.get(j).map_or(format!("out{j}"), |c| format!("p_{c}")))
        .collect::<Vec<_>>()
        .join(",");
    text.push('\n');
    for row in y.chunks_exact(w) {
        if classify {
            let c = myelin_core::argmax(row);
            text += &model.meta.classes.get(c).cloned().unwrap_or_else(|| c.to_string());
            text.push(',');
        }
        text += &row.iter().map(|v| format!("{v}")).collect::<Vec<_>>().join(",");
        text.push('\n');
    }
    match &a.out {
        Some(p) => modelfile::write_atomic(p, text.as_bytes()),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn read_inputs(model: &Saved, p: &Path) -> Result<Dataset> {
    let bytes = idx::read_file(p)?;
    if bytes.starts_with(&[0, 0, 8]) {
        let (dims, px) = idx::parse(&bytes, p)?;
        let features = dims[1..].iter().product();
        return Ok(Dataset {
            x: px.iter().map(|&v| v as f32 / 255.0).collect(),
            features,
            targets: myelin::data::Targets::Values { values: vec![], width: 0 },
        });
    }
    let text = csv::read_text(p)?;
    match &model.meta.schema {
        Some(schema) => {
            // Prediction files may lack the label/target columns: encode features only.
            let mut s = schema.clone();
            let has_all = text.lines().next().is_some_and(|l| l.split(',').count() == s.names.len());
            if !has_all {
                let keep: Vec<usize> =
                    (0..s.names.len()).filter(|i| Some(*i) != s.label && !s.targets.contains(i)).collect();
                s.names = keep.iter().map(|&i| s.names[i].clone()).collect();
                s.encodings = keep.iter().map(|&i| s.encodings[i].clone()).collect();
                s.label = None;
                s.targets = vec![];
            } else {
                s.label = None;
                s.targets = vec![];
                if let Some(l) = schema.label {
                    s.encodings[l] = csv::Encoding::Skip;
                }
            }
            csv::encode(&text, p, &s)
        }
        None => {
            let opts = csv::Options { task: Task::Regress { targets: vec![] }, drop: vec![], one_hot: vec![] };
            csv::parse(&text, p, &opts)
        }
    }
}

fn inspect(path: &Path) -> Result<()> {
    let m = modelfile::load(path)?;
    let t = &m.topo;
    println!("model {}", path.display());
    println!(
        "  loss {}; source {}",
        t.loss().name(),
        if m.meta.source.is_empty() { "unknown" } else { &m.meta.source }
    );
    for (i, l) in t.layers().iter().enumerate() {
        println!("  layer {}: {:>5} -> {:<5} {}", i + 1, l.inputs, l.outputs, l.activation.name());
    }
    let p = t.params_len();
    let file = myelin_core::format::encoded_len(t, m.standardizer.is_some()).map_err(Error::core("sizing"))?;
    let infer = t.inference_len(1).map_err(Error::core("sizing"))?;
    let train = t.workspace_len(1).map_err(Error::core("sizing"))?;
    println!("  parameters {p} ({} bytes as f32)", 4 * p);
    println!("  multiply-accumulates per inference {}", t.macs());
    println!("firmware budget (batch 1):");
    println!("  flash: model file {file} bytes (include_model!, parameters read in place)");
    println!("  RAM:   inference workspace {} bytes (inference_len = {infer} f32)", 4 * infer);
    println!(
        "  RAM for on-device training, batch 1: params + grads {} bytes, workspace {} bytes, plus optimizer state",
        8 * p,
        4 * train
    );
    // The host trainer's footprint (myelin::memory): the CLI's defaults, batch 64 in shards of 32, Adam.
    let (batch, shard, slots) = (64, 32, 2);
    let f = myelin::memory::Footprint::training(t, batch, shard, slots);
    println!(
        "training on the host, batch {batch}, shard {shard}, Adam: {} ({} bytes)",
        myelin::memory::human(f.total()),
        f.total()
    );
    println!("  = 4 * (P * (4 + S + k) + S * workspace_len(shard) + S * shard * (inputs + outputs)) + 8 * P * (3 + k)");
    println!("    with P = {p} parameters, S = ceil(batch / shard) shards, k = optimizer values per parameter");
    println!("{}", f.describe());
    Ok(())
}

fn export(a: ExportArgs) -> Result<()> {
    let mut m = modelfile::load(&a.model)?;
    if let Some(scale) = &m.meta.target_scale {
        // The exported file must stand alone: its outputs in data units.
        m.params = modelfile::fold_target_scale(&m.topo, &m.params, scale)?;
    }
    match a.format.as_str() {
        "myelin" => modelfile::write_atomic(&a.out, &modelfile::encode(&m.topo, &m.params, m.standardizer.as_ref())?)?,
        "safetensors" => interop::export(&a.out, &m.topo, &m.params)?,
        f => return Err(Error::Usage(format!("--format {f:?}: use myelin or safetensors"))),
    }
    if let Some(r) = &a.rust {
        let sizes: Vec<String> = std::iter::once(m.topo.inputs())
            .chain(m.topo.layers().iter().map(|l| l.outputs))
            .map(|v| v.to_string())
            .collect();
        let acts: Vec<String> = m.topo.layers().iter().map(|l| format!("Activation::{:?}", l.activation)).collect();
        let src = format!(
            "// Generated by `myelin export` from {}.\nuse myelin_core::{{Activation, Loss}};\n\n/// Layer widths, inputs first.\npub const SIZES: [usize; {}] = [{}];\n/// Activation per layer.\npub const ACTIVATIONS: [Activation; {}] = [{}];\n/// Training loss.\npub const LOSS: Loss = Loss::{:?};\n/// Parameter count.\npub const PARAMS: usize = myelin_core::params_len(&SIZES);\n/// Inference workspace for one sample.\npub const INFERENCE_LEN: usize = myelin_core::inference_len(&SIZES, 1);\n/// Model file length in bytes.\npub const MODEL_BYTES: usize = myelin_core::format::file_len(&SIZES, {});\n",
            a.model.display(),
            sizes.len(),
            sizes.join(", "),
            acts.len(),
            acts.join(", "),
            m.topo.loss(),
            m.standardizer.is_some()
        );
        modelfile::write_atomic(r, src.as_bytes())?;
    }
    println!("wrote {}", a.out.display());
    Ok(())
}

fn import(a: ImportArgs) -> Result<()> {
    let (mut acts, mut loss) = (a.activations.clone(), a.loss.clone());
    if let Some(p) = &a.sidecar {
        #[derive(serde::Deserialize)]
        struct Side {
            activations: Vec<String>,
            loss: Option<String>,
        }
        let b = std::fs::read(p).map_err(|e| Error::io("reading", p, e))?;
        let s: Side = serde_json::from_slice(&b).map_err(|e| Error::Foreign { path: p.clone(), msg: e.to_string() })?;
        acts = s.activations;
        loss = loss.or(s.loss);
    }
    if acts.is_empty() {
        return Err(Error::Usage("give --activations (one per Linear layer, e.g. relu,softmax) or --sidecar".into()));
    }
    let acts: Vec<Activation> = acts
        .iter()
        .map(|n| Activation::from_name(n).ok_or_else(|| Error::Usage(format!("unknown activation {n:?}"))))
        .collect::<Result<_>>()?;
    let last = *acts.last().unwrap_or(&Activation::Identity);
    let loss = match loss {
        Some(l) => Loss::from_name(&l).ok_or_else(|| Error::Usage(format!("unknown loss {l:?}")))?,
        None if last == Activation::Softmax => Loss::CrossEntropy,
        None => Loss::Mse,
    };
    let (topo, params) = interop::import(&a.input, &acts, loss)?;
    let meta = Meta { source: format!("safetensors:{}", a.input.display()), ..Meta::default() };
    modelfile::save(&a.out, &topo, &params, None, &meta)?;
    println!("imported {} layers ({} parameters) into {}", topo.layers().len(), topo.params_len(), a.out.display());
    Ok(())
}

fn bench_cmd(a: BenchArgs) -> Result<()> {
    let figs = bench::run(&a.workload, &a.threads, a.epochs)?;
    let rate = bench::sgemm_rate(256, 784, 512);
    let json = serde_json::json!({
        "framework": "myelin",
        "sgemm_gflops_256x784x512_1t": rate,
        "results": figs,
    });
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    println!("{text}");
    if let Some(p) = &a.json {
        modelfile::write_atomic(p, text.as_bytes())?;
    }
    for f in &figs {
        eprintln!(
            "{:<20} {}t  train {:>9.0} samples/s ({:.1} GFLOP/s, {:.0}% of sgemm)  infer b1024 {:>9.0}/s  b1 {:.2} us",
            f.workload,
            f.threads,
            f.train_samples_per_s,
            f.train_gflops,
            100.0 * f.train_gflops / (rate * f.threads as f64),
            f.infer_b1024_samples_per_s,
            f.infer_b1_us
        );
    }
    Ok(())
}
