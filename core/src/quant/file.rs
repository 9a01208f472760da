//! Version 2 of the model file: an int8 network in the same container as version 1 (magic,
//! little-endian fields, every section 4-byte aligned, CRC-32 last), read in place. The
//! specification is `docs/model-format.md`; in short:
//!
//! ```text
//! offset  size  field
//!  0      4     magic "MYLN"
//!  4      2     format version (u16) = 2
//!  6      2     flags (u16): bit 0 = one input quantizer for every feature; bit 1 = every
//!               weight in -63..=63; other bits 0
//!  8      4     header length H (u32) = 32 + 12 * layers
//! 12      4     data length D (u32): bytes between the header and the CRC
//! 16      1     layers L (1..=8)
//! 17      1     loss code
//! 18      1     input zero point (i8)
//! 19      1     reserved, 0
//! 20      4     inputs (u32)
//! 24      4     input scale s_0 (f32)
//! 28      4     reserved, 0
//! 32      12*L  per layer: outputs (u32), activation code (u8), mode (u8: 0 clamp, 1 table,
//!               2 dequantize), pre-activation zero point (i8, table mode), output zero
//!               point (i8), output scale (f32)
//!  H      8*K   input quantizer: offsets[K] then factors[K] (f32), K = 1 (flag 0) or inputs
//!  then per layer (n inputs, m outputs):
//!         m*n   weights (i8, row-major), zero bytes up to a multiple of 4
//!         4*m   bias (i32)
//!         4*m   accumulator scale s_in s_w[j] (f32)
//!         4*m   multiplier (i32)                 \  clamp and table modes
//!         m     shift (i8), zero bytes to 4      /
//!         256   table (i8)                          table mode
//!  H+D    4     CRC-32 of every byte before it
//! ```
//!
//! Checked in order: magic, length, CRC, version, flags and reserved bytes, the header and
//! layer table (a valid topology, every mode allowed for its layer), the exact length, then
//! every value (weights -127..=127, or -63..=63 under flag bit 1, multipliers 0 or in [2^30, 2^31), shifts -31..=31,
//! scales finite, padding zero) before any is used.

use super::model::{LayerMode, QuantInput, QuantLayer, QuantModel};
use super::{Known, QuantDense, MAX_QUANT_INPUTS};
use crate::activation::Activation;
use crate::error::{FormatError, QuantField};
use crate::format::{crc32, put, u16_at, u32_at, u8_at, MAGIC};
use crate::loss::Loss;
use crate::topology::{Layer, Topology, MAX_LAYERS};

/// The version number of int8 model files.
pub const VERSION: u16 = 2;
/// Flag bit 0: one input quantizer (offset, factor) for every feature.
pub const FLAG_UNIFORM_INPUT: u16 = 1;
/// Flag bit 1: every weight of every layer in -63..=63 ([`super::Known`]).
pub const FLAG_NARROW_WEIGHTS: u16 = 2;
const FIXED: usize = 32;
const ENTRY: usize = 12;

const fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

fn bad(layer: usize, field: QuantField, index: usize) -> FormatError {
    FormatError::QuantValue { layer, field, index }
}

/// Bytes of one layer's data section.
fn layer_bytes(n: usize, m: usize, mode: LayerMode) -> Option<usize> {
    let w = pad4(n.checked_mul(m)?);
    let words = m.checked_mul(8)?;
    let requant = if mode == LayerMode::Dequantize { 0 } else { m.checked_mul(4)?.checked_add(pad4(m))? };
    let table = if mode == LayerMode::Table { 256 } else { 0 };
    w.checked_add(words)?.checked_add(requant)?.checked_add(table)
}

/// One layer-table entry as stored.
#[derive(Clone, Copy)]
struct Entry {
    outputs: usize,
    activation: Activation,
    mode: LayerMode,
    pre_zero: i8,
    out_zero: i8,
    out_scale: f32,
}

/// Entry `i` of the layer table (codes checked, values not yet).
fn entry(bytes: &[u8], i: usize) -> Result<Entry, FormatError> {
    let at = FIXED + ENTRY * i;
    let code = u8_at(bytes, at + 4);
    Ok(Entry {
        outputs: u32_at(bytes, at) as usize,
        activation: Activation::from_code(code).ok_or(FormatError::UnknownActivation { layer: i, code })?,
        mode: LayerMode::from_code(u8_at(bytes, at + 5)).ok_or(bad(i, QuantField::Mode, 0))?,
        pre_zero: u8_at(bytes, at + 6) as i8,
        out_zero: u8_at(bytes, at + 7) as i8,
        out_scale: f32::from_bits(u32_at(bytes, at + 8)),
    })
}

