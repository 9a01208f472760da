//! An ONNX graph into a topology, its parameters and its input standardization.

use super::proto::{tensor_proto::DataType, AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};
use super::{OnnxError, Unsupported};
use crate::data::Standardizer;
use crate::io::modelfile::Meta;
use myelin_core::{Activation, Layer, Loss, Topology};
use prost::Message;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What an imported graph becomes.
#[derive(Debug)]
pub struct Imported {
    /// The network.
    pub topology: Topology,
    /// Its parameters in myelin's layout (per layer: W (out, in) row-major, then b).
    pub params: Vec<f32>,
    /// The graph's input standardization (Sub + Div at the input), if any.
    pub standardizer: Option<Standardizer>,
    /// Class names (a ZipMap's labels, or a myelin export's metadata), schema, source.
    pub meta: Meta,
    /// What was left out or assumed, for the user.
    pub notes: Vec<String>,
}

/// Operators on the path from the input to the imported output.
const PATH_OPS: &[&str] = &[
    "Gemm",
    "MatMul",
    "Add",
    "Sub",
    "Div",
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "Flatten",
    "Identity",
    "Cast",
    "Reshape",
];
/// Operators that may follow the imported output (a classifier's label branch): left out.
const POST_OPS: &[&str] = &["ArgMax", "ZipMap", "ArrayFeatureExtractor", "Cast", "Reshape", "Identity", "TopK"];
/// Post-processing operators of the ONNX-ML domain.
const ML_OPS: &[&str] = &["ZipMap", "ArrayFeatureExtractor"];

/// A constant tensor's values.
#[derive(Clone, Debug)]
enum Values {
    F32(Vec<f32>),
    I64(Vec<i64>),
    Other(i32),
}

/// A constant tensor (initializer or `Constant` node).
#[derive(Clone, Debug)]
struct Const {
    dims: Vec<i64>,
    values: Values,
}

/// Reads an ONNX model and turns its MLP into myelin's form; every unsupported node is
/// reported at once.
pub fn import(bytes: &[u8]) -> Result<Imported, OnnxError> {
    let model = ModelProto::decode(bytes).map_err(|e| OnnxError::Decode(e.to_string()))?;
    let graph = model.graph.as_ref().ok_or(OnnxError::NoGraph)?;
    let consts = constants(graph)?;
    let inputs: Vec<_> = graph.input.iter().filter(|i| !consts.contains_key(i.name())).collect();
    let [input] = inputs[..] else { return Err(OnnxError::Inputs(inputs.len())) };
    // A declared feature count is trusted only up to the floats the file holds (the first
    // layer needs that many weights), so a hostile shape cannot size a broadcast.
    let floats_held: usize = consts.values().map(|c| if let Values::F32(v) = &c.values { v.len() } else { 0 }).sum();
    let width = input_width(input).filter(|&w| w <= floats_held);
    let mut walk = Walk::new(graph, &consts, width);
    for (k, node) in graph.node.iter().enumerate() {
        if let Some(why) = check_node(node) {
            walk.problem(k, why);
        }
        if node.op_type() == "Constant" {
            walk.visited.insert(k);
        }
    }
    let end = walk.follow(input.name());
    let left_out = walk.after_output(&end);
    walk.unreached();
    if !walk.problems.is_empty() {
        let list = walk
            .problems
            .iter()
            .map(|(&k, why)| Unsupported {
                node: node_name(&graph.node[k], k),
                op: graph.node[k].op_type().into(),
                why: why.join("; "),
            })
            .collect();
        return Err(OnnxError::Unsupported(list));
    }
    finish(model.metadata_props.iter().map(|p| (p.key(), p.value())).collect(), walk, graph, &end, left_out)
}

