//! The `myelin` binary end to end: every command, bad input (exit code, message, no partial
//! files), resume after interruption, early stopping.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary, through `MYELIN_TEST_RUNNER` when it is set (an emulator command such as
/// `qemu-aarch64 -L /usr/aarch64-linux-gnu` for a cross-built binary).
fn myelin(args: &[&str], dir: &Path) -> Output {
    myelin_env(args, dir, &[])
}

/// [`myelin`] with extra environment variables.
fn myelin_env(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let bin = env!("CARGO_BIN_EXE_myelin");
    let runner = std::env::var("MYELIN_TEST_RUNNER").unwrap_or_default();
    let mut parts = runner.split_whitespace();
    let mut command = match parts.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(parts).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    command.args(args).envs(env.iter().copied()).current_dir(dir).output().expect("runs")
}

fn ok(args: &[&str], dir: &Path) -> String {
    ok_env(args, dir, &[])
}

fn ok_env(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> String {
    let o = myelin_env(args, dir, env);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "myelin {args:?} failed:\n{out}\n{err}");
    out.into_owned()
}

fn fails(args: &[&str], dir: &Path, needle: &str) -> String {
    let o = myelin(args, dir);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "myelin {args:?} should fail");
    assert!(err.contains(needle), "myelin {args:?}: stderr lacks {needle:?}:\n{err}");
    err
}

