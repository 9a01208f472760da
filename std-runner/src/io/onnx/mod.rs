//! ONNX in and out: multi-layer perceptron graphs as PyTorch's exporters and skl2onnx write
//! them ([`import()`]), and any myelin model as a graph onnxruntime runs ([`export()`]).
//!
//! ```text
//! import   bytes -> ModelProto (prost) -> every node checked (op, domain, attributes)
//!          -> the path from the input: [Flatten|Cast|Identity] [Sub] [Div]
//!             (Gemm | MatMul Add) [activation] ... [Reshape]
//!          -> post-processing after it (ArgMax, ZipMap, ...) noted and left out
//!          -> Topology + parameters + standardization, or every problem at once
//! export   [Sub Div] -> (Gemm transB=1 -> activation) per layer, opset 17, batch axis "N",
//!          schema and classes in metadata_props
//! ```
//!
//! The protobuf messages are `prost`'s, generated once from `onnx.proto` and committed
//! (`proto.rs`); decoding hostile bytes gives a typed error, never a panic, and allocates at
//! most in proportion to the input.

mod export;
mod import;
pub mod proto;

pub use export::export;
pub use import::{import, Imported};

/// One node the importer cannot take, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// The node's name (or `#index` when it has none).
    pub node: String,
    /// Its operator type.
    pub op: String,
    /// Why it cannot be imported.
    pub why: String,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node {:?} ({}): {}", self.node, self.op, self.why)
    }
}

/// Why an ONNX file cannot be imported.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OnnxError {
    /// The bytes are not a protobuf `ModelProto`.
    #[error("not an ONNX model: {0}")]
    Decode(String),
    /// The model holds no graph.
    #[error("the ONNX model has no graph")]
    NoGraph,
    /// A tensor keeps its values in a separate file.
    #[error(
        "tensor {name:?} keeps its values in an external data file; save the model with its \
         weights inside (onnx.save(model, path, save_as_external_data=False)) and import that"
    )]
    ExternalData {
        /// The tensor.
        name: String,
    },
    /// A tensor's values cannot be read as the graph needs them.
    #[error("tensor {name:?}: {why}")]
    Tensor {
        /// The tensor.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// The graph does not have exactly one data input.
    #[error("the graph has {0} data inputs; an MLP has exactly one")]
    Inputs(usize),
    /// Nodes the importer cannot take (all of them, not only the first).
    #[error("{} unsupported node(s):\n  {}", .0.len(), .0.iter().map(|u| u.to_string()).collect::<Vec<_>>().join("\n  "))]
    Unsupported(Vec<Unsupported>),
    /// The graph has no dense layer.
    #[error("the graph has no Gemm or MatMul layer")]
    NoLayers,
    /// The layers do not form a network the core accepts.
    #[error("the layers do not form a network: {0}")]
    Network(String),
}
