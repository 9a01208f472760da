//! The firmware and the host agree bit for bit: the digits model exported by `myelin`, run on
//! the same 360 digits through the core's portable kernels on the host, gives the same
//! predictions and the same output bits as the Cortex-M4F (hard-float, `vmla` kernels) and
//! the Cortex-M3 (soft-float) in QEMU. The x86 SIMD path fuses
//! multiply-adds and reorders sums, so it is compared within a tolerance (largest difference
//! printed).

use myelin_core::kernels::{Portable, Simd};
use myelin_core::{argmax, format, Kernels};
use myelin_tests::{fnv1a, root, FNV_START};
use std::process::Command;

struct HostRun {
    correct: usize,
    hash: u32,
    outputs: Vec<f32>,
}

fn host<K: Kernels>(k: &K) -> HostRun {
    host_model(k, "digits.myelin")
}

/// The 360 test digits through `model` (a file in embedded-demo/models) on the host.
fn host_model<K: Kernels>(k: &K, model: &str) -> HostRun {
    let dir = root().join("embedded-demo/models");
    let bytes = std::fs::read(dir.join(model)).unwrap();
    let test = std::fs::read(dir.join("digits-test.bin")).unwrap();
    let mut scratch = vec![0.0; bytes.len() / 4];
    let m = format::parse(&bytes, &mut scratch).unwrap();
    let std = m.standardizer.unwrap();
    let mut work = vec![0.0; m.topology.inference_len(1).unwrap()];
    let (mut correct, mut hash, mut outputs) = (0, FNV_START, vec![]);
    for s in test.chunks_exact(65) {
        let mut x: Vec<f32> = s[..64].iter().map(|&p| p as f32).collect();
        std.apply(&mut x);
        let y = m.topology.predict(k, m.params, &x, 1, &mut work).unwrap();
        hash = fnv1a(hash, y);
        correct += (argmax(y) == s[64] as usize) as usize;
        outputs.extend_from_slice(y);
    }
    HostRun { correct, hash, outputs }
}

fn qemu_available() -> bool {
    let ok = Command::new("qemu-system-arm").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok && (std::env::var_os("MYELIN_REQUIRE_QEMU").is_some() || std::env::var_os("CI").is_some()) {
        panic!("qemu-system-arm is required when CI or MYELIN_REQUIRE_QEMU is set (scripts/setup installs it)");
    }
    ok
}

