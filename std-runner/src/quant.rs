//! int8 models on the host: post-training quantization of a float model
//! ([`quantize`]), and int8 model files in owned memory ([`Int8Model`]).
//!
//! The scheme is the core's (`myelin_core::quant`, TFLM's for fully connected layers):
//! symmetric int8 weights with one scale per output neuron (or one per layer with
//! `per_tensor`), asymmetric int8 activations whose ranges come from calibration samples,
//! int32 biases at scale `s_in s_w[j]`, Q31 multipliers and shifts; ReLU and identity as
//! output clamps, sigmoid, tanh and leaky ReLU as 256-entry tables; the last layer
//! dequantizes its accumulators to f32.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::io::modelfile::Saved;
use myelin_core::quant::{
    self, quantize_multiplier, I8Backend, Known, LayerMode, QuantDense, QuantInput, QuantLayer, QuantModel,
    MAX_QUANT_INPUTS,
};
use myelin_core::{Activation, Layer, Topology};
use std::path::Path;

/// How activation ranges and weight scales are chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// One weight scale per layer instead of one per output neuron.
    pub per_tensor: bool,
    /// Activation ranges from this percentile of the calibration values (and its mirror
    /// for the low end) instead of min/max; `None` for min/max.
    pub percentile: Option<f64>,
    /// Weights of 7 bits (-63..=63, scale `max |w| / 63`) instead of 8: the file says so
    /// and the AVX2 kernels then multiply bytes with `vpmaddubsw` (exactly), about twice
    /// the multiply-accumulates per instruction of their 16-bit path.
    pub narrow: bool,
}

/// The int8 kernel set `MYELIN_INT8_KERNELS` names (`native`, `vnni`, `avxvnni`, `avx2`,
/// `neon`, `portable`, `reference`; default native, the fastest this CPU runs; `MYELIN_AVX512=off`
/// makes native the fastest without AVX-512: `avxvnni` where the CPU has AVX-VNNI, else
/// `avx2`). Read once at the command line's edge and passed on as a value.
pub fn backend_from_env() -> Result<I8Backend> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut name = var("MYELIN_INT8_KERNELS").unwrap_or_else(|| "native".into());
    if name == "native" && var("MYELIN_AVX512").is_some_and(|v| v.eq_ignore_ascii_case("off")) {
        name = if I8Backend::AvxVnni.runs() { "avxvnni" } else { "avx2" }.into();
    }
    I8Backend::from_name(&name).ok_or_else(|| {
        Error::Usage(format!(
            "MYELIN_INT8_KERNELS={name}: expected native, vnni, avxvnni, avx2, neon, portable or reference, and one this CPU runs \
             (this one runs: {})",
            I8Backend::available().map(I8Backend::name).collect::<Vec<_>>().join(", ")
        ))
    })
}

/// A validated int8 model file in owned, 4-byte-aligned memory (the core reads it in
/// place, as firmware does from flash).
#[derive(Clone, Debug, PartialEq)]
pub struct Int8Model {
    words: Vec<u32>,
    len: usize,
}

impl Int8Model {
    /// Copies `bytes` into aligned memory and checks them as the core does.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Int8Model> {
        let mut words = vec![0u32; bytes.len().div_ceil(4)];
        bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        let m = Int8Model { words, len: bytes.len() };
        quant::parse(m.bytes()).map_err(|source| Error::Model { path: path.into(), source })?;
        Ok(m)
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u32, u8>(&self.words)[..self.len]
    }

    /// The model, borrowed from the bytes.
    pub fn view(&self) -> QuantModel<'_> {
        // INVARIANT: the bytes were checked when this value was made and never change.
        quant::parse(self.bytes()).expect("validated int8 model")
    }

    /// The float topology of the same shape (widths, activations, loss).
    pub fn topology(&self) -> Result<Topology> {
        let m = self.view();
        let layers: Vec<Layer> =
            m.layers().map(|l| Layer::new(l.dense.inputs, l.dense.outputs, l.activation)).collect();
        Topology::new(&layers, m.loss).map_err(Error::core("int8 model topology"))
    }

    /// Outputs (samples, outputs) for raw (unstandardized) features `x`, in chunks of 256.
    pub fn predict(&self, k: I8Backend, x: &[f32], features: usize) -> Result<Vec<f32>> {
        const CHUNK: usize = 256;
        let m = self.view();
        let (fi, fo) = (m.inputs, m.outputs());
        if features != fi || !x.len().is_multiple_of(fi.max(1)) {
            return Err(Error::Shape {
                op: "int8 predict",
                expected: format!("{fi} features"),
                got: features.to_string(),
            });
        }
        let samples = x.len() / fi;
        let mut out = vec![0.0; samples * fo];
        let mut work = vec![0i32; m.work_len(CHUNK).map_err(Error::core("sizing"))?];
        for (xc, oc) in x.chunks(CHUNK * fi).zip(out.chunks_mut(CHUNK * fo)) {
            let n = xc.len() / fi;
            m.predict(k, xc, n, &mut work, oc).map_err(Error::core("int8 predict"))?;
        }
        Ok(out)
    }
}

