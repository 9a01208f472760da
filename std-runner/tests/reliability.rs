//! Reliability under faults: SIGKILL at random moments (mid-epoch, mid-checkpoint) and
//! resume; divergence detected with a clear message and the last good checkpoint intact.

use myelin::train::checkpoint::Checkpoint;
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

/// Kills `myelin train` at exactly a chosen point inside the second epoch's checkpoint
/// write (half the temporary file written; whole but not yet renamed): the checkpoint on
/// disk is the first epoch's, whole, and resuming ends with the uninterrupted model.
#[test]
#[cfg_attr(not(debug_assertions), ignore = "the pause points exist in debug builds only")]
fn sigkill_inside_a_checkpoint_write_keeps_the_previous_checkpoint() {
    use std::io::BufRead;
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    mnist_shaped(d, 600, 100);
    let data = format!("mnist:{}", d.display());
    let mut args = train_args(&data, "ref");
    args[7] = "3"; // --epochs
    assert!(Command::new(BIN).args(&args).current_dir(d).status().unwrap().success());
    let reference = std::fs::read(d.join("ref/model.myelin")).unwrap();
    for point in ["mid-write", "before-rename"] {
        let out = format!("p-{point}");
        let mut args = train_args(&data, &out);
        args[7] = "3";
        let mut child = Command::new(BIN)
            .args(&args)
            .env("MYELIN_TEST_PAUSE", format!("checkpoint.myelin-ckpt:{point}@2"))
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let paused = std::io::BufReader::new(stderr).lines().map_while(|l| l.ok()).any(|l| l.starts_with("paused at"));
        assert!(paused, "{point}: the run ended without reaching the pause point");
        child.kill().unwrap(); // SIGKILL, at the pause point
        let _ = child.wait();
        let dir = d.join(&out);
        let temps =
            std::fs::read_dir(&dir).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().contains(".tmp"));
        assert!(temps.count() == 1, "{point}: the kill left the half-written temporary file");
        let c = Checkpoint::load(&dir.join("checkpoint.myelin-ckpt")).unwrap_or_else(|e| panic!("{point}: {e}"));
        assert_eq!(c.state.history.len(), 1, "{point}: the checkpoint on disk is the first epoch's");
        let mut args = train_args(&data, &out);
        args[7] = "3";
        args.push("--resume");
        let o = Command::new(BIN).args(&args).current_dir(d).output().unwrap();
        assert!(o.status.success(), "{point}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(std::fs::read(dir.join("model.myelin")).unwrap(), reference, "{point}: resumed model differs");
    }
}

/// Rows of `target = 3a - 2b + hour` for the divergence test.
fn linear_csv(path: &Path) {
    let mut s = String::from("a,b,hour,target\n");
    for i in 0..400 {
        let (a, b) = ((i % 20) as f32 / 10.0 - 1.0, (i / 20) as f32 / 10.0 - 1.0);
        let hour = i % 5;
        s += &format!("{a},{b},{hour},{}\n", 3.0 * a - 2.0 * b + hour as f32);
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn divergence_is_caught_with_a_clear_message_and_the_checkpoint_survives() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    linear_csv(&d.join("r.csv"));
    // Plain SGD a little past its stable step size: a good first epoch, then the weights
    // grow until they overflow.
    let run = |out: &str, epochs: &str| {
        Command::new(BIN)
            .args(["train", "--data", "csv:r.csv", "--target", "target", "--out", out, "--epochs", epochs])
            .args(["--patience", "0", "--hidden", "8", "--activation", "tanh", "--optimizer", "sgd", "--lr", "1"])
            .args(["--batch", "16"])
            .current_dir(d)
            .output()
            .unwrap()
    };
    let o = run("div", "30");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let epoch: usize = err
        .split("training diverged at epoch ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no divergence message: {err}"));
    assert!(epoch >= 2, "diverges after at least one good epoch: {err}");
    assert!(err.contains("loss is") || err.contains("layer"), "names what became non-finite: {err}");
    assert!(err.contains("--clip-norm"), "suggests the remedy: {err}");
    assert!(!d.join("div/model.myelin").exists(), "no model from a diverged run");
    // The diverging run's own checkpoint holds its last good epoch, exactly: the same run
    // stopped there has the same parameters.
    let c = Checkpoint::load(&d.join("div/checkpoint.myelin-ckpt")).unwrap();
    assert_eq!(c.state.history.len(), epoch - 1, "the checkpoint is the last good epoch's");
    assert!(c.params.iter().all(|v| v.is_finite()));
    let good = (epoch - 1).to_string();
    assert!(run("good", &good).status.success());
    let g = Checkpoint::load(&d.join("good/checkpoint.myelin-ckpt")).unwrap();
    assert!(g.params == c.params, "the diverged run's checkpoint is not its last good state");
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
}
