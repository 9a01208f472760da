//! A myelin model as an ONNX graph.

use super::proto::{
    tensor_proto::DataType, tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use super::OnnxError;
use crate::data::Standardizer;
use crate::io::modelfile::Meta;
use myelin_core::{Activation, Topology};
use prost::Message;

/// The operator set the graph declares (Softmax takes its axis as the last one from 13 on).
pub const OPSET: i64 = 17;
/// ONNX IR version of opset 17.
const IR_VERSION: i64 = 8;

/// `x` float32 of shape (N, `width`), N a named (dynamic) batch axis.
fn value_info(name: &str, width: usize) -> ValueInfoProto {
    let dim =
        |v: tensor_shape_proto::dimension::Value| tensor_shape_proto::Dimension { value: Some(v), denotation: None };
    let shape = TensorShapeProto {
        dim: vec![
            dim(tensor_shape_proto::dimension::Value::DimParam("N".into())),
            dim(tensor_shape_proto::dimension::Value::DimValue(width as i64)),
        ],
    };
    let tensor = type_proto::Tensor { elem_type: Some(DataType::Float as i32), shape: Some(shape) };
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto { denotation: None, value: Some(type_proto::Value::TensorType(tensor)) }),
        ..Default::default()
    }
}

/// A float32 initializer.
fn tensor(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(DataType::Float as i32),
        raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str, attributes: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attributes,
        ..Default::default()
    }
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: Some(name.into()), i: Some(v), r#type: Some(2), ..Default::default() }
}

fn float_attr(name: &str, v: f32) -> AttributeProto {
    AttributeProto { name: Some(name.into()), f: Some(v), r#type: Some(1), ..Default::default() }
}

/// The ONNX bytes of a model: input `x` (N, inputs), output `y` (N, outputs); the
/// standardization as `Sub` + `Div`, each layer as `Gemm` (transB = 1, myelin's (out, in)
/// weights as they are) and its activation; `meta` (classes, CSV schema) as JSON under the
/// `myelin.meta` metadata key. Outputs are what `myelin predict` prints, so a regression
/// model's target scaling must already be folded into `params`.
pub fn export(
    topo: &Topology,
    params: &[f32],
    standardizer: Option<&Standardizer>,
    meta: &Meta,
) -> Result<Vec<u8>, OnnxError> {
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut t = "x".to_string();
    if let Some(s) = standardizer {
        inits.push(tensor("mean", &[topo.inputs()], &s.mean));
        inits.push(tensor("std", &[topo.inputs()], &s.std));
        nodes.push(node("Sub", "standardize_sub", &[&t, "mean"], "centered", vec![]));
        nodes.push(node("Div", "standardize_div", &["centered", "std"], "standardized", vec![]));
        t = "standardized".into();
    }
    let last = topo.layers().len().saturating_sub(1);
    for (l, layer) in topo.layers().iter().enumerate() {
        let Some(r) = topo.param_range(l) else { continue };
        let (w, b) = (format!("layer{l}.weight"), format!("layer{l}.bias"));
        inits.push(tensor(&w, &[layer.outputs, layer.inputs], params.get(r.w..r.b).unwrap_or(&[])));
        inits.push(tensor(&b, &[layer.outputs], params.get(r.b..r.end).unwrap_or(&[])));
        let linear =
            if l == last && layer.activation == Activation::Identity { "y".into() } else { format!("layer{l}.linear") };
        nodes.push(node("Gemm", &format!("layer{l}.gemm"), &[&t, &w, &b], &linear, vec![int_attr("transB", 1)]));
        t = linear;
        let out = if l == last { "y".to_string() } else { format!("layer{l}.out") };
        let (op, attributes) = match layer.activation {
            Activation::Identity => continue,
            Activation::Relu => ("Relu", vec![]),
            Activation::LeakyRelu => ("LeakyRelu", vec![float_attr("alpha", myelin_core::LEAKY_SLOPE)]),
            Activation::Sigmoid => ("Sigmoid", vec![]),
            Activation::Tanh => ("Tanh", vec![]),
            Activation::Softmax => ("Softmax", vec![int_attr("axis", -1)]),
            other => return Err(OnnxError::Network(format!("activation {} has no ONNX operator", other.name()))),
        };
        nodes.push(node(op, &format!("layer{l}.{}", op.to_lowercase()), &[&t], &out, attributes));
        t = out;
    }
    let graph = GraphProto {
        name: Some("myelin".into()),
        node: nodes,
        initializer: inits,
        input: vec![value_info("x", topo.inputs())],
        output: vec![value_info("y", topo.outputs())],
        ..Default::default()
    };
    let entry = |k: &str, v: String| StringStringEntryProto { key: Some(k.into()), value: Some(v) };
    let mut props = vec![entry("myelin.meta", serde_json::to_string(meta).unwrap_or_default())];
    if !meta.classes.is_empty() {
        props.push(entry("classes", meta.classes.join(",")));
    }
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(OPSET) }],
        producer_name: Some("myelin".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(graph),
        metadata_props: props,
        ..Default::default()
    }
    .encode_to_vec())
}
