//! The myelin model file: a checksummed, little-endian, 4-byte-aligned container for a
//! topology, optional input standardization and the f32 parameters. The full specification
//! is `docs/model-format.md`; in short:
//!
//! ```text
//! offset  size  field
//!  0      4     magic "MYLN"
//!  4      2     format version (u16) = 1
//!  6      2     flags (u16): bit 0 = input standardization present; other bits 0
//!  8      4     header length H (u32) = 24 + 8 * layers
//! 12      4     parameter count P (u32)
//! 16      1     layers L (1..=8)
//! 17      1     loss code
//! 18      2     reserved, 0
//! 20      4     inputs (u32)
//! 24      8*L   per layer: outputs (u32), activation code (u8), 3 reserved zero bytes
//!  H      4*S   if flag 0: mean[inputs] then std[inputs] (f32), S = 2 * inputs, else S = 0
//!  H+4S   4*P   parameters (f32), the arena layout of [`crate::Topology`]
//!  end-4  4     CRC-32 (IEEE 802.3, reflected, init/xorout 0xFFFFFFFF) of every byte before it
//! ```
//!
//! Parsing checks the magic, then the checksum over the whole input, then every field and
//! bound, with checked arithmetic, before any float is touched: a malformed file is always an
//! error value. Floats are borrowed in place when the bytes are 4-byte aligned (on a
//! little-endian target), otherwise copied into a caller buffer.

use crate::activation::Activation;
use crate::error::Values;
pub use crate::error::{FormatError, QuantField};
use crate::loss::Loss;
use crate::topology::{Layer, Topology, MAX_LAYERS};

/// File magic.
pub const MAGIC: [u8; 4] = *b"MYLN";
/// The format version this build reads and writes.
pub const VERSION: u16 = 1;
/// Fixed header bytes before the layer table.
pub const FIXED_HEADER: usize = 24;
/// Bytes per layer-table entry.
pub const LAYER_ENTRY: usize = 8;
const FLAG_STANDARDIZE: u16 = 1;

/// CRC-32 (IEEE) with a 16-entry nibble table: 64 bytes of table, small enough for any
/// firmware, ~2 table steps per byte.
pub fn crc32(bytes: &[u8]) -> u32 {
    const T: [u32; 16] = {
        let mut t = [0u32; 16];
        let mut i = 0;
        while i < 16 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 4 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            // INVARIANT: `i < 16` by the loop condition (and this runs at compile time).
            #[allow(clippy::indexing_slicing)]
            {
                t[i] = c;
            }
            i += 1;
        }
        t
    };
    // INVARIANT: `c & 15 < 16 == T.len()`.
    #[allow(clippy::indexing_slicing)]
    let step = |c: u32| T[(c & 15) as usize] ^ (c >> 4);
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        c = step(step(c));
    }
    !c
}

/// Exact file length for widths `sizes` (inputs first), with or without standardization.
/// Usable in array types for firmware buffers.
pub const fn file_len(sizes: &[usize], standardize: bool) -> usize {
    let layers = if sizes.is_empty() { 0 } else { sizes.len() - 1 };
    let std_floats = match sizes.first() {
        Some(&inputs) if standardize => 2 * inputs,
        _ => 0,
    };
    let floats = crate::topology::params_len(sizes) + std_floats;
    FIXED_HEADER + LAYER_ENTRY * layers + 4 * floats + 4
}

/// Per-feature input standardization `x' = (x - mean) / std`, stored with the model so
/// prediction applies exactly what training saw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Standardizer<'a> {
    /// Mean per input feature.
    pub mean: &'a [f32],
    /// Standard deviation per input feature (> 0).
    pub std: &'a [f32],
}

impl Standardizer<'_> {
    /// Applies `(x - mean) / std` in place to rows of `x` (batch, inputs).
    pub fn apply(&self, x: &mut [f32]) {
        let n = self.mean.len();
        if n == 0 {
            return;
        }
        for row in x.chunks_exact_mut(n) {
            for ((v, &m), &s) in row.iter_mut().zip(self.mean).zip(self.std) {
                *v = (*v - m) / s;
            }
        }
    }
}

/// A parsed model: topology plus borrowed (or copied) floats.
#[derive(Clone, Copy, Debug)]
pub struct Model<'a> {
    /// The network shape and loss.
    pub topology: Topology,
    /// The parameter arena.
    pub params: &'a [f32],
    /// Input standardization, if the file has it.
    pub standardizer: Option<Standardizer<'a>>,
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[a, c]) => u16::from_le_bytes([a, c]),
        _ => 0,
    }
}

pub(crate) fn u8_at(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, c, d, e]) => u32::from_le_bytes([a, c, d, e]),
        _ => 0,
    }
}

