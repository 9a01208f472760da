//! The `myelin` binary end to end: every command, bad input (exit code, message, no partial
//! files), resume after interruption, early stopping.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn myelin(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_myelin")).args(args).current_dir(dir).output().expect("runs")
}

fn ok(args: &[&str], dir: &Path) -> String {
    let o = myelin(args, dir);
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
    let a = myelin::modelfile::load(&d.join("run/model.myelin")).unwrap();
    let b = myelin::modelfile::load(&d.join("back.myelin")).unwrap();
    assert_eq!(a.params, b.params);
    assert_eq!(a.topo, b.topo);
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
    assert!(out.contains("test accuracy"), "{out}");
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
    assert!(out.contains("test RMSE"), "{out}");
    let e = ok(&["eval", "r/model.myelin", "--data", "csv:r.csv", "--target", "target"], d);
    assert!(e.contains("RMSE"), "{e}");
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

#[test]
fn early_stopping_stops_and_keeps_the_best_epoch() {
    let t = tmp();
    let d = t.path();
    // A large learning rate makes validation loss stop improving quickly.
    let out = ok(&["train", "--out", "es", "--epochs", "200", "--patience", "2", "--hidden", "16", "--lr", "0.05"], d);
    assert!(out.contains("early stop"), "{out}");
    let lines = std::fs::read_to_string(d.join("es/metrics.jsonl")).unwrap().lines().count();
    assert!(lines < 200, "{lines} epochs");
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