#[test]
fn firmware_outputs_are_bit_identical_to_the_host() {
    let portable = host(&Portable);
    let simd = host(&Simd::default());
    let worst = portable.outputs.iter().zip(&simd.outputs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    println!(
        "host portable: {} / 360 correct, fnv1a {:#010x}; SIMD path: {} correct, max |diff| to portable {worst:e}",
        portable.correct, portable.hash, simd.correct
    );
    assert!(worst < 1e-5);
    if !qemu_available() {
        eprintln!("SKIPPED: qemu-system-arm not found; the firmware side was not run");
        return;
    }
    check_firmware(&portable, &[]);
}

/// `cargo run --release` of the firmware crate for `target` with `args` (in QEMU, its
/// runner): whether it succeeded, and its output.
fn run_firmware(target: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new("cargo")
        .args(["run", "--release", "--quiet", "--target", target])
        .args(args)
        .current_dir(root().join("embedded-demo"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
}

/// The on-target kernel check (float kernels and every int8 kernel set against the
/// reference, bit for bit) passes on the M4F and the M3.
#[test]
fn the_kernels_match_the_reference_on_both_cores() {
    if !qemu_available() {
        eprintln!("SKIPPED: qemu-system-arm not found; the firmware side was not run");
        return;
    }
    for target in ["thumbv7em-none-eabihf", "thumbv7m-none-eabi"] {
        let (ok, out) = run_firmware(target, &["--bin", "kernel-check"]);
        assert!(ok && out.contains("int8 kernel check") && out.contains("PASS"), "{target}:\n{out}");
        println!("{target}: {}", out.lines().filter(|l| l.contains("check:")).collect::<Vec<_>>().join("; "));
    }
}

/// Runs the digits firmware (with `features`) on the M4F and the M3 and checks it reports
/// the host's accuracy and output bits.
fn check_firmware(host: &HostRun, features: &[&str]) {
    check_firmware_bin(host, features, "")
}

/// [`check_firmware`] for binary `bin` of the firmware crate (`""`: the default one).
fn check_firmware_bin(host: &HostRun, features: &[&str], bin: &str) {
    // One firmware build at a time: both tests build the same binary name with different
    // features, and a concurrent build would replace it between building and running.
    static FIRMWARE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = FIRMWARE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let want_acc = format!("{} correct", host.correct);
    let want_hash = format!("outputs fnv1a {:#010x}", host.hash);
    for target in ["thumbv7em-none-eabihf", "thumbv7m-none-eabi"] {
        let bin: &[&str] = if bin.is_empty() { &[] } else { &["--bin", bin] };
        let (ok, out) = run_firmware(target, &[bin, features].concat());
        assert!(ok, "firmware ({target} {features:?}) failed:\n{out}");
        assert!(out.contains(&want_acc), "{target}: accuracy differs from the host ({want_acc}):\n{out}");
        assert!(out.contains(&want_hash), "{target}: output bits differ from the host ({want_hash}):\n{out}");
        println!("{target} {features:?}: same predictions and output bits as the host");
    }
}

/// A model trained by PyTorch and exported to ONNX runs in the firmware unchanged: the
/// committed firmware files are exactly what `myelin import` and `myelin export --rust`
/// make of tests/fixtures/onnx/digits_torch.onnx, and the digits demo built with them
/// (`--features onnx-model`) gives the host's predictions and output bits on both cores.
#[test]
fn a_model_imported_from_onnx_runs_in_the_firmware_unchanged() {
    let onnx = std::fs::read(root().join("tests/fixtures/onnx/digits_torch.onnx")).unwrap();
    let m = myelin::io::onnx::import(&onnx).unwrap();
    let encoded = myelin::io::modelfile::encode(&m.topology, &m.params, m.standardizer.as_ref()).unwrap();
    let committed = std::fs::read(root().join("embedded-demo/models/digits-onnx.myelin")).unwrap();
    assert!(encoded == committed, "embedded-demo/models/digits-onnx.myelin is stale: run embedded-demo/make-assets");
    let consts = std::fs::read_to_string(root().join("embedded-demo/models/digits-onnx.rs")).unwrap();
    let generated = myelin::io::rust_consts::source(&m.topology, true, "digits-onnx.myelin");
    let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&consts), body(&generated), "embedded-demo/models/digits-onnx.rs is stale");
    let run = host_model(&Portable, "digits-onnx.myelin");
    println!("host portable, imported model: {} / 360 correct, fnv1a {:#010x}", run.correct, run.hash);
    assert!(run.correct * 100 >= 90 * 360, "{} correct", run.correct);
    if !qemu_available() {
        eprintln!("SKIPPED: qemu-system-arm not found; the firmware side was not run");
        return;
    }
    check_firmware(&run, &["--features", "onnx-model"]);
}

/// The firmware's int8 networks compiled in: the Rust files `myelin export --rust` writes
/// (statics checked by `QuantNet::new` when this test is built).
#[allow(dead_code)]
mod compiled {
    pub mod digits {
        include!("../../embedded-demo/models/digits-int8.rs");
    }
    pub mod sine {
        include!("../../embedded-demo/models/sine-int8.rs");
    }
}

/// The committed int8 Rust files are what `myelin export --rust` writes of the committed
/// int8 model files, and their networks (`NET`) give the files' output bits on every int8
/// kernel set the host runs: the digits test set, and the sine network over its interval.
#[test]
fn compiled_in_int8_networks_are_their_files() {
    use myelin_core::quant::{I8Backend, QuantNet};
    let dir = root().join("embedded-demo/models");
    let test = std::fs::read(dir.join("digits-test.bin")).unwrap();
    let digits: Vec<f32> = test.chunks_exact(65).flat_map(|s| s[..64].iter().map(|&p| p as f32)).collect();
    let points: Vec<f32> = (0..1000).map(|i| i as f32 * 0.00629).collect();
    let cases: [(&str, &QuantNet<'static>, &[f32]); 2] =
        [("digits-int8", &compiled::digits::NET, &digits), ("sine-int8", &compiled::sine::NET, &points)];
    for (name, net, x) in cases {
        let path = dir.join(format!("{name}.myelin"));
        let bytes = std::fs::read(&path).unwrap();
        let model = myelin::quant::Int8Model::from_bytes(&bytes, &path).unwrap();
        let float = myelin::io::modelfile::load(&path).unwrap();
        let source = std::fs::read_to_string(dir.join(format!("{name}.rs"))).unwrap();
        let generated = myelin::io::rust_consts::source_int8(&float.topology, &model.view(), bytes.len(), name);
        let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
        assert!(
            body(&source) == body(&generated),
            "embedded-demo/models/{name}.rs is stale: run embedded-demo/make-assets"
        );
        let m = model.view();
        let batch = x.len() / m.inputs;
        let mut work = vec![0i32; m.work_len(batch).unwrap()];
        for k in I8Backend::available() {
            let (mut a, mut b) = (vec![0.0f32; batch * m.outputs()], vec![0.0f32; batch * m.outputs()]);
            net.predict(k, x, batch, &mut work, &mut a).unwrap();
            m.predict(k, x, batch, &mut work, &mut b).unwrap();
            assert!(a.iter().zip(&b).all(|(a, b)| a.to_bits() == b.to_bits()), "{name} on {}: NET differs", k.name());
        }
        println!("{name}: NET gives the file's bits on every int8 kernel set ({batch} samples)");
    }
}

/// The int8 digits model gives the same outputs, bit for bit, on every int8 kernel set the
/// host runs (reference, portable, AVX2, VNNI) and on the Cortex-M4F (`SMLAD`) and the
/// Cortex-M3 (Thumb-2 integer loop) in QEMU, from its file and compiled in (the firmware
/// fails when the two differ); and the committed int8 model is exactly what `myelin
/// quantize` makes of the committed float model.
#[test]
fn int8_firmware_outputs_are_bit_identical_to_the_host() {
    use myelin_core::quant::{self, I8Backend};
    let dir = root().join("embedded-demo/models");
    let bytes = std::fs::read(dir.join("digits-int8.myelin")).unwrap();
    let model = myelin::quant::Int8Model::from_bytes(&bytes, &dir.join("digits-int8.myelin")).unwrap();
    let test = std::fs::read(dir.join("digits-test.bin")).unwrap();
    let m = model.view();
    let x: Vec<f32> = test.chunks_exact(65).flat_map(|s| s[..64].iter().map(|&p| p as f32)).collect();
    let labels: Vec<usize> = test.chunks_exact(65).map(|s| s[64] as usize).collect();
    let mut runs = vec![];
    for k in I8Backend::available() {
        // One sample at a time, as the firmware runs, and the whole set as one batch.
        let mut work = vec![0i32; m.work_len(1).unwrap()];
        let mut one = vec![0.0f32; labels.len() * 10];
        for (xs, ys) in x.chunks(64).zip(one.chunks_mut(10)) {
            m.predict(k, xs, 1, &mut work, ys).unwrap();
        }
        let batch = model.predict(k, &x, 64).unwrap();
        assert!(one.iter().zip(&batch).all(|(a, b)| a.to_bits() == b.to_bits()), "{}: batch differs", k.name());
        let hash = one.chunks(10).fold(FNV_START, fnv1a);
        let correct = one.chunks(10).zip(&labels).filter(|(y, &l)| argmax(y) == l).count();
        println!("host int8 {}: {correct} / 360 correct, fnv1a {hash:#010x}", k.name());
        runs.push((k.name(), correct, hash, one));
    }
    let (_, correct, hash, outputs) = runs[0].clone();
    for (name, c, h, _) in &runs {
        assert_eq!((*c, *h), (correct, hash), "{name} differs from the reference");
    }
    assert!(correct * 100 >= 95 * 360, "{correct} correct");
    // The committed int8 model is what `myelin quantize` (1,000 calibration digits of the
    // training part, seed 0, per-channel weights, min/max ranges) makes of the float one.
    let float = myelin::io::modelfile::load(&dir.join("digits.myelin")).unwrap();
    let source = myelin::data::source::Source::Digits;
    let pool = myelin::data::inputs::train_set(&float, &source).unwrap();
    let calib = myelin::quant::calibration_samples(&pool, 1000, 0);
    let opts = myelin::quant::Options { per_tensor: false, percentile: None, narrow: false };
    let again = myelin::quant::quantize(&float, &calib, &opts).unwrap();
    assert!(
        again.bytes() == bytes.as_slice(),
        "embedded-demo/models/digits-int8.myelin is stale: run embedded-demo/make-assets"
    );
    let _ = (outputs, quant::VERSION);
    if !qemu_available() {
        eprintln!("SKIPPED: qemu-system-arm not found; the firmware side was not run");
        return;
    }
    check_firmware_bin(&HostRun { correct, hash, outputs: vec![] }, &[], "int8");
}
