//! CSV datasets: classification (a label column -> one-hot targets) or regression (target
//! columns). A [`Schema`] is fitted on the training file (which columns are features, which
//! are one-hot categorical and their categories, the class names) and saved with the model,
//! so prediction encodes a new file exactly as training did.

use super::{Dataset, Targets};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// A column named by position or header name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Column {
    /// The last column.
    Last,
    /// 0-based index.
    Index(usize),
    /// Header name.
    Name(String),
}

impl std::str::FromStr for Column {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Column, Self::Err> {
        Ok(match s {
            "last" => Column::Last,
            _ => s.parse().map(Column::Index).unwrap_or_else(|_| Column::Name(s.to_string())),
        })
    }
}

/// What to predict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task {
    /// One label column.
    Classify {
        /// The label column.
        label: Column,
    },
    /// One or more real-valued target columns.
    Regress {
        /// The target columns.
        targets: Vec<Column>,
    },
}

/// How to read a CSV file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// What to predict.
    pub task: Task,
    /// Columns to ignore (ids, dates, leaks).
    pub drop: Vec<Column>,
    /// Numeric columns to treat as categories (one-hot), e.g. hour of day.
    pub one_hot: Vec<Column>,
}

impl Default for Options {
    fn default() -> Self {
        Options { task: Task::Classify { label: Column::Last }, drop: vec![], one_hot: vec![] }
    }
}

/// How one input column is encoded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Encoding {
    /// Parsed as a number: one feature.
    Numeric,
    /// One feature per category (unknown categories encode as all zeros).
    OneHot(Vec<String>),
    /// Not a feature (dropped, label or target).
    Skip,
}

/// The fitted encoding of a CSV layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// Header names (or `col0`, `col1`, ... without a header).
    pub names: Vec<String>,
    /// Whether the file has a header row.
    pub header: bool,
    /// Encoding per column.
    pub encodings: Vec<Encoding>,
    /// Label column (classification).
    pub label: Option<usize>,
    /// Class names in class order (classification).
    pub classes: Vec<String>,
    /// Target columns (regression).
    pub targets: Vec<usize>,
}

impl Schema {
    /// Per encoded feature: whether it is a numeric column (false: a one-hot indicator).
    pub fn numeric_features(&self) -> Vec<bool> {
        self.encodings
            .iter()
            .flat_map(|e| match e {
                Encoding::Numeric => vec![true],
                Encoding::OneHot(v) => vec![false; v.len()],
                Encoding::Skip => vec![],
            })
            .collect()
    }

    /// Number of features after encoding.
    pub fn features(&self) -> usize {
        self.encodings
            .iter()
            .map(|e| match e {
                Encoding::Numeric => 1,
                Encoding::OneHot(v) => v.len(),
                Encoding::Skip => 0,
            })
            .sum()
    }

    /// Names of the encoded features (`hr=7` for one-hot ones).
    pub fn feature_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, e) in self.names.iter().zip(&self.encodings) {
            match e {
                Encoding::Numeric => out.push(name.clone()),
                Encoding::OneHot(v) => out.extend(v.iter().map(|c| format!("{name}={c}"))),
                Encoding::Skip => {}
            }
        }
        out
    }
}

type Records = Vec<Vec<String>>;

/// Most categories a one-hot column or a label column may have: beyond this it is an id, a
/// timestamp or free text, not a category, and encoding it would multiply memory by it.
pub const MAX_CATEGORIES: usize = 4096;

fn read_records(text: &str, path: &Path) -> Result<Records> {
    let mut rd = csv::ReaderBuilder::new().has_headers(false).trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| Error::Parse { path: path.into(), line: i + 1, msg: e.to_string() })?;
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        rows.push(rec.iter().map(str::to_string).collect());
    }
    if rows.is_empty() {
        return Err(Error::Parse { path: path.into(), line: 0, msg: "no rows".into() });
    }
    Ok(rows)
}

fn resolve(col: &Column, names: &[String], path: &Path) -> Result<usize> {
    let n = names.len();
    let found = match col {
        Column::Last => n.checked_sub(1),
        Column::Index(i) => (*i < n).then_some(*i),
        Column::Name(s) => names.iter().position(|h| h == s),
    };
    found.ok_or_else(|| Error::Parse {
        path: path.into(),
        line: 0,
        msg: format!("no column {col:?}; columns are: {}", names.join(", ")),
    })
}

fn is_num(s: &str) -> bool {
    s.parse::<f32>().is_ok_and(f32::is_finite)
}