/// The number printed right after `label` in `text` (e.g. "test accuracy 91.25%").
fn number_after(text: &str, label: &str) -> f64 {
    let rest = text.split(label).nth(1).unwrap_or_else(|| panic!("no {label:?} in:\n{text}"));
    let num: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-').collect();
    num.parse().unwrap_or_else(|_| panic!("no number after {label:?} in:\n{text}"))
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn quick_digits(dir: &Path, out: &str, extra: &[&str]) -> String {
    let mut args = vec!["train", "-q", "--out", out, "--epochs", "4", "--hidden", "32"];
    args.extend_from_slice(extra);
    ok(&args, dir)
}

#[test]
fn train_eval_predict_inspect_export_import() {
    let t = tmp();
    let d = t.path();
    let out = quick_digits(d, "run", &[]);
    assert!(out.contains("test accuracy"), "{out}");
    let acc: f64 = out
        .split("test accuracy ")
        .nth(1)
        .and_then(|s| s.split('%').next())
        .and_then(|s| s.parse().ok())
        .expect("accuracy");
    assert!(acc > 90.0, "4 epochs on digits should pass 90%: {acc}");
    for f in ["model.myelin", "model.json", "metrics.jsonl", "curves.png", "curves.svg", "checkpoint.myelin-ckpt"] {
        assert!(d.join("run").join(f).exists(), "{f} missing");
    }
    assert_eq!(std::fs::read_to_string(d.join("run/metrics.jsonl")).unwrap().lines().count(), 4);

    let e = ok(&["eval", "run/model.myelin"], d);
    assert!(e.contains("accuracy") && e.contains("confusion matrix"), "{e}");
    let j = ok(&["eval", "run/model.myelin", "--json"], d);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert!((v["accuracy"].as_f64().unwrap() * 100.0 - acc).abs() < 0.006, "eval agrees with train's report");

    let zeros = vec!["0"; 64].join(",");
    let p = ok(&["predict", "run/model.myelin", "--sample", &zeros], d);
    assert!(p.starts_with("prediction,p_0,"), "{p}");
    assert_eq!(p.lines().count(), 2);

    let i = ok(&["inspect", "run/model.myelin"], d);
    assert!(i.contains("64 -> 32") && i.contains("parameters 2410"), "{i}");

    ok(&["export", "run/model.myelin", "--out", "fw.myelin", "--rust", "model.rs"], d);
    let rs = std::fs::read_to_string(d.join("model.rs")).unwrap();
    assert!(rs.contains("pub const SIZES: [usize; 3] = [64, 32, 10];"), "{rs}");
    ok(&["export", "run/model.myelin", "--out", "m.safetensors", "--format", "safetensors"], d);
    ok(&["import", "m.safetensors", "--activations", "relu,softmax", "--out", "back.myelin"], d);
    // Same parameters, no standardization stored in safetensors: compare raw parameter bytes.
    let a = myelin::io::modelfile::load(&d.join("run/model.myelin")).unwrap();
    let b = myelin::io::modelfile::load(&d.join("back.myelin")).unwrap();
    assert_eq!(a.params, b.params);
    assert_eq!(a.topology, b.topology);
}

#[test]
fn csv_classification_and_regression() {
    let t = tmp();
    let d = t.path();
    // Two features, label = which side of a line; a categorical column.
    let mut text = String::from("x,y,color,label\n");
    let mut reg = String::from("a,b,hour,target\n");
    for i in 0..400 {
        let (x, y) = ((i % 20) as f32 / 10.0 - 1.0, (i / 20) as f32 / 10.0 - 1.0);
        let color = ["red", "green", "blue"][i % 3];
        text += &format!("{x},{y},{color},{}\n", if x + y > 0.0 { "pos" } else { "neg" });
        let hour = i % 5;
        reg += &format!("{x},{y},{hour},{}\n", 3.0 * x - 2.0 * y + hour as f32);
    }
    std::fs::write(d.join("c.csv"), text).unwrap();
    std::fs::write(d.join("r.csv"), reg).unwrap();
    let out = ok(&["train", "-q", "--data", "csv:c.csv", "--label", "label", "--out", "c", "--epochs", "30"], d);
    // The classes are split by a line: a network must get nearly all test rows right.
    let acc = number_after(&out, "test accuracy ");
    assert!(acc >= 88.0, "test accuracy {acc}% on linearly separable data:\n{out}");
    let p = ok(&["predict", "c/model.myelin", "--input", "c.csv"], d);
    assert!(p.lines().nth(1).unwrap().starts_with("neg,") || p.lines().nth(1).unwrap().starts_with("pos,"), "{p}");
    let out = ok(
        &[
            "train",
            "-q",
            "--data",
            "csv:r.csv",
            "--target",
            "target",
            "--one-hot",
            "hour",
            "--out",
            "r",
            "--epochs",
            "60",
        ],
        d,
    );
    // The target is linear in the features: far below the mean predictor's error.
    let (rmse, mean) = (number_after(&out, "test RMSE "), number_after(&out, "mean predictor "));
    assert!(rmse < 0.25 * mean, "test RMSE {rmse} against {mean} for the mean predictor:\n{out}");
    let e = ok(&["eval", "r/model.myelin", "--data", "csv:r.csv", "--target", "target"], d);
    let e_rmse = number_after(&e, "RMSE ");
    assert!(e_rmse < 0.25 * mean, "eval RMSE {e_rmse}:\n{e}");
}

#[test]
fn bad_input_is_a_clear_error_with_no_partial_files() {
    let t = tmp();
    let d = t.path();
    fails(&["train", "--data", "csv:nope.csv", "--out", "x"], d, "nope.csv");
    assert!(!d.join("x/model.myelin").exists());
    fails(&["train", "--data", "parquet:x", "--out", "x"], d, "use `digits`");
    fails(&["train", "--lr=-1", "--out", "x"], d, "--lr must be a positive number");
    fails(&["train", "--activation", "swish", "--out", "x"], d, "unknown activation");
    fails(&["train", "--batch", "0", "--out", "x"], d, "--batch");
    fails(&["train", "--dropout", "1", "--out", "x"], d, "--dropout");
    assert!(!d.join("x/model.myelin").exists(), "no model after failed runs");
    std::fs::write(d.join("bad.csv"), "a,b,label\n1,2,x\n3,oops,y\n1,2\n").unwrap();
    fails(&["train", "--data", "csv:bad.csv", "--out", "y"], d, "bad.csv");
    std::fs::write(d.join("m.myelin"), b"MYLN this is not a model at all, just bytes").unwrap();
    let err = fails(&["inspect", "m.myelin"], d, "checksum mismatch");
    assert!(err.contains("hint:"), "{err}");
    std::fs::write(d.join("m.myelin"), b"PK\x03\x04 zip").unwrap();
    fails(&["eval", "m.myelin"], d, "not a myelin model file");
    fails(&["inspect", "missing.myelin"], d, "missing.myelin");
    quick_digits(d, "run", &["--epochs", "1"]);
    fails(&["predict", "run/model.myelin", "--sample", "1,2,3"], d, "64 features");
    fails(&["predict", "run/model.myelin", "--sample", "1,2,x"], d, "not a number");
    fails(&["import", "m.myelin", "--activations", "relu", "--out", "z.myelin"], d, "safetensors");
    assert!(!d.join("z.myelin").exists());
    // Bad IDX header claiming 2^31 images: rejected before allocation.
    let mut idx = vec![0u8, 0, 8, 3];
    for v in [1u32 << 31, 28, 28] {
        idx.extend_from_slice(&v.to_be_bytes());
    }
    std::fs::write(d.join("huge-idx3-ubyte"), &idx).unwrap();
    fails(&["predict", "run/model.myelin", "--input", "huge-idx3-ubyte"], d, "header claims");
}

#[test]
fn resume_after_interruption_equals_an_uninterrupted_run() {
    let t = tmp();
    let d = t.path();
    let args = ["--epochs", "6", "--patience", "0", "--dropout", "0.1", "--threads", "2"];
    quick_digits(d, "full", &args);
    let mut a = args.to_vec();
    a.extend(["--stop-after", "2"]);
    let out = quick_digits(d, "cut", &a);
    assert!(out.contains("stopped after 2 epochs"), "{out}");
    assert!(!d.join("cut/model.myelin").exists(), "an interrupted run has no final model yet");
    ok(&["train", "-q", "--out", "cut", "--resume"], d);
    let full = std::fs::read(d.join("full/model.myelin")).unwrap();
    let cut = std::fs::read(d.join("cut/model.myelin")).unwrap();
    assert_eq!(full, cut, "resumed model must be bit-identical");
    assert_eq!(std::fs::read_to_string(d.join("full/metrics.jsonl")).unwrap().lines().count(), 6);
    let strip = |p: PathBuf| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| l.split(",\"seconds\"").next().unwrap().to_string())
            .collect()
    };
    assert_eq!(strip(d.join("full/metrics.jsonl")), strip(d.join("cut/metrics.jsonl")));
    fails(&["train", "--out", "nowhere", "--resume"], d, "nowhere");
}

