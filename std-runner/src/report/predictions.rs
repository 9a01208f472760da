//! Predictions as CSV: a header naming each output (`p_<class>` or `out<j>`), then one row
//! per sample, led by the predicted class for classifiers.

use crate::io::modelfile::Saved;
use myelin_core::Activation;

/// The CSV text of `outputs` (samples, outputs of `model`).
pub fn csv(model: &Saved, outputs: &[f32]) -> String {
    let width = model.topology.outputs();
    let classes = &model.meta.classes;
    let classify = model.topology.output_activation() == Activation::Softmax || !classes.is_empty();
    let mut text = String::new();
    text += if classify { "prediction," } else { "" };
    text += &(0..width)
        .map(|j| classes.get(j).map_or(format!("out{j}"), |c| format!("p_{c}")))
        .collect::<Vec<_>>()
        .join(",");
    text.push('\n');
    for row in outputs.chunks_exact(width) {
        if classify {
            let c = myelin_core::argmax(row);
            text += &classes.get(c).cloned().unwrap_or_else(|| c.to_string());
            text.push(',');
        }
        text += &row.iter().map(|v| format!("{v}")).collect::<Vec<_>>().join(",");
        text.push('\n');
    }
    text
}
