//! ONNX import against the committed fixtures (tests/fixtures/onnx, made by
//! make_fixtures.py with torch, skl2onnx and onnxruntime): the imported models reproduce
//! onnxruntime's (or scikit-learn's) outputs; unsupported graphs are refused with every
//! problem named; hostile bytes give typed errors; export and import round-trip exactly.

use myelin::data::{Dataset, Targets};
use myelin::gemm::{Gemm, Mode};
use myelin::io::onnx::proto::{self, tensor_proto::DataType};
use myelin::io::onnx::{export, import, Imported, OnnxError};
use myelin_core::kernels::Backend;
use prost::Message;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx").join(name)
}

fn read_f32(name: &str) -> Vec<f32> {
    let bytes = std::fs::read(fixture(name)).unwrap();
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// The inputs the fixtures' outputs were computed on: x[i, j] = ((31 i + 17 j) mod 97) / 96.
fn probe(n: usize, features: usize) -> Vec<f32> {
    (0..n).flat_map(|i| (0..features).map(move |j| ((31 * i + 17 * j) % 97) as f32 / 96.0)).collect()
}

fn imported(name: &str) -> Imported {
    import(&std::fs::read(fixture(&format!("{name}.onnx"))).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The model's outputs on `x` (standardized first when the model says so) with `kernels`.
fn outputs_with(m: &Imported, x: Vec<f32>, kernels: &Gemm) -> Vec<f32> {
    let features = m.topology.inputs();
    let n = x.len() / features;
    let mut data = Dataset { x, features, targets: Targets::Classes { labels: vec![0; n], classes: 1, names: vec![] } };
    if let Some(s) = &m.standardizer {
        s.apply(&mut data);
    }
    myelin::infer::predict(&m.topology, &m.params, kernels, &data).unwrap()
}

fn outputs(m: &Imported, x: Vec<f32>) -> Vec<f32> {
    outputs_with(m, x, &Gemm::default())
}

/// Every kernel path inference can take: each backend this CPU runs, through the core's
/// kernels and through sgemm.
fn every_path() -> Vec<Gemm> {
    Backend::available().flat_map(|b| [Gemm::new(b, Mode::Never), Gemm::new(b, Mode::Always)]).collect()
}

/// Largest |a - b| / scale over all values, where `scale(b)` sets the bound's unit.
fn worst(a: &[f32], b: &[f32], scale: impl Fn(f32) -> f32) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / scale(*y)).fold(0.0, f32::max)
}

/// The MNIST test images from data/mnist; `None` (the test skips) when they are absent,
/// unless `MYELIN_REQUIRE_MNIST` is set.
fn mnist_test_set() -> Option<Dataset> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/mnist");
    let Ok((_, test)) = myelin::data::idx::load_mnist_dir(&dir) else {
        assert!(std::env::var_os("MYELIN_REQUIRE_MNIST").is_none(), "data/mnist is missing");
        eprintln!("skipped: no data/mnist (scripts/fetch-mnist data/mnist)");
        return None;
    };
    Some(test)
}

/// The floor: on the first 1,000 MNIST test images, the imported torch models' probabilities
/// are within 1e-6 of onnxruntime's, on every kernel path.
#[test]
fn mnist_probabilities_match_onnxruntime_within_1e6_on_every_path() {
    let Some(test) = mnist_test_set() else { return };
    for name in ["mnist_torch", "mnist_torch_dynamo"] {
        let m = imported(name);
        let want = read_f32(&format!("{name}.mnist1000.f32"));
        for kernels in every_path() {
            let got = outputs_with(&m, test.x[..1000 * 784].to_vec(), &kernels);
            let err = worst(&got, &want, |_| 1.0);
            assert!(err <= 1e-6, "{name} {kernels:?}: worst difference {err:e}");
        }
    }
}

#[test]
fn torch_and_sklearn_models_reproduce_their_reference_outputs_on_every_path() {
    // On the synthetic probe inputs (every pixel lit, so logits are large and summation order
    // shows): probabilities within 2e-6 absolute; unbounded outputs within 1e-5 relative (to
    // max(|y|, 1), so values near 0 are held to 1e-5 absolute); scikit-learn's own
    // predict_proba / predict (float64 inside) within 1e-5.
    let cases = [
        ("mnist_torch", 784, true, 2e-6),
        ("mnist_torch_dynamo", 784, true, 2e-6),
        ("tanh3_torch", 20, false, 1e-5),
        ("tanh3_torch_dynamo", 20, false, 1e-5),
        ("mixed_torch", 12, false, 1e-5),
        ("digits_sklearn", 64, true, 1e-5),
        ("regressor_sklearn", 5, false, 1e-5),
    ];
    for (name, features, probabilities, bound) in cases {
        let m = imported(name);
        assert_eq!(m.topology.inputs(), features, "{name}");
        let want = read_f32(&format!("{name}.out.f32"));
        for kernels in every_path() {
            let got = outputs_with(&m, probe(1000, features), &kernels);
            let err =
                if probabilities { worst(&got, &want, |_| 1.0) } else { worst(&got, &want, |y| y.abs().max(1.0)) };
            assert!(err <= bound, "{name} {kernels:?}: worst difference {err:e} > {bound:e}");
        }
    }
}