/// A schedule (warm-up, then cosine with restarts), random shifts and early stopping on the
/// validation error with a minimum improvement: a run cut in the middle of a cosine cycle and
/// resumed ends with the uninterrupted run's bits and metrics, and the rates it logged are
/// the schedule's.
#[test]
fn resume_with_a_schedule_shifts_and_a_monitor_equals_an_uninterrupted_run() {
    let t = tmp();
    let d = t.path();
    let args = [
        "--epochs",
        "7",
        "--patience",
        "3",
        "--schedule",
        "cosine",
        "--warmup",
        "1",
        "--cycle",
        "2",
        "--cycle-mult",
        "2",
        "--min-lr",
        "0.0001",
        "--random-shift",
        "1",
        "--monitor",
        "val-error",
        "--min-delta",
        "0.001",
        "--threads",
        "2",
    ];
    quick_digits(d, "full", &args);
    let mut a = args.to_vec();
    a.extend(["--stop-after", "3"]);
    quick_digits(d, "cut", &a);
    ok(&["train", "-q", "--out", "cut", "--resume"], d);
    let full = std::fs::read(d.join("full/model.myelin")).unwrap();
    assert_eq!(full, std::fs::read(d.join("cut/model.myelin")).unwrap(), "resumed model must be bit-identical");
    let lines = |p: PathBuf| -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("seconds");
                v
            })
            .collect()
    };
    let (a, b) = (lines(d.join("full/metrics.jsonl")), lines(d.join("cut/metrics.jsonl")));
    assert_eq!(a, b);
    // The rate of each epoch's last step: digits' 1,293 training samples (90% of 1,437)
    // and their four shifted copies in batches of 32 are 203 steps per epoch; warm-up for
    // one epoch, then cycles of 2 and 4 epochs.
    let spec = myelin::train::spec::TrainSpec {
        lr: Some(0.002),
        schedule: myelin::train::spec::ScheduleName::Cosine,
        warmup: 1.0,
        cycle: 2,
        cycle_mult: 2,
        min_lr: 0.0001,
        epochs: 7,
        ..Default::default()
    };
    let steps = 203;
    let schedule = spec.schedule(steps);
    for (e, line) in a.iter().enumerate() {
        let logged = line["lr"].as_f64().unwrap();
        let want = schedule.rate(((e + 1) * steps - 1) as u64) as f64;
        assert_eq!(logged, want, "epoch {}", e + 1);
    }
    let rates: Vec<f64> = a.iter().map(|l| l["lr"].as_f64().unwrap()).collect();
    assert!(rates[3] > rates[2], "a warm restart after the first cycle: {rates:?}");
}