/// Parses an int8 model file in place: `bytes` must start at a 4-byte-aligned address on a
/// little-endian target ([`FormatError::NotInPlace`] otherwise; `include_model!` aligns).
pub fn parse(bytes: &[u8]) -> Result<QuantModel<'_>, FormatError> {
    let flags = envelope(bytes)?;
    let count = u8_at(bytes, 16) as usize;
    if count == 0 || count > MAX_LAYERS {
        return Err(FormatError::LayerCount { got: count, max: MAX_LAYERS });
    }
    let header = FIXED + ENTRY * count;
    let stored_header = u32_at(bytes, 8) as usize;
    if stored_header != header {
        return Err(FormatError::HeaderLength { expected: header, got: stored_header });
    }
    if bytes.len() < header + 4 {
        return Err(FormatError::Truncated { needed: header + 4, got: bytes.len() });
    }
    let loss_code = u8_at(bytes, 17);
    let loss = Loss::from_code(loss_code).ok_or(FormatError::UnknownLoss { code: loss_code })?;
    let input_zero = u8_at(bytes, 18) as i8;
    let inputs = u32_at(bytes, 20) as usize;
    let input_scale = f32::from_bits(u32_at(bytes, 24));
    if u8_at(bytes, 19) != 0 || u32_at(bytes, 28) != 0 {
        return Err(FormatError::Reserved);
    }
    if !(input_scale.is_finite() && input_scale > 0.0) {
        return Err(bad(0, QuantField::Input, 0));
    }
    let uniform = flags & FLAG_UNIFORM_INPUT != 0;
    // One input has one encoding: one quantizer, flagged uniform (as `write` sets it), so a
    // parsed file re-encodes to its own bytes.
    if inputs == 1 && !uniform {
        return Err(bad(0, QuantField::Input, 3));
    }
    let k = if uniform { 1 } else { inputs };
    let (shape, data) = table(bytes, count, inputs, loss, k)?;
    let shape = shape.get(..count).ok_or(FormatError::InvalidTopology)?;
    let stored = u32_at(bytes, 12) as usize;
    if stored != data {
        return Err(FormatError::ParamCount { expected: data, got: stored });
    }
    let expected = header.checked_add(data).and_then(|v| v.checked_add(4)).ok_or(FormatError::InvalidTopology)?;
    if bytes.len() != expected {
        return Err(FormatError::Length { expected, got: bytes.len() });
    }
    if !cfg!(target_endian = "little") || !(bytes.as_ptr() as usize).is_multiple_of(4) {
        return Err(FormatError::NotInPlace);
    }
    // Values, section by section.
    let mut cur = Cursor { bytes, at: header };
    let mean = cur.f32s(k)?;
    let factor = cur.f32s(k)?;
    if mean.iter().any(|v| !v.is_finite()) {
        return Err(bad(0, QuantField::Input, 1));
    }
    if factor.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(bad(0, QuantField::Input, 2));
    }
    let input = QuantInput { mean, factor, zero: input_zero, scale: input_scale };
    let bound = if flags & FLAG_NARROW_WEIGHTS != 0 { Known::NARROW_BOUND } else { i8::MAX };
    let (offsets, right_shifts, bounded) = values(bytes, &mut cur, shape, bound)?;
    let outputs = shape.last().map_or(0, |l| l.outputs);
    let widest = shape.iter().fold(inputs, |w, l| w.max(l.outputs));
    Ok(QuantModel { inputs, loss, input, bytes, offsets, right_shifts, bounded, count, outputs, widest })
}