/// Fits a schema on `text` (the training file).
pub fn fit(text: &str, path: &Path, opts: &Options) -> Result<Schema> {
    let rows = read_records(text, path)?;
    let header = !rows[0].iter().all(|f| is_num(f)) && rows.len() > 1 && rows[1].iter().any(|f| is_num(f));
    let width = rows[0].len();
    let names: Vec<String> = if header { rows[0].clone() } else { (0..width).map(|i| format!("col{i}")).collect() };
    let body = &rows[header as usize..];
    let mut encodings = vec![Encoding::Numeric; width];
    for c in &opts.drop {
        encodings[resolve(c, &names, path)?] = Encoding::Skip;
    }
    let (mut label, mut targets) = (None, vec![]);
    match &opts.task {
        Task::Classify { label: c } => label = Some(resolve(c, &names, path)?),
        Task::Regress { targets: cs } => {
            for c in cs {
                targets.push(resolve(c, &names, path)?);
            }
        }
    }
    for &t in label.iter().chain(&targets) {
        encodings[t] = Encoding::Skip;
    }
    let forced: Vec<usize> = opts.one_hot.iter().map(|c| resolve(c, &names, path)).collect::<Result<_>>()?;
    for (j, enc) in encodings.iter_mut().enumerate() {
        if *enc == Encoding::Skip {
            continue;
        }
        if forced.contains(&j) || body.iter().any(|r| r.get(j).is_some_and(|f| !is_num(f))) {
            let cats = categories(body, j);
            if cats.len() > MAX_CATEGORIES {
                return Err(Error::Parse {
                    path: path.into(),
                    line: 0,
                    msg: format!(
                        "column {} has {} distinct values, more than {MAX_CATEGORIES} categories: drop it (--drop) or make it numeric",
                        names[j],
                        cats.len()
                    ),
                });
            }
            *enc = Encoding::OneHot(cats);
        }
    }
    let classes = match label {
        Some(l) => {
            let vals = categories(body, l);
            if vals.len() > MAX_CATEGORIES {
                return Err(Error::Parse {
                    path: path.into(),
                    line: 0,
                    msg: format!(
                        "label column {} has {} distinct values (more than {MAX_CATEGORIES}): is it a regression target? use --target",
                        names[l],
                        vals.len()
                    ),
                });
            }
            // Small non-negative integer labels become classes 0..=max, so class k is label k
            // even when some label is absent from the training file; others are categories in
            // numeric or text order.
            let ints: Option<Vec<u32>> = vals.iter().map(|v| v.parse::<u32>().ok()).collect();
            match ints {
                Some(v) if v.iter().all(|&c| (c as usize) < MAX_CATEGORIES) => {
                    (0..=v.iter().copied().max().unwrap_or(0)).map(|i| i.to_string()).collect()
                }
                _ => vals,
            }
        }
        None => vec![],
    };
    Ok(Schema { names, header, encodings, label, classes, targets })
}

fn categories(rows: &[Vec<String>], j: usize) -> Vec<String> {
    let set: BTreeSet<&str> = rows.iter().filter_map(|r| r.get(j).map(String::as_str)).collect();
    let mut v: Vec<String> = set.into_iter().map(str::to_string).collect();
    // Numeric categories in numeric order (hour 2 before hour 10).
    if v.iter().all(|s| is_num(s)) {
        v.sort_by(|a, b| a.parse::<f64>().unwrap_or(0.0).total_cmp(&b.parse::<f64>().unwrap_or(0.0)));
    }
    v
}

/// Encodes `text` with a fitted schema. Labels/targets must be present.
pub fn encode(text: &str, path: &Path, schema: &Schema) -> Result<Dataset> {
    let rows = read_records(text, path)?;
    let body = &rows[schema.header as usize..];
    let features = schema.features();
    let mut x = Vec::with_capacity(body.len() * features);
    let mut labels = Vec::new();
    let mut values = Vec::new();
    for (i, r) in body.iter().enumerate() {
        let line = i + 1 + schema.header as usize;
        let bad = |msg: String| Error::Parse { path: path.into(), line, msg };
        if r.len() != schema.names.len() {
            return Err(bad(format!("{} fields, expected {}", r.len(), schema.names.len())));
        }
        for (j, (f, e)) in r.iter().zip(&schema.encodings).enumerate() {
            match e {
                Encoding::Numeric => x.push(
                    f.parse::<f32>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| bad(format!("column {}: {f:?} is not a finite number", schema.names[j])))?,
                ),
                Encoding::OneHot(cats) => x.extend(cats.iter().map(|c| if c == f { 1.0 } else { 0.0 })),
                Encoding::Skip => {}
            }
        }
        if let Some(l) = schema.label {
            let c = schema
                .classes
                .iter()
                .position(|c| *c == r[l])
                .ok_or_else(|| bad(format!("label {:?} is not one of the classes seen in training", r[l])))?;
            labels.push(c as u32);
        }
        for &t in &schema.targets {
            values.push(
                r[t].parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad(format!("target {}: {:?} is not a finite number", schema.names[t], r[t])))?,
            );
        }
    }
    let targets = if schema.label.is_some() {
        Targets::Classes { labels, classes: schema.classes.len(), names: schema.classes.clone() }
    } else {
        Targets::Values { values, width: schema.targets.len() }
    };
    Ok(Dataset { x, features, targets })
}

/// Fits and encodes in one go.
pub fn parse(text: &str, path: &Path, opts: &Options) -> Result<Dataset> {
    encode(text, path, &fit(text, path, opts)?)
}

/// Reads a CSV file (optionally `.gz`) as text.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .map_err(|e| Error::io("decompressing", path, e))?;
        Ok(s)
    } else {
        String::from_utf8(bytes).map_err(|_| Error::Parse { path: path.into(), line: 0, msg: "not UTF-8 text".into() })
    }
}