/// Parses a model file. `scratch` receives the floats when `bytes` are not 4-byte aligned
/// (pass `&mut []` when they are, e.g. with [`include_model!`](crate::include_model)); it must
/// then hold [`Model`]'s float count (`2 * inputs` if standardized, plus parameters).
///
/// In order: the envelope (magic, length, checksum, version, flags), the header and layer
/// table (a valid [`Topology`]), the lengths they imply, then every float.
pub fn parse<'a>(bytes: &'a [u8], scratch: &'a mut [f32]) -> Result<Model<'a>, FormatError> {
    let flags = check_envelope(bytes)?;
    let (topology, header) = read_topology(bytes)?;
    let inputs = topology.inputs();
    let params = topology.params_len();
    let std_floats =
        if flags & FLAG_STANDARDIZE != 0 { inputs.checked_mul(2).ok_or(FormatError::InvalidTopology)? } else { 0 };
    let floats = std_floats.checked_add(params).ok_or(FormatError::InvalidTopology)?;
    let expected = floats.checked_mul(4).and_then(|f| f.checked_add(header + 4)).ok_or(FormatError::InvalidTopology)?;
    if bytes.len() != expected {
        return Err(FormatError::Length { expected, got: bytes.len() });
    }
    let raw =
        bytes.get(header..bytes.len() - 4).ok_or(FormatError::Truncated { needed: header + 4, got: bytes.len() })?;
    let values = read_floats(raw, floats, scratch)?;
    for (i, &v) in values.iter().enumerate() {
        let bad_std = i >= inputs && i < std_floats && v <= 0.0;
        if !v.is_finite() || bad_std {
            return Err(FormatError::NonFinite { index: i });
        }
    }
    let (std_part, params_part) = values.split_at(std_floats);
    let standardizer = (std_floats > 0).then(|| {
        let (mean, std) = std_part.split_at(inputs);
        Standardizer { mean, std }
    });
    Ok(Model { topology, params: params_part, standardizer })
}

/// The magic, the minimum length, the checksum, the version and the flags; returns the flags.
fn check_envelope(bytes: &[u8]) -> Result<u16, FormatError> {
    let min = FIXED_HEADER + LAYER_ENTRY + 4;
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
    let (sealed, _) = bytes.split_at(body);
    let computed = crc32(sealed);
    if stored != computed {
        return Err(FormatError::ChecksumMismatch { stored, computed });
    }
    let version = u16_at(bytes, 4);
    if version != VERSION {
        return Err(FormatError::UnsupportedVersion { got: version, supported: VERSION });
    }
    let flags = u16_at(bytes, 6);
    if flags & !FLAG_STANDARDIZE != 0 || u16_at(bytes, 18) != 0 {
        return Err(FormatError::Reserved);
    }
    Ok(flags)
}

/// The header and layer table as a validated [`Topology`], checked against the stored
/// parameter count; returns it with the header length.
fn read_topology(bytes: &[u8]) -> Result<(Topology, usize), FormatError> {
    let n_layers = u8_at(bytes, 16) as usize;
    if n_layers == 0 || n_layers > MAX_LAYERS {
        return Err(FormatError::LayerCount { got: n_layers, max: MAX_LAYERS });
    }
    let header = FIXED_HEADER + LAYER_ENTRY * n_layers;
    let header_field = u32_at(bytes, 8) as usize;
    if header_field != header {
        return Err(FormatError::HeaderLength { expected: header, got: header_field });
    }
    if bytes.len() < header + 4 {
        return Err(FormatError::Truncated { needed: header + 4, got: bytes.len() });
    }
    let loss_code = u8_at(bytes, 17);
    let loss = Loss::from_code(loss_code).ok_or(FormatError::UnknownLoss { code: loss_code })?;
    let inputs = u32_at(bytes, 20) as usize;
    let mut layers = [Layer::new(0, 0, Activation::Identity); MAX_LAYERS];
    let mut prev = inputs;
    for (i, slot) in layers.iter_mut().take(n_layers).enumerate() {
        let at = FIXED_HEADER + LAYER_ENTRY * i;
        let outputs = u32_at(bytes, at) as usize;
        let code = u8_at(bytes, at + 4);
        if bytes.get(at + 5..at + 8) != Some(&[0, 0, 0]) {
            return Err(FormatError::Reserved);
        }
        let activation = Activation::from_code(code).ok_or(FormatError::UnknownActivation { layer: i, code })?;
        *slot = Layer::new(prev, outputs, activation);
        prev = outputs;
    }
    let layers = layers.get(..n_layers).ok_or(FormatError::LayerCount { got: n_layers, max: MAX_LAYERS })?;
    let topology = Topology::new(layers, loss).map_err(|_| FormatError::InvalidTopology)?;
    let params = topology.params_len();
    let stored_params = u32_at(bytes, 12) as usize;
    if stored_params != params {
        return Err(FormatError::ParamCount { expected: params, got: stored_params });
    }
    Ok((topology, header))
}

