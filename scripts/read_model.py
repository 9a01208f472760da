#!/usr/bin/env python3
"""A reader for myelin model files, written from docs/model-format.md, with numpy only:
version 1 (float32) and version 2 (int8).

    python3 scripts/read_model.py MODEL [INPUT.npy|INPUT.csv]

Prints the topology; with inputs (rows of raw features), prints the outputs as CSV.
As a module: `load(path)` returns a dict (`"int8": True` for version 2), `forward(model, x)`
evaluates either kind; `int8_logits(model, x)` gives an int8 model's last-layer
pre-activations, computed from the format's definition in integers and float32.
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
    if version == 2:
        return load_int8(b)
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


MODES = {0: "clamp", 1: "table", 2: "dequantize"}


def load_int8(b):
    """A version 2 file (its CRC already checked): header, layer table, then every section."""
    flags, header, data, nlayers, loss, in_zero, r0, inputs, in_scale, r1 = struct.unpack_from("<HIIBBbBIfI", b, 6)
    if flags & ~3 or r0 or r1:
        raise FormatError("reserved bits set")
    bound = 63 if flags & 2 else 127  # bit 1: every weight in -63..=63
    if not 1 <= nlayers <= 8 or header != 32 + 12 * nlayers or len(b) != header + data + 4:
        raise FormatError("bad layer count, header or data length")
    if loss not in LOSSES or not (np.isfinite(in_scale) and in_scale > 0):
        raise FormatError("bad loss or input scale")
    entries = [struct.unpack_from("<IBBbbf", b, 32 + 12 * l) for l in range(nlayers)]
    at = header

    def take(dtype, n, pad=False):
        nonlocal at
        a = np.frombuffer(b, dtype=dtype, count=n, offset=at)
        at += a.nbytes
        if pad:
            extra = (-a.nbytes) % 4
            if any(b[at:at + extra]):
                raise FormatError("non-zero padding")
            at += extra
        return a

    k = 1 if flags & 1 else inputs
    mean, factor = take("<f4", k), take("<f4", k)
    layers, sizes, acts = [], [inputs], []
    for l, (outputs, code, mode, pre_zero, out_zero, out_scale) in enumerate(entries):
        if code not in ACTIVATIONS or mode not in MODES or (mode == 2) != (l == nlayers - 1):
            raise FormatError(f"layer {l}: bad activation {code} or mode {mode}")
        n, m = sizes[-1], outputs
        L = {"mode": MODES[mode], "pre_zero": pre_zero, "out_zero": out_zero, "out_scale": out_scale}
        L["W"] = take("i1", n * m, pad=True).reshape(m, n)
        if (np.abs(L["W"].astype(np.int32)) > bound).any():
            raise FormatError(f"layer {l}: weight beyond -{bound}..={bound}")
        L["bias"], L["acc_scale"] = take("<i4", m), take("<f4", m)
        if mode != 2:
            L["multiplier"], L["shift"] = take("<i4", m), take("i1", m, pad=True)
            if ((L["multiplier"] != 0) & (L["multiplier"] < 1 << 30)).any() or (np.abs(L["shift"]) > 31).any():
                raise FormatError(f"layer {l}: multiplier or shift out of range")
        if mode == 1:
            L["table"] = take("i1", 256)
        layers.append(L)
        sizes.append(m)
        acts.append(ACTIVATIONS[code])
    if at != header + data:
        raise FormatError("length mismatch")
    return {"int8": True, "sizes": sizes, "activations": acts, "loss": LOSSES[loss], "mean": mean, "factor": factor,
            "input_zero": in_zero, "input_scale": in_scale, "layers": layers}


def round_half_away(v):
    """C's round of float32 values (halves away from zero), saturated to int32; NaN is 0."""
    v = np.asarray(v, dtype=np.float32)
    t = np.trunc(v)
    frac = (v - t).astype(np.float32)
    r = t.astype(np.float64) + (frac >= 0.5) - (frac <= -0.5)
    r = np.where(np.isnan(v), 0, r)
    return np.clip(r, -2.0 ** 31, 2.0 ** 31 - 1).astype(np.int64)


def wrap32(v):
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def requantize(acc, mult, shift):
    """TFLM's MultiplyByQuantizedMultiplier, vectorized over int64 arrays (per output)."""
    left = np.where(shift > 0, shift, 0)
    right = np.where(shift > 0, 0, -shift)
    x = wrap32(acc << np.minimum(left, 31))
    sat = (x == -(1 << 31)) & (mult == -(1 << 31))
    high = np.where(sat, (1 << 31) - 1, (x * mult + (1 << 30)) >> 31)
    mask = (np.int64(1) << right) - 1
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + ((high & mask) > threshold)


def int8_logits(model, x):
    """An int8 model's dequantized last-layer pre-activations (float32) for raw features x."""
    x = np.asarray(x, dtype=np.float32)
    v = (x - model["mean"]).astype(np.float32) * model["factor"]
    q = np.clip(round_half_away(v) + model["input_zero"], -128, 127)
    zero = model["input_zero"]
    for L, name in zip(model["layers"], model["activations"]):
        acc = wrap32(L["bias"].astype(np.int64) + (q - zero) @ L["W"].T.astype(np.int64))
        if L["mode"] == "dequantize":
            return acc.astype(np.float32) * L["acc_scale"]
        mult, shift = L["multiplier"].astype(np.int64), L["shift"].astype(np.int64)
        if L["mode"] == "clamp":
            lo = L["out_zero"] if name == "relu" else -128
            q = np.clip(requantize(acc, mult, shift) + L["out_zero"], lo, 127)
        else:
            p = np.clip(requantize(acc, mult, shift) + L["pre_zero"], -128, 127)
            q = L["table"][p + 128].astype(np.int64)
        zero = L["out_zero"]
    raise FormatError("no dequantizing layer")


def forward(model, x):
    """Outputs for rows of raw features x (float64 arithmetic; int8 models: their logits
    from the integer definition, then the last activation in float64)."""
    if model.get("int8"):
        return act(model["activations"][-1], int8_logits(model, x).astype(np.float64))
    y = np.asarray(x, dtype=np.float64)
    if model["mean"] is not None:
        y = (y - model["mean"]) / model["std"]
    for (W, b), name in zip(model["layers"], model["activations"]):
        y = act(name, y @ W.T.astype(np.float64) + b)
    return y


def main():
    m = load(sys.argv[1])
    kind = "int8 " if m.get("int8") else ""
    print(f"# {kind}sizes {m['sizes']} activations {m['activations']} loss {m['loss']}", file=sys.stderr)
    if len(sys.argv) > 2:
        src = sys.argv[2]
        x = np.load(src) if src.endswith(".npy") else np.loadtxt(src, delimiter=",", ndmin=2)
        for row in forward(m, x):
            print(",".join(repr(float(v)) for v in row))


if __name__ == "__main__":
    main()