/// `count` calibration samples drawn without replacement from `pool` (a seeded shuffle,
/// all of them when the pool is smaller).
pub fn calibration_samples(pool: &Dataset, count: usize, seed: u64) -> Dataset {
    let mut order: Vec<usize> = (0..pool.len()).collect();
    let mut rng = myelin_core::Rng::new(seed);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u32 + 1) as usize);
    }
    let take = count.min(pool.len());
    let mut x = Vec::with_capacity(take * pool.features);
    for &i in &order[..take] {
        x.extend_from_slice(pool.row(i));
    }
    Dataset { x, features: pool.features, targets: pool.targets.clone() }
}

/// The vectors of one quantized layer.
struct Owned {
    dense: (usize, usize, i32, i32, i8),
    weights: Vec<i8>,
    bias: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i8>,
    acc_scale: Vec<f32>,
    table: Vec<i8>,
    activation: Activation,
    mode: LayerMode,
    out_scale: f32,
    out_zero: i8,
}

/// `(low, high)` of `v` (min/max, or the percentile and its mirror), widened to hold 0.
fn range(mut v: Vec<f32>, percentile: Option<f64>) -> (f64, f64) {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return (0.0, 1.0);
    }
    let (lo, hi) = match percentile {
        Some(p) => {
            v.sort_by(f32::total_cmp);
            let at = |q: f64| v[((q / 100.0) * (v.len() - 1) as f64).round() as usize];
            (at(100.0 - p), at(p))
        }
        None => v.iter().fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x))),
    };
    let (lo, hi) = ((lo as f64).min(0.0), (hi as f64).max(0.0));
    if hi - lo < 1e-9 {
        (lo, lo + 1e-9)
    } else {
        (lo, hi)
    }
}

/// Scale and zero point mapping `[lo, hi]` onto -128..=127 (`lo <= 0 <= hi`).
fn affine((lo, hi): (f64, f64)) -> (f64, i8) {
    let scale = (hi - lo) / 255.0;
    let zero = (-128.0 - lo / scale).round().clamp(-128.0, 127.0);
    (scale, zero as i8)
}

fn round_i32(v: f64) -> i32 {
    v.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32
}

/// Quantizes `model` with activation ranges from `calib` (samples from the training part,
/// already standardized for the model).
pub fn quantize(model: &Saved, calib: &Dataset, opts: &Options) -> Result<Int8Model> {
    let topo = &model.topology;
    let n0 = topo.inputs();
    if calib.features != n0 || calib.is_empty() {
        return Err(Error::Shape {
            op: "calibrate",
            expected: format!("{n0} features"),
            got: calib.features.to_string(),
        });
    }
    if let Some(p) = opts.percentile {
        if !(50.0..=100.0).contains(&p) {
            return Err(Error::Usage(format!("--percentile {p}: expected 50 to 100")));
        }
    }
    // Input quantizer over the standardized inputs.
    let (s0, z0) = affine(range(calib.x.clone(), opts.percentile));
    let (mean, std): (Vec<f32>, Vec<f32>) = match &model.standardizer {
        Some(s) => (s.mean.clone(), s.std.clone()),
        None => (vec![0.0; n0], vec![1.0; n0]),
    };
    let uniform = mean.iter().all(|&m| m == mean[0]) && std.iter().all(|&s| s == std[0]);
    let (mean, std) = if uniform { (vec![mean[0]], vec![std[0]]) } else { (mean, std) };
    let factor: Vec<f32> = std.iter().map(|&s| (1.0 / (s as f64 * s0)) as f32).collect();

    // Float forward over the calibration samples, layer by layer; each layer quantized
    // with the ranges of its float values.
    let mut x = calib.x.clone();
    let mut quantized = (s0, z0);
    let mut layers = Vec::new();
    for (l, layer) in topo.layers().iter().enumerate() {
        let (n, m) = (layer.inputs, layer.outputs);
        if n > MAX_QUANT_INPUTS {
            return Err(Error::Usage(format!("layer {l}: {n} inputs, int8 layers take at most {MAX_QUANT_INPUTS}")));
        }
        let r = topo.param_range(l).ok_or_else(|| Error::Usage("empty model".into()))?;
        let (w, b) = (&model.params[r.w..r.b], &model.params[r.b..r.end]);
        let mut z = vec![0.0f32; calib.len() * m];
        for (xr, zr) in x.chunks(n).zip(z.chunks_mut(m)) {
            for (j, zj) in zr.iter_mut().enumerate() {
                *zj = b[j] + xr.iter().zip(&w[j * n..(j + 1) * n]).map(|(a, b)| a * b).sum::<f32>();
            }
        }
        let y: Vec<f32> = z.iter().map(|&v| layer.activation.apply(v)).collect();
        let last = l + 1 == topo.layers().len();
        let (owned, next) = quantize_layer(l, layer, w, b, quantized, last, (&z, &y), opts)?;
        layers.push(owned);
        quantized = next;
        x = y;
    }
    let views: Vec<QuantLayer> = layers.iter().map(Owned::view).collect();
    let input = QuantInput { mean: &mean, factor: &factor, zero: z0, scale: s0 as f32 };
    let encode = |source| Error::Model { path: "int8 model".into(), source };
    let mut bytes = vec![0u8; quant::encoded_len(&input, &views).map_err(encode)?];
    quant::write(n0, topo.loss(), &input, &views, &mut bytes).map_err(encode)?;
    Int8Model::from_bytes(&bytes, Path::new("int8 model"))
}