/// The imported network from a walk without problems.
fn finish(
    metadata: HashMap<&str, &str>,
    walk: Walk<'_>,
    graph: &GraphProto,
    end: &str,
    left_out: Vec<String>,
) -> Result<Imported, OnnxError> {
    let Walk { mut b, labels, .. } = walk;
    b.flush(Activation::Identity);
    let first = b.layers.first().ok_or(OnnxError::NoLayers)?;
    let inputs = first.inputs;
    let last = b.layers.last().map_or(Activation::Identity, |l| l.activation);
    let loss = if last == Activation::Softmax { Loss::CrossEntropy } else { Loss::Mse };
    let topology = Topology::new(&b.layers, loss).map_err(|e| OnnxError::Network(e.to_string()))?;
    let standardizer = match (b.mean, b.std) {
        (None, None) => None,
        (mean, std) => Some(Standardizer {
            mean: mean.unwrap_or_else(|| vec![0.0; inputs]),
            std: std.unwrap_or_else(|| vec![1.0; inputs]),
        }),
    };
    if standardizer.as_ref().is_some_and(|s| s.mean.len() != inputs || s.std.len() != inputs) {
        return Err(OnnxError::Network(format!("the input standardization does not have {inputs} values")));
    }
    let mut meta = match metadata.get("myelin.meta").map(|m| serde_json::from_str::<Meta>(m)) {
        Some(Ok(m)) => m,
        _ => Meta::default(),
    };
    if meta.classes.is_empty() {
        meta.classes = labels;
    }
    meta.target_scale = None;
    meta.source = format!("onnx:{}", graph.name());
    let mut notes = Vec::new();
    if !graph.output.iter().any(|o| o.name() == end) || !left_out.is_empty() {
        let outputs: Vec<&str> = graph.output.iter().map(|o| o.name()).filter(|n| *n != end).collect();
        notes.push(format!(
            "imported the output of tensor {end:?}; the post-processing after it was left out ({}), and with it the \
             graph outputs {outputs:?}",
            left_out.join(", ")
        ));
    }
    Ok(Imported { topology, params: b.params, standardizer, meta, notes })
}

/// Initializers and `Constant` nodes by name.
fn constants(graph: &GraphProto) -> Result<HashMap<String, Const>, OnnxError> {
    let mut consts = HashMap::new();
    for t in &graph.initializer {
        consts.insert(t.name().to_string(), read_tensor(t)?);
    }
    for node in graph.node.iter().filter(|n| n.op_type() == "Constant") {
        if let (Some(out), Some(t)) = (node.output.first(), attr(node, "value").and_then(|a| a.t.as_ref())) {
            consts.insert(out.clone(), read_tensor(t)?);
        }
    }
    Ok(consts)
}

/// A tensor's dims and values, checked against its declared shape.
fn read_tensor(t: &TensorProto) -> Result<Const, OnnxError> {
    let name = t.name().to_string();
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err(OnnxError::ExternalData { name });
    }
    let bad = |why: String| OnnxError::Tensor { name: t.name().to_string(), why };
    let count = t.dims.iter().try_fold(1usize, |n, &d| usize::try_from(d).ok().and_then(|d| n.checked_mul(d)));
    let count = count.ok_or_else(|| bad(format!("dims {:?} are negative or too large", t.dims)))?;
    let raw = t.raw_data.as_deref();
    let values = match DataType::try_from(t.data_type()) {
        Ok(DataType::Float) => Values::F32(match raw {
            Some(r) if count.checked_mul(4) == Some(r.len()) => {
                r.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
            }
            None if t.float_data.len() == count => t.float_data.clone(),
            _ => return Err(bad(format!("holds a different number of float32 values than its dims {:?}", t.dims))),
        }),
        Ok(DataType::Int64) => Values::I64(match raw {
            Some(r) if count.checked_mul(8) == Some(r.len()) => r
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            None if t.int64_data.len() == count => t.int64_data.clone(),
            _ => return Err(bad(format!("holds a different number of int64 values than its dims {:?}", t.dims))),
        }),
        _ => Values::Other(t.data_type()),
    };
    Ok(Const { dims: t.dims.clone(), values })
}

/// The input's features when its shape says (the product of every axis after the batch).
fn input_width(input: &super::proto::ValueInfoProto) -> Option<usize> {
    use super::proto::{tensor_shape_proto::dimension::Value, type_proto};
    let Some(type_proto::Value::TensorType(t)) = input.r#type.as_ref()?.value.as_ref() else { return None };
    let dims = &t.shape.as_ref()?.dim;
    dims.iter().skip(1).try_fold(1usize, |n, d| match d.value {
        Some(Value::DimValue(v)) => usize::try_from(v).ok().and_then(|v| n.checked_mul(v)),
        _ => None,
    })
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name() == name)
}

fn attr_i(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).and_then(|a| a.i).unwrap_or(default)
}

fn attr_f(node: &NodeProto, name: &str, default: f32) -> f32 {
    attr(node, name).and_then(|a| a.f).unwrap_or(default)
}

fn node_name(node: &NodeProto, k: usize) -> String {
    if node.name().is_empty() {
        format!("#{k}")
    } else {
        node.name().to_string()
    }
}

