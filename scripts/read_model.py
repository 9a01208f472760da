#!/usr/bin/env python3
"""A reader for myelin model files, written from docs/model-format.md, with numpy only.

    python3 scripts/read_model.py MODEL [INPUT.npy|INPUT.csv]

Prints the topology; with inputs (rows of raw features), prints the outputs as CSV.
As a module: `load(path)` returns a dict, `forward(model, x)` evaluates it.
"""
import struct
import sys
import zlib

import numpy as np

ACTIVATIONS = {0: "identity", 1: "sigmoid", 2: "tanh", 3: "relu", 4: "leaky-relu", 5: "softmax"}
LOSSES = {0: "sse", 1: "mse", 2: "bce", 3: "cross-entropy"}


class FormatError(ValueError):
    pass


def load(path):
    b = open(path, "rb").read()
    if b[:4] != b"MYLN":
        raise FormatError("bad magic")
    if len(b) < 36:
        raise FormatError("truncated")
    if zlib.crc32(b[:-4]) != struct.unpack("<I", b[-4:])[0]:
        raise FormatError("checksum mismatch")
    version, flags, header, nparams, nlayers, loss, reserved, inputs = struct.unpack_from("<HHIIBBHI", b, 4)
    if version != 1:
        raise FormatError(f"unsupported version {version}")
    if flags & ~1 or reserved:
        raise FormatError("reserved bits set")
    if not 1 <= nlayers <= 8 or header != 24 + 8 * nlayers:
        raise FormatError("bad layer count or header length")
    sizes, acts = [inputs], []
    for l in range(nlayers):
        outputs, code, r0, r1, r2 = struct.unpack_from("<IBBBB", b, 24 + 8 * l)
        if code not in ACTIVATIONS or (r0, r1, r2) != (0, 0, 0):
            raise FormatError(f"layer {l}: bad activation code {code} or reserved bytes")
        sizes.append(outputs)
        acts.append(ACTIVATIONS[code])
    if loss not in LOSSES:
        raise FormatError(f"unknown loss {loss}")
    expected = sum(a * c + c for a, c in zip(sizes[:-1], sizes[1:]))
    if nparams != expected:
        raise FormatError("parameter count mismatch")
    s = 2 * inputs if flags & 1 else 0
    if len(b) != header + 4 * (s + nparams) + 4:
        raise FormatError("length mismatch")
    floats = np.frombuffer(b, dtype="<f4", count=s + nparams, offset=header)
    mean = std = None
    if s:
        mean, std = floats[:inputs], floats[inputs:s]
    layers, off = [], s
    for a, c in zip(sizes[:-1], sizes[1:]):
        W = floats[off:off + a * c].reshape(c, a)
        bias = floats[off + a * c:off + a * c + c]
        layers.append((W, bias))
        off += a * c + c
    return {"sizes": sizes, "activations": acts, "loss": LOSSES[loss], "mean": mean, "std": std, "layers": layers}


def act(name, z):
    if name == "identity":
        return z
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky-relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def forward(model, x):
    """Outputs for rows of raw features x (float64 arithmetic)."""
    y = np.asarray(x, dtype=np.float64)
    if model["mean"] is not None:
        y = (y - model["mean"]) / model["std"]
    for (W, b), name in zip(model["layers"], model["activations"]):
        y = act(name, y @ W.T.astype(np.float64) + b)
    return y


def main():
    m = load(sys.argv[1])
    print(f"# sizes {m['sizes']} activations {m['activations']} loss {m['loss']}", file=sys.stderr)
    if len(sys.argv) > 2:
        src = sys.argv[2]
        x = np.load(src) if src.endswith(".npy") else np.loadtxt(src, delimiter=",", ndmin=2)
        for row in forward(m, x):
            print(",".join(repr(float(v)) for v in row))


if __name__ == "__main__":
    main()