/// Every layer's values checked in file order; returns where each layer's data starts and
/// which layers requantize with right shifts only (bit `l`, [`Known`]).
fn values(
    bytes: &[u8],
    cur: &mut Cursor<'_>,
    shape: &[Layer],
    bound: i8,
) -> Result<([u32; MAX_LAYERS], u8, u8), FormatError> {
    let mut offsets = [0u32; MAX_LAYERS];
    let (mut right, mut bounded) = (0u8, 0u8);
    for (i, (l, offset)) in shape.iter().zip(offsets.iter_mut()).enumerate() {
        let (n, m) = (l.inputs, l.outputs);
        let e = entry(bytes, i)?;
        *offset = u32::try_from(cur.at).map_err(|_| FormatError::TooLarge)?;
        let weights = cur.i8s(n * m, i)?;
        if let Some(at) = weights.iter().position(|&w| !(-bound..=bound).contains(&w)) {
            return Err(bad(i, QuantField::Weight, at));
        }
        let bias = cur.i32s(m)?;
        let acc_scale = cur.f32s(m)?;
        if let Some(at) = acc_scale.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(bad(i, QuantField::Scale, at));
        }
        if e.mode != LayerMode::Dequantize {
            let mult = cur.i32s(m)?;
            if let Some(at) = mult.iter().position(|&v| v != 0 && v < 1 << 30) {
                return Err(bad(i, QuantField::Multiplier, at));
            }
            let shift = cur.i8s(m, i)?;
            if let Some(at) = shift.iter().position(|&v| !(-31..=31).contains(&v)) {
                return Err(bad(i, QuantField::Shift, at));
            }
            if super::right_shifts(mult, shift) {
                right |= 1 << i;
                if super::bounded(weights, bias) {
                    bounded |= 1 << i;
                }
            }
        }
        if e.mode == LayerMode::Dequantize {
            // No requantization: nothing but right shifts, vacuously (as `Known::of`).
            right |= 1 << i;
        }
        if e.mode == LayerMode::Table {
            cur.i8s(256, i)?;
        }
    }
    Ok((offsets, right, bounded))
}

/// The layer table checked entry by entry, then the topology rules (the float topology's
/// checks); returns the layer shapes and the data length they imply.
fn table(
    bytes: &[u8],
    count: usize,
    inputs: usize,
    loss: Loss,
    k: usize,
) -> Result<([Layer; MAX_LAYERS], usize), FormatError> {
    let mut shape = [Layer::new(0, 0, Activation::Identity); MAX_LAYERS];
    let mut data = k.checked_mul(8).ok_or(FormatError::InvalidTopology)?;
    let mut prev = inputs;
    for (i, layer) in shape.iter_mut().take(count).enumerate() {
        let e = entry(bytes, i)?;
        check_entry(&e, i, i + 1 == count)?;
        if prev > MAX_QUANT_INPUTS {
            return Err(FormatError::InvalidTopology);
        }
        *layer = Layer::new(prev, e.outputs, e.activation);
        let b = layer_bytes(prev, e.outputs, e.mode).ok_or(FormatError::InvalidTopology)?;
        data = data.checked_add(b).ok_or(FormatError::InvalidTopology)?;
        prev = e.outputs;
    }
    Topology::new(shape.get(..count).ok_or(FormatError::InvalidTopology)?, loss)
        .map_err(|_| FormatError::InvalidTopology)?;
    Ok((shape, data))
}

/// A layer's mode against its position and activation, and its scale and zero points.
fn check_entry(e: &Entry, i: usize, last: bool) -> Result<(), FormatError> {
    if !super::net::mode_allowed(e.mode, e.activation, last) {
        return Err(bad(i, QuantField::Mode, 0));
    }
    if e.mode == LayerMode::Dequantize {
        if (e.pre_zero, e.out_zero, e.out_scale.to_bits()) != (0, 0, 0) {
            return Err(bad(i, QuantField::ZeroPoint, 0));
        }
    } else {
        if !(e.out_scale.is_finite() && e.out_scale > 0.0) {
            return Err(bad(i, QuantField::Scale, 0));
        }
        if e.mode == LayerMode::Clamp && e.pre_zero != 0 {
            return Err(bad(i, QuantField::ZeroPoint, 0));
        }
    }
    Ok(())
}