/// What is wrong with a node on its own (operator, domain, attributes), if anything.
fn check_node(node: &NodeProto) -> Option<String> {
    let op = node.op_type();
    let ml = ML_OPS.contains(&op);
    let domain_ok = match node.domain() {
        "" | "ai.onnx" => !ml,
        "ai.onnx.ml" => ml,
        _ => false,
    };
    if !domain_ok {
        return Some(format!("operator domain {:?} is not supported for {op}", node.domain()));
    }
    if op == "Constant" {
        return None;
    }
    if !PATH_OPS.contains(&op) && !POST_OPS.contains(&op) {
        return Some(format!(
            "operator {op} is not supported (an MLP graph uses {}; after the output {})",
            PATH_OPS.join(", "),
            POST_OPS.join(", ")
        ));
    }
    match op {
        "Gemm" if attr_i(node, "transA", 0) != 0 => Some("transA = 1 is not supported".into()),
        "LeakyRelu" if attr_f(node, "alpha", 0.01) != myelin_core::LEAKY_SLOPE => Some(format!(
            "alpha {} is not supported: myelin's leaky ReLU has slope {}",
            attr_f(node, "alpha", 0.01),
            myelin_core::LEAKY_SLOPE
        )),
        "Softmax" if !matches!(attr_i(node, "axis", -1), -1 | 1) => {
            Some(format!("axis {} is not supported: only the last axis of (batch, features)", attr_i(node, "axis", -1)))
        }
        "Flatten" if attr_i(node, "axis", 1) != 1 => {
            Some(format!("axis {} is not supported: only (batch, features)", attr_i(node, "axis", 1)))
        }
        _ => None,
    }
}

/// A dense layer being assembled (W (out, in) row-major, b).
struct Dense {
    inputs: usize,
    outputs: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

/// The network as the path is walked.
#[derive(Default)]
struct Builder {
    /// Features of the tensor on the path (unknown until the input's shape or a layer says).
    width: Option<usize>,
    layers: Vec<Layer>,
    params: Vec<f32>,
    pending: Option<Dense>,
    mean: Option<Vec<f32>>,
    std: Option<Vec<f32>>,
}

impl Builder {
    /// Closes the pending dense layer with `activation`.
    fn flush(&mut self, activation: Activation) {
        if let Some(d) = self.pending.take() {
            self.layers.push(Layer::new(d.inputs, d.outputs, activation));
            self.params.extend_from_slice(&d.w);
            self.params.extend_from_slice(&d.b);
            self.width = Some(d.outputs);
        }
    }

    /// The features of the tensor on the path.
    fn current_width(&self) -> Option<usize> {
        self.pending.as_ref().map(|d| d.outputs).or(self.width)
    }

    /// Whether the network so far ends in an activation that only post-processing follows
    /// (Softmax): then a Cast or Reshape after it belongs to the label branch.
    fn layers_done(&self) -> bool {
        self.pending.is_none() && self.layers.last().is_some_and(|l| l.activation == Activation::Softmax)
    }

    /// A new dense layer from `inputs` to `outputs`.
    fn dense(&mut self, inputs: usize, outputs: usize, w: Vec<f32>, b: Vec<f32>) -> Result<(), String> {
        self.flush(Activation::Identity);
        if let Some(width) = self.width.filter(|&w| w != inputs) {
            return Err(format!("takes {inputs} features but the tensor before it has {width}"));
        }
        self.pending = Some(Dense { inputs, outputs, w, b });
        Ok(())
    }
}

/// The walk from the input along the path, with every problem found.
struct Walk<'g> {
    graph: &'g GraphProto,
    consts: &'g HashMap<String, Const>,
    /// Data tensor -> the nodes that read it.
    consumers: HashMap<&'g str, Vec<usize>>,
    visited: HashSet<usize>,
    problems: BTreeMap<usize, Vec<String>>,
    b: Builder,
    /// A ZipMap's class labels.
    labels: Vec<String>,
}

