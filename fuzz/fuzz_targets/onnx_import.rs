//! Any bytes into the ONNX importer: an error or a network whose parameters fit its
//! topology, and an export of it that imports again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin::io::onnx::{export, import};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = import(data) {
        assert_eq!(m.params.len(), m.topology.params_len());
        if let Some(s) = &m.standardizer {
            assert_eq!((s.mean.len(), s.std.len()), (m.topology.inputs(), m.topology.inputs()));
        }
        let bytes = export(&m.topology, &m.params, m.standardizer.as_ref(), &m.meta).expect("export");
        let back = import(&bytes).expect("an exported model imports");
        assert_eq!(back.topology, m.topology);
    }
});