#[test]
fn early_stopping_stops_and_keeps_the_best_epoch() {
    let t = tmp();
    let d = t.path();
    // A large learning rate makes validation loss stop improving quickly.
    let out = ok(&["train", "--out", "es", "--epochs", "200", "--patience", "2", "--hidden", "16", "--lr", "0.05"], d);
    assert!(out.contains("early stop"), "{out}");
    let metrics = std::fs::read_to_string(d.join("es/metrics.jsonl")).unwrap();
    let val: Vec<f64> = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["val_loss"].as_f64().unwrap())
        .collect();
    assert!(val.len() < 200, "{} epochs", val.len());
    // The saved model holds the best epoch's parameters, not the last ones: the same run cut
    // off at the best epoch ends with exactly them.
    let best = 1 + (0..val.len()).min_by(|&a, &b| val[a].total_cmp(&val[b])).unwrap();
    assert!(best < val.len(), "the best epoch ({best}) must not be the last for this check");
    let epochs = best.to_string();
    ok(&["train", "-q", "--out", "cut", "--epochs", &epochs, "--patience", "0", "--hidden", "16", "--lr", "0.05"], d);
    let saved = myelin::io::modelfile::load(&d.join("es/model.myelin")).unwrap().params;
    let at_best = myelin::io::modelfile::load(&d.join("cut/model.myelin")).unwrap().params;
    assert!(saved == at_best, "the early-stopped model is not the best epoch's ({best} of {})", val.len());
    let ckpt = myelin::train::checkpoint::Checkpoint::load(&d.join("es/checkpoint.myelin-ckpt")).unwrap();
    assert!(ckpt.params != saved, "the last epoch's parameters differ from the saved best ones");
    // Restarts: best of several seeds by validation loss.
    let out = quick_digits(d, "rs", &["--restarts", "2", "--epochs", "2"]);
    assert!(out.contains("after 4 epochs"), "{out}");
    let first = std::fs::read(d.join("rs/model.myelin")).unwrap();
    // Resuming a finished run (here with restarts) changes nothing.
    ok(&["train", "-q", "--out", "rs", "--resume"], d);
    assert_eq!(std::fs::read(d.join("rs/model.myelin")).unwrap(), first);
}

#[test]
fn config_file_and_flags() {
    let t = tmp();
    let d = t.path();
    std::fs::write(d.join("c.toml"), "hidden = [24]\nepochs = 2\nactivation = \"tanh\"\n").unwrap();
    ok(&["train", "-q", "--config", "c.toml", "--out", "cf", "--epochs", "3"], d);
    let i = ok(&["inspect", "cf/model.myelin"], d);
    assert!(i.contains("64 -> 24") && i.contains("tanh"), "{i}");
    assert_eq!(std::fs::read_to_string(d.join("cf/metrics.jsonl")).unwrap().lines().count(), 3, "flag overrides file");
    std::fs::write(d.join("bad.toml"), "hiden = [24]\n").unwrap();
    fails(&["train", "--config", "bad.toml", "--out", "cf2"], d, "bad.toml");
}

/// Runs `myelin` under an address-space limit (`ulimit -v`, KiB) through the shell.
fn limited(kib: u64, args: &[&str], dir: &Path) -> Output {
    let cmd = format!("ulimit -v {kib} && exec \"$0\" \"$@\"");
    Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .arg(env!("CARGO_BIN_EXE_myelin"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn runs_too_large_for_memory_are_refused_with_the_sizes_not_killed() {
    let t = tmp();
    let d = t.path();
    // 40 GB of parameters alone, under a 4 GiB limit: a typed error naming the parts, exit 1.
    let o = limited(4 << 20, &["train", "--hidden", "100000,100000", "--out", "big"], d);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("not enough memory") && err.contains("GiB available"), "{err}");
    assert!(err.contains("parameters") && err.contains("--hidden"), "names the sizes and the remedy: {err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace") && !err.contains("memory allocation of"), "{err}");
    assert!(!d.join("big/model.myelin").exists());
    // A batch larger than the training set is the training set: said once, and the run
    // fits in the same limit.
    let o =
        limited(4 << 20, &["train", "-q", "--batch", "100000000", "--epochs", "1", "--hidden", "16", "--out", "b"], d);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("is larger than the training set").count(), 1, "{err}");
    assert!(d.join("b/model.myelin").exists());
}

#[test]
fn the_test_set_is_measured_at_the_end_unless_asked_for_every_epoch() {
    let t = tmp();
    let d = t.path();
    let out = ok(&["train", "--out", "a", "--epochs", "2", "--hidden", "16"], d);
    assert!(!out.contains("test acc "), "the per-epoch line shows no test figure:\n{out}");
    assert!(out.contains("test accuracy"), "the end of the run reports it once:\n{out}");
    let m = std::fs::read_to_string(d.join("a/metrics.jsonl")).unwrap();
    assert!(m.lines().all(|l| l.contains("\"test_metric\":null")), "{m}");
    let out = ok(&["train", "--out", "b", "--epochs", "2", "--hidden", "16", "--test-every-epoch"], d);
    assert!(out.contains("test acc "), "{out}");
    let m = std::fs::read_to_string(d.join("b/metrics.jsonl")).unwrap();
    assert!(!m.contains("\"test_metric\":null"), "{m}");
}