impl<'g> Walk<'g> {
    fn new(graph: &'g GraphProto, consts: &'g HashMap<String, Const>, width: Option<usize>) -> Walk<'g> {
        let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (k, node) in graph.node.iter().enumerate() {
            for input in node.input.iter().filter(|i| !i.is_empty() && !consts.contains_key(*i)) {
                consumers.entry(input.as_str()).or_default().push(k);
            }
        }
        let b = Builder { width, ..Builder::default() };
        Walk { graph, consts, consumers, visited: HashSet::new(), problems: BTreeMap::new(), b, labels: vec![] }
    }

    fn problem(&mut self, k: usize, why: impl Into<String>) {
        self.problems.entry(k).or_default().push(why.into());
    }

    /// Follows the path from tensor `start` while exactly one path operator reads it;
    /// returns the last tensor of the path.
    fn follow(&mut self, start: &str) -> String {
        let mut t = start.to_string();
        loop {
            let readers: Vec<usize> = self.consumers.get(t.as_str()).cloned().unwrap_or_default();
            let path: Vec<usize> =
                readers.iter().copied().filter(|&k| PATH_OPS.contains(&self.graph.node[k].op_type())).collect();
            let post_only = readers.iter().all(|&k| POST_OPS.contains(&self.graph.node[k].op_type()));
            // Ahead of a classifier's label branch the path ends: those readers are all
            // post-processing (a Softmax output read by ArgMax and ZipMap).
            let k = match path[..] {
                [k] if !(post_only && self.b.layers_done()) => k,
                [] | [_] => return t,
                _ => {
                    for &k in &path {
                        self.problem(k, format!("the graph branches at tensor {t:?}: an MLP is one chain"));
                    }
                    return t;
                }
            };
            if !self.visited.insert(k) {
                self.problem(k, "the graph has a cycle");
                return t;
            }
            let node = &self.graph.node[k];
            if let Err(why) = self.step(node, &t) {
                self.problem(k, why);
            }
            match node.output.first() {
                Some(out) => t = out.clone(),
                None => return t,
            }
        }
    }
}

impl Walk<'_> {
    /// Applies path node `node`, which reads tensor `t`.
    fn step(&mut self, node: &NodeProto, t: &str) -> Result<(), String> {
        let other = |i: usize| -> Result<&Const, String> {
            let name = node.input.get(i).ok_or_else(|| format!("needs input {i}"))?;
            self.consts.get(name).ok_or_else(|| format!("input {name:?} must be a constant (an initializer)"))
        };
        if node.input.first().map(String::as_str) != Some(t) {
            return Err(format!("reads tensor {t:?} as a parameter, not as its data input"));
        }
        match node.op_type() {
            "Identity" | "Flatten" => Ok(()),
            "Cast" if attr_i(node, "to", 1) == DataType::Float as i64 => Ok(()),
            "Cast" => {
                Err(format!("casts the data to type {} on the path; only float32 is supported", attr_i(node, "to", 0)))
            }
            "Sub" | "Div" => self.standardize(node.op_type(), other(1)?),
            "Gemm" => {
                self.gemm(node, other(1)?, node.input.get(2).filter(|n| !n.is_empty()).map(|_| other(2)).transpose()?)
            }
            "MatMul" => {
                let w = other(1)?;
                let (inputs, outputs) = matrix(w)?;
                self.b.dense(inputs, outputs, transpose(floats(w)?, inputs, outputs), vec![0.0; outputs])
            }
            "Add" => self.bias(other(1)?),
            "Relu" => self.activate(Activation::Relu),
            "LeakyRelu" => self.activate(Activation::LeakyRelu),
            "Sigmoid" => self.activate(Activation::Sigmoid),
            "Tanh" => self.activate(Activation::Tanh),
            "Softmax" => self.activate(Activation::Softmax),
            "Reshape" => self.reshape(other(1)?),
            op => Err(format!("operator {op} cannot be on the path")),
        }
    }

    /// `Sub` (mean) and `Div` (std) at the input, before any layer.
    fn standardize(&mut self, op: &str, c: &Const) -> Result<(), String> {
        let b = &mut self.b;
        if !b.layers.is_empty() || b.pending.is_some() {
            return Err(format!("{op} is supported only at the input, as a standardization"));
        }
        let width = b.width.ok_or("the input's feature count is not declared")?;
        let values = floats(c)?;
        let full = match values.len() {
            1 => vec![values[0]; width],
            n if n == width => values.to_vec(),
            n => return Err(format!("has {n} values for {width} features")),
        };
        match op {
            "Sub" if b.mean.is_none() && b.std.is_none() => b.mean = Some(full),
            "Div" if b.std.is_none() => {
                if full.iter().any(|s| !(s.is_finite() && *s != 0.0)) {
                    return Err("divides by zero or a non-finite value".into());
                }
                b.std = Some(full);
            }
            _ => return Err(format!("a second {op} at the input is not a standardization")),
        }
        Ok(())
    }

    /// `Gemm(x, B, C)`: `alpha x B' + beta C` with `B' = B^T` when `transB`.
    fn gemm(&mut self, node: &NodeProto, w: &Const, c: Option<&Const>) -> Result<(), String> {
        let (rows, cols) = matrix(w)?;
        let trans_b = attr_i(node, "transB", 0) != 0;
        let (inputs, outputs) = if trans_b { (cols, rows) } else { (rows, cols) };
        let (alpha, beta) = (attr_f(node, "alpha", 1.0), attr_f(node, "beta", 1.0));
        let mut weights = if trans_b { floats(w)?.to_vec() } else { transpose(floats(w)?, inputs, outputs) };
        if alpha != 1.0 {
            weights.iter_mut().for_each(|v| *v *= alpha);
        }
        let mut bias = match c {
            Some(c) => broadcast(floats(c)?, outputs)?,
            None => vec![0.0; outputs],
        };
        if beta != 1.0 {
            bias.iter_mut().for_each(|v| *v *= beta);
        }
        self.b.dense(inputs, outputs, weights, bias)
    }

    /// `Add(x, c)` after a dense layer: its bias.
    fn bias(&mut self, c: &Const) -> Result<(), String> {
        let d = self.b.pending.as_mut().ok_or("Add is supported only as a dense layer's bias")?;
        let add = broadcast(floats(c)?, d.outputs)?;
        d.b.iter_mut().zip(add).for_each(|(b, a)| *b += a);
        Ok(())
    }

    fn activate(&mut self, activation: Activation) -> Result<(), String> {
        if self.b.pending.is_none() {
            return Err("an activation with no dense layer before it".into());
        }
        self.b.flush(activation);
        Ok(())
    }

    /// `Reshape` to (batch, features) of the same features: nothing to do.
    fn reshape(&mut self, shape: &Const) -> Result<(), String> {
        let Values::I64(s) = &shape.values else { return Err("the shape must be int64".into()) };
        let width = self.b.current_width();
        match s[..] {
            [-1 | 0, w] if Some(w) == width.map(|w| w as i64) => Ok(()),
            _ => Err(format!("reshapes to {s:?}; only (batch, {}) is supported", width.unwrap_or(0))),
        }
    }

    /// The nodes reachable from tensor `end`: post-processing (returned, by operator) or
    /// problems.
    fn after_output(&mut self, end: &str) -> Vec<String> {
        let mut left_out = Vec::new();
        let mut queue = vec![end.to_string()];
        while let Some(t) = queue.pop() {
            for k in self.consumers.get(t.as_str()).cloned().unwrap_or_default() {
                if !self.visited.insert(k) {
                    continue;
                }
                let node = &self.graph.node[k];
                let op = node.op_type().to_string();
                if POST_OPS.contains(&op.as_str()) {
                    if op == "ZipMap" {
                        self.labels = zipmap_labels(node);
                    }
                    if !left_out.contains(&op) {
                        left_out.push(op);
                    }
                } else {
                    self.problem(k, format!("follows the imported output {end:?}, where only post-processing may"));
                }
                queue.extend(node.output.iter().cloned());
            }
        }
        left_out
    }

    /// Every node neither on the path nor after it.
    fn unreached(&mut self) {
        for k in 0..self.graph.node.len() {
            if !self.visited.contains(&k) {
                self.problem(k, "is not on the path from the input to the output");
            }
        }
    }
}

