//! Weight initialization. Biases start at zero; weights are drawn so that the variance of
//! activations is preserved layer to layer:
//!
//! - Xavier/Glorot (sigmoid, tanh): `Var(W) = 2 / (fan_in + fan_out)`; uniform limit
//!   `sqrt(6 / (fan_in + fan_out))`.
//! - He (ReLU family): `Var(W) = 2 / fan_in`; uniform limit `sqrt(6 / fan_in)`.

use crate::error::{check_len, part_mut, Buffer, Error};
use crate::rng::Rng;
use crate::topology::Topology;

/// A weight initialization scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Init {
    /// Uniform in `±sqrt(6 / (fan_in + fan_out))`.
    XavierUniform,
    /// Normal with std `sqrt(2 / (fan_in + fan_out))`.
    XavierNormal,
    /// Uniform in `±sqrt(6 / fan_in)`.
    HeUniform,
    /// Normal with std `sqrt(2 / fan_in)`.
    HeNormal,
}

impl Init {
    /// Parses `xavier`, `xavier-normal`, `he`, `he-normal`.
    pub fn from_name(s: &str) -> Option<Init> {
        Some(match s {
            "xavier" | "glorot" | "xavier-uniform" => Init::XavierUniform,
            "xavier-normal" | "glorot-normal" => Init::XavierNormal,
            "he" | "he-uniform" | "kaiming" => Init::HeUniform,
            "he-normal" | "kaiming-normal" => Init::HeNormal,
            _ => return None,
        })
    }

    /// The usual choice for a hidden activation: He for the ReLU family, Xavier otherwise.
    pub fn for_activation(act: crate::Activation) -> Init {
        match act {
            crate::Activation::Relu | crate::Activation::LeakyRelu => Init::HeUniform,
            _ => Init::XavierUniform,
        }
    }
}

impl Topology {
    /// Fills `params` with `init` weights (in arena order, row-major) and zero biases.
    pub fn init_params(&self, params: &mut [f32], init: Init, rng: &mut Rng) -> Result<(), Error> {
        check_len(Buffer::Params, self.params_len(), params.len())?;
        let mut off = 0;
        for layer in self.layers() {
            let (fi, fo) = (layer.inputs as f32, layer.outputs as f32);
            let nw = layer.inputs * layer.outputs;
            let (w, bias) = part_mut(Buffer::Params, params, off, nw + layer.outputs)?.split_at_mut(nw);
            match init {
                Init::XavierUniform | Init::HeUniform => {
                    let lim = libm::sqrtf(6.0 / if init == Init::HeUniform { fi } else { fi + fo });
                    w.iter_mut().for_each(|v| *v = rng.uniform_in(-lim, lim));
                }
                Init::XavierNormal | Init::HeNormal => {
                    let std = libm::sqrtf(2.0 / if init == Init::HeNormal { fi } else { fi + fo });
                    w.iter_mut().for_each(|v| *v = std * rng.normal());
                }
            }
            bias.fill(0.0);
            off += nw + layer.outputs;
        }
        Ok(())
    }
}