/// The `floats` little-endian floats of `raw`: borrowed in place when aligned on a
/// little-endian target, else copied into `scratch`.
fn read_floats<'a>(raw: &'a [u8], floats: usize, scratch: &'a mut [f32]) -> Result<&'a [f32], FormatError> {
    match bytemuck::try_cast_slice::<u8, f32>(raw) {
        Ok(v) if cfg!(target_endian = "little") => Ok(v),
        _ => {
            let room = scratch.len();
            let dst = scratch.get_mut(..floats).ok_or(FormatError::Capacity { needed: floats, got: room })?;
            for (d, c) in dst.iter_mut().zip(raw.chunks_exact(4)) {
                if let &[a, b, c, e] = c {
                    *d = f32::from_le_bytes([a, b, c, e]);
                }
            }
            Ok(dst)
        }
    }
}

/// Copies `bytes` into `out` at `at`; a range outside `out` is a capacity error.
pub(crate) fn put(out: &mut [u8], at: usize, bytes: &[u8]) -> Result<(), FormatError> {
    let room = out.len();
    let needed = at + bytes.len();
    out.get_mut(at..needed).ok_or(FormatError::Capacity { needed, got: room })?.copy_from_slice(bytes);
    Ok(())
}

/// Writes a model file into `out`; returns the bytes written ([`encoded_len`]).
pub fn write(
    topology: &Topology,
    params: &[f32],
    standardize: Option<Standardizer<'_>>,
    out: &mut [u8],
) -> Result<usize, FormatError> {
    let values = |what, expected: usize, got: usize| {
        if expected == got {
            Ok(())
        } else {
            Err(FormatError::ValueCount { what, expected, got })
        }
    };
    values(Values::Params, topology.params_len(), params.len())?;
    if let Some(s) = &standardize {
        values(Values::Mean, topology.inputs(), s.mean.len())?;
        values(Values::Std, topology.inputs(), s.std.len())?;
    }
    let len = encoded_len(topology, standardize.is_some())?;
    let room = out.len();
    let out = out.get_mut(..len).ok_or(FormatError::Capacity { needed: len, got: room })?;
    let too_big = |v: usize| u32::try_from(v).map_err(|_| FormatError::TooLarge);
    let n = topology.layers().len();
    let header = FIXED_HEADER + LAYER_ENTRY * n;
    out.fill(0);
    let flags = if standardize.is_some() { FLAG_STANDARDIZE } else { 0 };
    put(out, 0, &MAGIC)?;
    put(out, 4, &VERSION.to_le_bytes())?;
    put(out, 6, &flags.to_le_bytes())?;
    put(out, 8, &too_big(header)?.to_le_bytes())?;
    put(out, 12, &too_big(params.len())?.to_le_bytes())?;
    put(out, 16, &[n as u8, topology.loss().code()])?;
    put(out, 20, &too_big(topology.inputs())?.to_le_bytes())?;
    for (i, l) in topology.layers().iter().enumerate() {
        let at = FIXED_HEADER + LAYER_ENTRY * i;
        put(out, at, &too_big(l.outputs)?.to_le_bytes())?;
        put(out, at + 4, &[l.activation.code()])?;
    }
    let floats = standardize.iter().flat_map(|s| s.mean.iter().chain(s.std.iter())).chain(params.iter());
    let short = FormatError::Capacity { needed: len, got: room };
    let (sealed, tail) = out.split_at_mut_checked(len.saturating_sub(4)).ok_or(short)?;
    let body = sealed.get_mut(header..).ok_or(short)?;
    for (c, v) in body.chunks_exact_mut(4).zip(floats) {
        c.copy_from_slice(&v.to_le_bytes());
    }
    tail.copy_from_slice(&crc32(sealed).to_le_bytes());
    Ok(len)
}

/// File length for `topology`, with or without standardization.
pub fn encoded_len(topology: &Topology, standardize: bool) -> Result<usize, FormatError> {
    let floats = topology
        .params_len()
        .checked_add(if standardize { 2 * topology.inputs() } else { 0 })
        .ok_or(FormatError::TooLarge)?;
    floats
        .checked_mul(4)
        .and_then(|f| f.checked_add(FIXED_HEADER + LAYER_ENTRY * topology.layers().len() + 4))
        .ok_or(FormatError::TooLarge)
}

/// Bytes with 4-byte alignment, so floats inside can be borrowed in place.
#[repr(C, align(4))]
pub struct Aligned<B: ?Sized>(pub B);

/// Includes a model file with 4-byte alignment: `static MODEL: &[u8] = include_model!("m.myelin");`
/// then [`parse`]`(MODEL, &mut [])` borrows the weights from flash, copying nothing.
#[macro_export]
macro_rules! include_model {
    ($path:expr) => {{
        static ALIGNED: &$crate::format::Aligned<[u8]> = &$crate::format::Aligned(*include_bytes!($path));
        &ALIGNED.0
    }};
}
