//! MNIST's IDX files (raw or gzip): `u8` images and labels. Header sizes are validated
//! against the bytes actually present before anything is allocated from them.

use super::{Dataset, Targets};
use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// Largest decompressed IDX file accepted (MNIST's training images are 47 MB).
pub const MAX_BYTES: u64 = 1 << 30;

fn parse_err(path: &Path, msg: impl Into<String>) -> Error {
    Error::Parse { path: path.to_path_buf(), line: 0, msg: msg.into() }
}

/// Reads a whole IDX file, gunzipping `.gz`, refusing more than [`MAX_BYTES`].
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let mut out = Vec::new();
    let gz = path.extension().is_some_and(|e| e == "gz");
    let reader: Box<dyn Read> = if gz { Box::new(flate2::read::GzDecoder::new(f)) } else { Box::new(f) };
    reader.take(MAX_BYTES + 1).read_to_end(&mut out).map_err(|e| Error::io("reading", path, e))?;
    if out.len() as u64 > MAX_BYTES {
        return Err(parse_err(path, format!("larger than {MAX_BYTES} bytes")));
    }
    Ok(out)
}

/// Parses an IDX byte string with `u8` data: returns (dims, data).
pub fn parse(bytes: &[u8], path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let Some(&[0, 0, ty, nd]) = bytes.get(..4) else {
        return Err(parse_err(path, "not an IDX file (bad magic; expected 00 00 08 nd)"));
    };
    if ty != 0x08 {
        return Err(parse_err(path, format!("IDX data type 0x{ty:02x} unsupported (only unsigned bytes, 0x08)")));
    }
    if nd == 0 || nd > 4 {
        return Err(parse_err(path, format!("{nd} dimensions; expected 1 to 4")));
    }
    let head = 4 + 4 * nd as usize;
    let dims_bytes = bytes.get(4..head).ok_or_else(|| parse_err(path, "truncated header"))?;
    let dims: Vec<usize> =
        dims_bytes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let total = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let have = bytes.len() - head;
    match total {
        Some(t) if t == have => Ok((dims, bytes[head..].to_vec())),
        Some(t) => Err(parse_err(path, format!("header claims {dims:?} = {t} bytes of data, file has {have}"))),
        None => Err(parse_err(path, format!("header claims absurd dimensions {dims:?}"))),
    }
}

/// Loads an image file and a label file into a classification dataset; pixels scaled to
/// [0, 1].
pub fn load(images: &Path, labels: &Path) -> Result<Dataset> {
    let (idims, pixels) = parse(&read_file(images)?, images)?;
    let (ldims, labs) = parse(&read_file(labels)?, labels)?;
    if idims.len() < 2 {
        return Err(parse_err(images, format!("image file has dimensions {idims:?}; expected (n, rows, cols)")));
    }
    if ldims.len() != 1 || ldims[0] != idims[0] {
        return Err(Error::Shape {
            op: "pairing IDX images with labels",
            expected: format!("{} labels", idims[0]),
            got: format!("label dimensions {ldims:?}"),
        });
    }
    let features: usize = idims[1..].iter().product();
    let classes = labs.iter().copied().max().map_or(0, |m| m as usize + 1).max(10);
    Ok(Dataset {
        x: pixels.iter().map(|&p| p as f32 / 255.0).collect(),
        features,
        targets: Targets::Classes { labels: labs.iter().map(|&l| l as u32).collect(), classes, names: vec![] },
    })
}

/// Loads `<dir>/train-images-idx3-ubyte[.gz]` etc.: (train, test).
pub fn load_mnist_dir(dir: &Path) -> Result<(Dataset, Dataset)> {
    let find = |stem: &str| {
        let raw = dir.join(stem);
        let gz = dir.join(format!("{stem}.gz"));
        if raw.exists() {
            raw
        } else {
            gz
        }
    };
    let train = load(&find("train-images-idx3-ubyte"), &find("train-labels-idx1-ubyte"))?;
    let test = load(&find("t10k-images-idx3-ubyte"), &find("t10k-labels-idx1-ubyte"))?;
    Ok((train, test))
}