#[test]
fn imported_layers_activations_and_standardization_are_the_graphs() {
    let m = imported("mixed_torch");
    let acts: Vec<&str> = m.topology.layers().iter().map(|l| l.activation.name()).collect();
    assert_eq!(acts, ["leaky-relu", "sigmoid", "identity"]);
    let s = m.standardizer.expect("Sub + Div at the input");
    // linspace(0.2, 0.6, 12) and linspace(0.5, 2.0, 12), as float32.
    assert_eq!((s.mean[0], s.mean[11], s.std[0], s.std[11]), (0.2, 0.6, 0.5, 2.0));
    let c = imported("digits_sklearn");
    assert_eq!(c.meta.classes, (0..10).map(|d| d.to_string()).collect::<Vec<_>>());
    assert!(c.notes.iter().any(|n| n.contains("ZipMap") && n.contains("output_label")), "{:?}", c.notes);
    assert!(imported("mnist_torch").notes.is_empty());
}

#[test]
fn a_trained_torch_model_gives_onnxruntimes_argmax_on_all_of_mnist() {
    let Some(test) = mnist_test_set() else { return };
    let m = imported("mnist_torch");
    let want = std::fs::read(fixture("mnist_torch.argmax.u8")).unwrap();
    let got = outputs(&m, test.x.clone());
    assert_eq!(want.len(), test.len());
    let differ = got.chunks_exact(10).zip(&want).filter(|(y, &w)| myelin_core::argmax(y) != w as usize).count();
    assert_eq!(differ, 0, "{differ} of {} MNIST test images get another class than in onnxruntime", test.len());
}

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    output: &str,
    attribute: Vec<proto::AttributeProto>,
) -> proto::NodeProto {
    proto::NodeProto {
        op_type: Some(op.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

fn float_tensor(name: &str, dims: &[i64], values: Vec<f32>) -> proto::TensorProto {
    proto::TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Float as i32),
        float_data: values,
        ..Default::default()
    }
}

fn attr_f(name: &str, f: f32) -> proto::AttributeProto {
    proto::AttributeProto { name: Some(name.into()), f: Some(f), r#type: Some(1), ..Default::default() }
}

fn attr_i(name: &str, i: i64) -> proto::AttributeProto {
    proto::AttributeProto { name: Some(name.into()), i: Some(i), r#type: Some(2), ..Default::default() }
}

/// A graph x -> nodes -> ..., with the given initializers; the input declared (N, 4).
fn model(nodes: Vec<proto::NodeProto>, inits: Vec<proto::TensorProto>) -> Vec<u8> {
    let bytes = export(
        &myelin_core::Topology::dense(
            &[4, 2],
            myelin_core::Activation::Relu,
            myelin_core::Activation::Relu,
            myelin_core::Loss::Mse,
        )
        .unwrap(),
        &[0.0; 10],
        None,
        &Default::default(),
    )
    .unwrap();
    let mut m = proto::ModelProto::decode(&bytes[..]).unwrap();
    let g = m.graph.as_mut().unwrap();
    g.node = nodes;
    g.initializer = inits;
    m.encode_to_vec()
}

#[test]
fn every_unsupported_node_is_named_at_once() {
    let w = || float_tensor("w", &[3, 4], vec![0.5; 12]);
    let bytes = model(
        vec![
            node("Gemm", "fc1", &["x", "w"], "h", vec![attr_i("transB", 1)]),
            node("LeakyRelu", "leaky", &["h"], "a", vec![attr_f("alpha", 0.2)]),
            node("Conv", "conv", &["a"], "c", vec![]),
            node("Softmax", "soft", &["c"], "y", vec![attr_i("axis", 0)]),
            node("BatchNormalization", "bn", &["x"], "unused", vec![]),
        ],
        vec![w()],
    );
    let Err(OnnxError::Unsupported(list)) = import(&bytes) else { panic!("must be refused") };
    let named: Vec<(&str, &str)> = list.iter().map(|u| (u.node.as_str(), u.op.as_str())).collect();
    for want in [("leaky", "LeakyRelu"), ("conv", "Conv"), ("soft", "Softmax"), ("bn", "BatchNormalization")] {
        assert!(named.contains(&want), "{want:?} missing from {named:?}");
    }
    let text = OnnxError::Unsupported(list.clone()).to_string();
    assert!(text.contains("alpha 0.2") && text.contains("slope 0.01"), "{text}");
    assert!(text.contains("operator Conv is not supported"), "{text}");
    assert!(text.contains("axis 0"), "{text}");
    assert!(!named.contains(&("fc1", "Gemm")), "a supported node is not listed: {named:?}");
}

#[test]
fn branches_external_data_and_bad_tensors_are_refused_with_typed_errors() {
    let w = float_tensor("w", &[2, 4], vec![0.5; 8]);
    let branch = model(
        vec![
            node("Gemm", "a", &["x", "w"], "h", vec![attr_i("transB", 1)]),
            node("Relu", "r1", &["h"], "y", vec![]),
            node("Tanh", "r2", &["h"], "z", vec![]),
        ],
        vec![w.clone()],
    );
    let Err(OnnxError::Unsupported(list)) = import(&branch) else { panic!("a branch must be refused") };
    assert!(list.iter().any(|u| u.why.contains("branches")), "{list:?}");

    let mut external = w.clone();
    external.data_location = Some(1);
    external.float_data.clear();
    let bytes = model(vec![node("Gemm", "a", &["x", "w"], "y", vec![attr_i("transB", 1)])], vec![external]);
    assert_eq!(import(&bytes).unwrap_err(), OnnxError::ExternalData { name: "w".into() });

    let short = float_tensor("w", &[2, 4], vec![0.5; 7]);
    let bytes = model(vec![node("Gemm", "a", &["x", "w"], "y", vec![attr_i("transB", 1)])], vec![short]);
    assert!(matches!(import(&bytes), Err(OnnxError::Tensor { .. })), "{:?}", import(&bytes).err());

    let huge = float_tensor("w", &[1 << 40, 1 << 40], vec![]);
    let bytes = model(vec![node("Gemm", "a", &["x", "w"], "y", vec![attr_i("transB", 1)])], vec![huge]);
    assert!(matches!(import(&bytes), Err(OnnxError::Tensor { .. })));

    let wrong_width = float_tensor("w", &[2, 5], vec![0.5; 10]);
    let bytes = model(vec![node("Gemm", "a", &["x", "w"], "y", vec![attr_i("transB", 1)])], vec![wrong_width]);
    let Err(OnnxError::Unsupported(list)) = import(&bytes) else { panic!("5 inputs against 4 features") };
    assert!(list[0].why.contains("takes 5 features"), "{list:?}");

    assert!(matches!(import(b"not a protobuf at all"), Err(OnnxError::Decode(_))));
    assert!(matches!(import(&[]), Err(OnnxError::NoGraph)));
}

#[test]
fn damaged_fixtures_never_panic() {
    // Every single-bit flip in the first 4 KiB and every truncation of the small model: an
    // error or a model, never a panic.
    let bytes = std::fs::read(fixture("mixed_torch.onnx")).unwrap();
    let mut flipped = bytes.clone();
    let mut outcomes = (0, 0);
    for bit in 0..(bytes.len().min(4096) * 8) {
        flipped[bit / 8] ^= 1 << (bit % 8);
        match import(&flipped) {
            Ok(_) => outcomes.0 += 1,
            Err(_) => outcomes.1 += 1,
        }
        flipped[bit / 8] ^= 1 << (bit % 8);
    }
    for len in 0..bytes.len() {
        let _ = import(&bytes[..len]);
    }
    assert!(outcomes.1 > 0, "some flips must be refused: {outcomes:?}");
}

#[test]
fn export_then_import_gives_the_same_model_bits() {
    for name in ["mixed_torch", "tanh3_torch", "digits_sklearn"] {
        let m = imported(name);
        let bytes = export(&m.topology, &m.params, m.standardizer.as_ref(), &m.meta).unwrap();
        let back = import(&bytes).unwrap();
        assert_eq!(back.topology, m.topology, "{name}");
        assert!(back.params.iter().zip(&m.params).all(|(a, b)| a.to_bits() == b.to_bits()), "{name}");
        assert_eq!(back.standardizer, m.standardizer, "{name}");
        assert_eq!(back.meta.classes, m.meta.classes, "{name}");
        assert!(back.notes.is_empty(), "{name}: {:?}", back.notes);
    }
}