/// `myelin quantize`, then every command on the int8 model; misuse refused with a message and
/// a non-zero exit, a damaged int8 file rejected.
#[test]
fn quantize_then_eval_predict_inspect_export_an_int8_model() {
    let t = tmp();
    let d = t.path();
    quick_digits(d, "run", &[]);
    let q = ok(&["quantize", "run/model.myelin", "--out", "q8.myelin"], d);
    let (float, int8) = (number_after(&q, "test accuracy: float "), number_after(&q, ", int8 "));
    assert!((float - int8).abs() <= 1.2, "int8 far from float:\n{q}");
    let agree = number_after(&q, "top-1 agreement: ");
    assert!(agree >= 350.0, "{q}");
    assert!(d.join("q8.myelin").exists() && d.join("q8.json").exists());

    let e = ok(&["eval", "q8.myelin", "--json"], d);
    let v: serde_json::Value = serde_json::from_str(&e).unwrap();
    assert!((v["accuracy"].as_f64().unwrap() * 100.0 - int8).abs() < 0.006, "eval agrees with quantize:\n{q}\n{e}");
    let zeros = vec!["0"; 64].join(",");
    let p = ok(&["predict", "q8.myelin", "--sample", &zeros], d);
    assert!(p.starts_with("prediction,p_0,") && p.lines().count() == 2, "{p}");
    let i = ok(&["inspect", "q8.myelin"], d);
    assert!(i.contains("int8, format version 2") && i.contains("64 -> 32") && i.contains("per channel"), "{i}");

    ok(&["export", "q8.myelin", "--out", "fw8.myelin", "--rust", "m8.rs"], d);
    assert_eq!(std::fs::read(d.join("fw8.myelin")).unwrap(), std::fs::read(d.join("q8.myelin")).unwrap());
    let rs = std::fs::read_to_string(d.join("m8.rs")).unwrap();
    assert!(rs.contains("pub const SIZES: [usize; 3] = [64, 32, 10];") && rs.contains("quant::work_len"), "{rs}");
    assert!(
        rs.contains("pub static NET: QuantNet<'static>") && rs.contains("static WEIGHTS_1: Aligned<[i8; 320]>"),
        "{rs}"
    );
    fails(&["export", "q8.myelin", "--out", "m.onnx", "--format", "onnx"], d, "int8 models export as `myelin`");
    fails(&["quantize", "q8.myelin", "--out", "again.myelin"], d, "already an int8 model");
    fails(&["quantize", "run/model.myelin", "--percentile", "20", "--out", "bad.myelin"], d, "--percentile");
    assert!(!d.join("bad.myelin").exists() && !d.join("again.myelin").exists());

    let pt = ok(&["quantize", "run/model.myelin", "--per-tensor", "--percentile", "99.9", "--out", "pt.myelin"], d);
    assert!(pt.contains("percentile ranges"), "{pt}");
    assert!(ok(&["inspect", "pt.myelin"], d).contains("per tensor"));
    // 7-bit weights: flagged in the file, every kernel set gives the same predictions.
    ok(&["quantize", "run/model.myelin", "--weight-bits", "7", "--out", "w7.myelin"], d);
    assert!(ok(&["inspect", "w7.myelin"], d).contains("7-bit weights per channel"));
    assert!(ok(&["inspect", "q8.myelin"], d).contains("8-bit weights per channel"));
    let bytes = std::fs::read(d.join("w7.myelin")).unwrap();
    assert_eq!(bytes[6] & 2, 2, "narrow-weights flag");
    let preds: Vec<String> = ["reference", "portable", "native"]
        .iter()
        .map(|k| ok_env(&["eval", "w7.myelin", "--json"], d, &[("MYELIN_INT8_KERNELS", k)]))
        .collect();
    assert!(preds.iter().all(|p| *p == preds[0]), "{preds:?}");
    fails(&["quantize", "run/model.myelin", "--weight-bits", "6", "--out", "bad.myelin"], d, "--weight-bits");

    let mut bytes = std::fs::read(d.join("q8.myelin")).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(d.join("broken.myelin"), &bytes).unwrap();
    fails(&["eval", "broken.myelin"], d, "checksum mismatch");
}