/// A ZipMap's class labels (integers or strings).
fn zipmap_labels(node: &NodeProto) -> Vec<String> {
    match (attr(node, "classlabels_int64s"), attr(node, "classlabels_strings")) {
        (Some(a), _) if !a.ints.is_empty() => a.ints.iter().map(i64::to_string).collect(),
        (_, Some(a)) => a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect(),
        _ => vec![],
    }
}

/// A constant's float32 values.
fn floats(c: &Const) -> Result<&[f32], String> {
    match &c.values {
        Values::F32(v) => Ok(v),
        Values::I64(_) => Err("a parameter is int64; only float32 is supported".into()),
        Values::Other(t) => Err(format!("a parameter has data type {t}; only float32 (1) is supported")),
    }
}

/// (rows, cols) of a 2-D constant.
fn matrix(c: &Const) -> Result<(usize, usize), String> {
    match c.dims[..] {
        [r, k] if r > 0 && k > 0 => Ok((r as usize, k as usize)),
        _ => Err(format!("the weight must be a non-empty matrix, got dims {:?}", c.dims)),
    }
}

/// `(inputs, outputs)` row-major into `(outputs, inputs)` row-major.
fn transpose(w: &[f32], inputs: usize, outputs: usize) -> Vec<f32> {
    (0..outputs).flat_map(|o| (0..inputs).map(move |i| w[i * outputs + o])).collect()
}

/// A bias of 1 or `n` values as `n` values.
fn broadcast(values: &[f32], n: usize) -> Result<Vec<f32>, String> {
    match values.len() {
        1 => Ok(vec![values[0]; n]),
        len if len == n => Ok(values.to_vec()),
        len => Err(format!("the bias has {len} values for {n} outputs")),
    }
}
