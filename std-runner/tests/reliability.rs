//! Reliability under faults: SIGKILL at random moments (mid-epoch, mid-checkpoint) and
//! resume; divergence detected with a clear message and the last good checkpoint intact.

use myelin::checkpoint::Checkpoint;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_myelin");

/// Writes a small MNIST-shaped IDX set (28x28 images, 10 classes) into `dir`.
fn mnist_shaped(dir: &Path, train: usize, test: usize) {
    let mut r = myelin_core::Rng::new(11);
    for (stem, n) in [("train", train), ("t10k", test)] {
        let mut img = vec![0, 0, 8, 3];
        for v in [n as u32, 28, 28] {
            img.extend_from_slice(&v.to_be_bytes());
        }
        let mut lab = vec![0, 0, 8, 1];
        lab.extend_from_slice(&(n as u32).to_be_bytes());
        for _ in 0..n {
            let c = r.below(10) as usize;
            // A class-dependent blob plus noise, so there is something to learn.
            for p in 0..784 {
                let (y, x) = (p / 28, p % 28);
                let on = (y / 9 == c % 3) && (x / 9 == c / 3 % 3);
                img.push(if on { 200 } else { (r.below(60)) as u8 });
            }
            lab.push(c as u8);
        }
        std::fs::write(dir.join(format!("{stem}-images-idx3-ubyte")), img).unwrap();
        std::fs::write(dir.join(format!("{stem}-labels-idx1-ubyte")), lab).unwrap();
    }
}

fn train_args<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "-q",
        "--data",
        data,
        "--out",
        out,
        "--epochs",
        "8",
        "--hidden",
        "32",
        "--patience",
        "0",
        "--batch",
        "64",
        "--dropout",
        "0.1",
    ]
}

#[test]
fn sigkill_at_random_moments_then_resume_gives_the_uninterrupted_model() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    mnist_shaped(d, 1500, 200);
    let data = format!("mnist:{}", d.display());
    let t0 = Instant::now();
    let ok = Command::new(BIN).args(train_args(&data, "ref")).current_dir(d).status().unwrap();
    assert!(ok.success());
    let full = t0.elapsed();
    let reference = std::fs::read(d.join("ref/model.myelin")).unwrap();

    let mut rng = myelin_core::Rng::new(2026);
    let (mut verified, mut killed_with_ckpt, mut killed_before_ckpt) = (0, 0, 0);
    let trials = 24;
    for trial in 0..trials {
        let out = format!("t{trial}");
        let mut child =
            Command::new(BIN).args(train_args(&data, &out)).current_dir(d).stdout(Stdio::null()).spawn().unwrap();
        // Anywhere from start-up to the end of the run.
        let wait = full.mul_f32(rng.uniform() * 1.05);
        std::thread::sleep(wait);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let dir = d.join(&out);
        let ckpt = dir.join("checkpoint.myelin-ckpt");
        if ckpt.exists() {
            // Whatever moment the kill hit, the checkpoint on disk is complete and valid.
            let c = Checkpoint::load(&ckpt).unwrap_or_else(|e| panic!("trial {trial}: corrupt checkpoint: {e}"));
            let lines = std::fs::read_to_string(dir.join("metrics.jsonl")).map(|s| s.lines().count()).unwrap_or(0);
            assert!(c.state.history.len() + 1 >= lines, "trial {trial}: more than one epoch of work lost");
            killed_with_ckpt += 1;
        } else {
            killed_before_ckpt += 1;
        }
        if dir.join("model.myelin").exists() {
            // The run had finished: the final model must be whole.
            assert_eq!(std::fs::read(dir.join("model.myelin")).unwrap(), reference, "trial {trial}");
        }
        let mut args = train_args(&data, &out);
        if ckpt.exists() {
            args.push("--resume");
        }
        let o = Command::new(BIN).args(&args).current_dir(d).output().unwrap();
        assert!(o.status.success(), "trial {trial}: resume failed: {}", String::from_utf8_lossy(&o.stderr));
        let got = std::fs::read(dir.join("model.myelin")).unwrap();
        assert_eq!(got, reference, "trial {trial} (killed after {wait:?}): resumed model differs");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "trial {trial}: temporary files left behind");
        verified += 1;
    }
    println!(
        "{verified}/{trials} kill trials resumed to the bit-identical model ({killed_with_ckpt} killed after a checkpoint, {killed_before_ckpt} before the first); uninterrupted run {full:?}"
    );
    assert_eq!(verified, trials);
    assert!(killed_with_ckpt >= 5 && killed_before_ckpt >= 1, "kills must land at varied points");
}

#[test]
fn divergence_is_caught_with_a_clear_message_and_the_checkpoint_survives() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // Two good epochs first, then an absurd learning rate on the same run.
    let st = Command::new(BIN)
        .args(["train", "-q", "--out", "run", "--epochs", "2", "--hidden", "16", "--optimizer", "sgd", "--lr", "0.05"])
        .current_dir(d)
        .status()
        .unwrap();
    assert!(st.success());
    let o = Command::new(BIN)
        .args([
            "train",
            "--out",
            "div",
            "--epochs",
            "3",
            "--hidden",
            "16",
            "--optimizer",
            "sgd",
            "--lr",
            "1e30",
            "--no-standardize",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("training diverged at epoch 1, step"), "{err}");
    assert!(err.contains("layer"), "names the layer: {err}");
    assert!(err.contains("--clip-norm"), "suggests the remedy: {err}");
    assert!(!d.join("div/model.myelin").exists(), "no model from a diverged run");
    // Clipping is the remedy: the same absurd step size no longer blows up on the first step.
    let o = Command::new(BIN)
        .args([
            "train",
            "-q",
            "--out",
            "clip",
            "--epochs",
            "1",
            "--hidden",
            "16",
            "--optimizer",
            "sgd",
            "--lr",
            "1e30",
            "--clip-norm",
            "1e-30",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The good run's checkpoint is untouched and valid.
    assert!(Checkpoint::load(&d.join("run/checkpoint.myelin-ckpt")).is_ok());
}