impl Owned {
    fn view(&self) -> QuantLayer<'_> {
        QuantLayer {
            dense: QuantDense {
                inputs: self.dense.0,
                outputs: self.dense.1,
                weights: &self.weights,
                bias: &self.bias,
                multiplier: &self.multiplier,
                shift: &self.shift,
                input_zero: self.dense.2,
                output_zero: self.dense.3,
                min: self.dense.4,
                max: i8::MAX,
                known: Known::of(&self.weights, &self.bias, &self.multiplier, &self.shift),
            },
            activation: self.activation,
            mode: self.mode,
            table: &self.table,
            acc_scale: &self.acc_scale,
            out_scale: self.out_scale,
            out_zero: self.out_zero,
        }
    }
}

/// Layer `l` (weights `w`, bias `b`) with input quantization `(s_in, z_in)` and float
/// calibration values `(z, y)` (pre-activation, activation); returns it with its output
/// quantization.
#[allow(clippy::too_many_arguments)]
fn quantize_layer(
    l: usize,
    layer: &Layer,
    w: &[f32],
    b: &[f32],
    (s_in, z_in): (f64, i8),
    last: bool,
    (z, y): (&[f32], &[f32]),
    opts: &Options,
) -> Result<(Owned, (f64, i8))> {
    let (n, m, act) = (layer.inputs, layer.outputs, layer.activation);
    let absmax = |row: &[f32]| row.iter().fold(0.0f64, |a, &v| a.max(v.abs() as f64));
    let tensor = absmax(w);
    let top = if opts.narrow { Known::NARROW_BOUND } else { i8::MAX } as f64;
    let s_w: Vec<f64> = (0..m)
        .map(|j| {
            let a = if opts.per_tensor { tensor } else { absmax(&w[j * n..(j + 1) * n]) };
            if a > 0.0 {
                a / top
            } else {
                1.0
            }
        })
        .collect();
    let weights: Vec<i8> = (0..m * n).map(|i| (w[i] as f64 / s_w[i / n]).round().clamp(-top, top) as i8).collect();
    let acc: Vec<f64> = s_w.iter().map(|s| s_in * s).collect();
    let bias: Vec<i32> = (0..m).map(|j| round_i32(b[j] as f64 / acc[j])).collect();
    let acc_scale: Vec<f32> = acc.iter().map(|&a| a as f32).collect();
    let mut owned = Owned {
        dense: (n, m, z_in as i32, 0, i8::MIN),
        weights,
        bias,
        multiplier: vec![],
        shift: vec![],
        acc_scale,
        table: vec![],
        activation: act,
        mode: LayerMode::Dequantize,
        out_scale: 0.0,
        out_zero: 0,
    };
    if last {
        return Ok((owned, (0.0, 0)));
    }
    let requant = |s_target: f64| -> Result<(Vec<i32>, Vec<i8>)> {
        acc.iter()
            .map(|&a| {
                quantize_multiplier(a / s_target).map(|(q, e)| (q, e as i8)).ok_or_else(|| {
                    Error::Usage(format!("layer {l}: requantization scale {} out of range", a / s_target))
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(|v| v.into_iter().unzip())
    };
    let (s_out, z_out) = match act {
        Activation::Relu | Activation::Identity => {
            let (s_out, z_out) = affine(range(y.to_vec(), opts.percentile));
            (owned.multiplier, owned.shift) = requant(s_out)?;
            owned.dense.3 = z_out as i32;
            owned.dense.4 = if act == Activation::Relu { z_out } else { i8::MIN };
            owned.mode = LayerMode::Clamp;
            (s_out, z_out)
        }
        Activation::Sigmoid | Activation::Tanh | Activation::LeakyRelu => {
            let (s_pre, z_pre) = affine(range(z.to_vec(), opts.percentile));
            let (s_out, z_out) = match act {
                Activation::Sigmoid => (1.0 / 256.0, -128i8),
                Activation::Tanh => (1.0 / 128.0, 0i8),
                _ => affine(range(y.to_vec(), opts.percentile)),
            };
            (owned.multiplier, owned.shift) = requant(s_pre)?;
            owned.table = (0..256)
                .map(|t| {
                    let real = s_pre * (t - 128 - z_pre as i32) as f64;
                    let v = act.apply(real as f32) as f64;
                    ((v / s_out).round() + z_out as f64).clamp(-128.0, 127.0) as i8
                })
                .collect();
            owned.dense.3 = z_pre as i32;
            owned.mode = LayerMode::Table;
            (s_out, z_out)
        }
        other => return Err(Error::Usage(format!("layer {l}: {other:?} cannot be quantized"))),
    };
    owned.out_scale = s_out as f32;
    owned.out_zero = z_out;
    Ok((owned, (s_out, z_out)))
}
