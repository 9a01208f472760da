//! Models in and out of files: the model file with its sidecar ([`modelfile`]), PyTorch
//! safetensors ([`safetensors`]) and Rust consts for firmware ([`rust_consts`]). Every write
//! is atomic ([`modelfile::write_atomic`]).

pub mod modelfile;
pub mod onnx;
pub mod rust_consts;
pub mod safetensors;