/// Layer `i` of a parsed file whose data starts at `at` (every value already checked).
pub(super) fn layer_at(
    bytes: &[u8],
    i: usize,
    at: usize,
    inputs: usize,
    input_zero: i8,
    right_shifts: bool,
    bounded: bool,
) -> Option<QuantLayer<'_>> {
    let e = entry(bytes, i).ok()?;
    let (n, zero) = match i.checked_sub(1) {
        Some(p) => {
            let before = entry(bytes, p).ok()?;
            (before.outputs, before.out_zero)
        }
        None => (inputs, input_zero),
    };
    let m = e.outputs;
    let mut cur = Cursor { bytes, at };
    let weights = cur.i8s(n.checked_mul(m)?, i).ok()?;
    let bias = cur.i32s(m).ok()?;
    let acc_scale = cur.f32s(m).ok()?;
    let (multiplier, shift): (&[i32], &[i8]) =
        if e.mode == LayerMode::Dequantize { (&[], &[]) } else { (cur.i32s(m).ok()?, cur.i8s(m, i).ok()?) };
    let table = if e.mode == LayerMode::Table { cur.i8s(256, i).ok()? } else { &[] };
    let (output_zero, min) = match (e.mode, e.activation) {
        (LayerMode::Table, _) => (e.pre_zero, i8::MIN),
        (_, Activation::Relu) => (e.out_zero, e.out_zero),
        _ => (e.out_zero, i8::MIN),
    };
    let dense = QuantDense {
        inputs: n,
        outputs: m,
        weights,
        bias,
        multiplier,
        shift,
        input_zero: zero as i32,
        output_zero: output_zero as i32,
        min,
        max: i8::MAX,
        // The parser checked every weight against the flag's bound, and every shift and
        // multiplier, before any layer is read.
        known: Known::checked(u16_at(bytes, 6) & FLAG_NARROW_WEIGHTS != 0, right_shifts, bounded),
    };
    Some(QuantLayer {
        dense,
        activation: e.activation,
        mode: e.mode,
        table,
        acc_scale,
        out_scale: e.out_scale,
        out_zero: e.out_zero,
    })
}

/// Sections read in order, each 4-byte aligned, padding checked to be zero.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], FormatError> {
        let end = self.at.checked_add(len).ok_or(FormatError::InvalidTopology)?;
        let got = self.bytes.len();
        let part = self.bytes.get(self.at..end).ok_or(FormatError::Truncated { needed: end, got })?;
        self.at = end;
        Ok(part)
    }

    fn i8s(&mut self, len: usize, layer: usize) -> Result<&'a [i8], FormatError> {
        let part = self.take(len)?;
        let pad = self.take(pad4(len) - len)?;
        if pad.iter().any(|&b| b != 0) {
            return Err(bad(layer, QuantField::Padding, 0));
        }
        Ok(bytemuck::cast_slice(part))
    }

    fn i32s(&mut self, len: usize) -> Result<&'a [i32], FormatError> {
        let part = self.take(len.checked_mul(4).ok_or(FormatError::InvalidTopology)?)?;
        bytemuck::try_cast_slice(part).map_err(|_| FormatError::NotInPlace)
    }

    fn f32s(&mut self, len: usize) -> Result<&'a [f32], FormatError> {
        let part = self.take(len.checked_mul(4).ok_or(FormatError::InvalidTopology)?)?;
        bytemuck::try_cast_slice(part).map_err(|_| FormatError::NotInPlace)
    }
}

/// Magic, length, CRC, version, flags; returns the flags.
fn envelope(bytes: &[u8]) -> Result<u16, FormatError> {
    let min = FIXED + ENTRY + 4;
    match bytes.get(..4) {
        Some(m) if m == MAGIC => {}
        None if MAGIC.starts_with(bytes) => return Err(FormatError::Truncated { needed: min, got: bytes.len() }),
        _ => return Err(FormatError::BadMagic),
    }
    if bytes.len() < min {
        return Err(FormatError::Truncated { needed: min, got: bytes.len() });
    }
    let body = bytes.len() - 4;
    let stored = u32_at(bytes, body);
    let computed = crc32(bytes.get(..body).unwrap_or(&[]));
    if stored != computed {
        return Err(FormatError::ChecksumMismatch { stored, computed });
    }
    let version = u16_at(bytes, 4);
    if version != VERSION {
        return Err(FormatError::UnsupportedVersion { got: version, supported: VERSION });
    }
    let flags = u16_at(bytes, 6);
    if flags & !(FLAG_UNIFORM_INPUT | FLAG_NARROW_WEIGHTS) != 0 {
        return Err(FormatError::Reserved);
    }
    Ok(flags)
}

/// File length of a model with input quantizer `input` and `layers`.
pub fn encoded_len(input: &QuantInput<'_>, layers: &[QuantLayer<'_>]) -> Result<usize, FormatError> {
    let mut len = (FIXED + ENTRY * layers.len() + 4)
        .checked_add(input.mean.len().checked_mul(8).ok_or(FormatError::TooLarge)?)
        .ok_or(FormatError::TooLarge)?;
    for l in layers {
        let b = layer_bytes(l.dense.inputs, l.dense.outputs, l.mode).ok_or(FormatError::TooLarge)?;
        len = len.checked_add(b).ok_or(FormatError::TooLarge)?;
    }
    Ok(len)
}

/// Writes a version 2 file of `inputs` features, `loss`, the input quantizer `input` (one
/// offset and factor, or one per feature) and `layers` into `out`; returns the bytes
/// written ([`encoded_len`]). Writing a parsed file's parts gives its bytes back.
pub fn write(
    inputs: usize,
    loss: Loss,
    input: &QuantInput<'_>,
    layers: &[QuantLayer<'_>],
    out: &mut [u8],
) -> Result<usize, FormatError> {
    super::QuantNet::new(inputs, loss, *input, layers)?;
    let len = encoded_len(input, layers)?;
    let room = out.len();
    let short = FormatError::Capacity { needed: len, got: room };
    let out = out.get_mut(..len).ok_or(short)?;
    out.fill(0);
    let too_big = |v: usize| u32::try_from(v).map_err(|_| FormatError::TooLarge);
    let header = FIXED + ENTRY * layers.len();
    let mut flags = if input.mean.len() == 1 { FLAG_UNIFORM_INPUT } else { 0 };
    if layers.iter().all(|l| l.dense.known.narrow_weights()) {
        flags |= FLAG_NARROW_WEIGHTS;
    }
    put(out, 0, &MAGIC)?;
    put(out, 4, &VERSION.to_le_bytes())?;
    put(out, 6, &flags.to_le_bytes())?;
    put(out, 8, &too_big(header)?.to_le_bytes())?;
    put(out, 12, &too_big(len - header - 4)?.to_le_bytes())?;
    put(out, 16, &[layers.len() as u8, loss.code(), input.zero as u8])?;
    put(out, 20, &too_big(inputs)?.to_le_bytes())?;
    put(out, 24, &input.scale.to_bits().to_le_bytes())?;
    for (i, l) in layers.iter().enumerate() {
        let at = FIXED + ENTRY * i;
        let pre = if l.mode == LayerMode::Table { l.dense.output_zero as i8 } else { 0 };
        put(out, at, &too_big(l.dense.outputs)?.to_le_bytes())?;
        put(out, at + 4, &[l.activation.code(), l.mode.code(), pre as u8, l.out_zero as u8])?;
        put(out, at + 8, &l.out_scale.to_bits().to_le_bytes())?;
    }
    let mut at = header;
    let words = |out: &mut [u8], at: &mut usize, v: &mut dyn Iterator<Item = [u8; 4]>| -> Result<(), FormatError> {
        for w in v {
            put(out, *at, &w)?;
            *at += 4;
        }
        Ok(())
    };
    let bytes = |out: &mut [u8], at: &mut usize, v: &[i8]| -> Result<(), FormatError> {
        put(out, *at, bytemuck::cast_slice(v))?;
        *at += pad4(v.len());
        Ok(())
    };
    let f = |v: &f32| v.to_bits().to_le_bytes();
    let i = |v: &i32| v.to_le_bytes();
    words(out, &mut at, &mut input.mean.iter().map(f))?;
    words(out, &mut at, &mut input.factor.iter().map(f))?;
    for l in layers {
        bytes(out, &mut at, l.dense.weights)?;
        words(out, &mut at, &mut l.dense.bias.iter().map(i))?;
        words(out, &mut at, &mut l.acc_scale.iter().map(f))?;
        if l.mode != LayerMode::Dequantize {
            words(out, &mut at, &mut l.dense.multiplier.iter().map(i))?;
            bytes(out, &mut at, l.dense.shift)?;
        }
        if l.mode == LayerMode::Table {
            bytes(out, &mut at, l.table)?;
        }
    }
    let body = len - 4;
    let crc = crc32(out.get(..body).ok_or(short)?);
    put(out, body, &crc.to_le_bytes())?;
    Ok(len)
}
