#!/usr/bin/env python3
"""Replays myelin's fast training path in plain numpy (float64, textbook backprop) and checks
that the loss agrees within 1e-4 at every one of the first 100 steps.

    python3 scripts/numpy_equivalence.py DIR     (DIR written by the equivalence_dump example)
"""
import sys

import numpy as np

d = sys.argv[1] if len(sys.argv) > 1 else "target/equivalence"
p = np.fromfile(f"{d}/params0.f32", dtype="<f4").astype(np.float64)
x = np.fromfile(f"{d}/x.f32", dtype="<f4").astype(np.float64).reshape(-1, 784)
y = np.fromfile(f"{d}/y.u8", dtype=np.uint8).astype(np.int64)
theirs = np.fromfile(f"{d}/losses.f32", dtype="<f4").astype(np.float64)
final = np.fromfile(f"{d}/params_final.f32", dtype="<f4").astype(np.float64)

# myelin's arena: W1 (128 x 784) row-major, b1, W2 (10 x 128), b2.
o = 0
W1 = p[o:o + 128 * 784].reshape(128, 784); o += 128 * 784
b1 = p[o:o + 128]; o += 128
W2 = p[o:o + 10 * 128].reshape(10, 128); o += 1280
b2 = p[o:o + 10]
W1, b1, W2, b2 = (a.copy() for a in (W1, b1, W2, b2))

worst = 0.0
B = 64
for s, their in enumerate(theirs):
    xb, yb = x[s * B:(s + 1) * B], y[s * B:(s + 1) * B]
    h = np.maximum(xb @ W1.T + b1, 0.0)
    z = h @ W2.T + b2
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    prob = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(prob[np.arange(B), yb]))
    diff = abs(loss - their)
    worst = max(worst, diff)
    if diff > 1e-4:
        print(f"step {s}: numpy loss {loss:.7f}, myelin {their:.7f}, |diff| {diff:.2e} > 1e-4")
        sys.exit(1)
    d2 = prob.copy()
    d2[np.arange(B), yb] -= 1.0
    d2 /= B
    gW2, gb2 = d2.T @ h, d2.sum(axis=0)
    d1 = (d2 @ W2) * (h > 0)
    gW1, gb1 = d1.T @ xb, d1.sum(axis=0)
    W1 -= 0.1 * gW1; b1 -= 0.1 * gb1; W2 -= 0.1 * gW2; b2 -= 0.1 * gb2

mine = np.concatenate([W1.ravel(), b1, W2.ravel(), b2])
pdiff = np.abs(mine - final).max()
print(f"{len(theirs)} steps: max |loss_numpy - loss_myelin| = {worst:.2e} (bound 1e-4); "
      f"max |w_numpy - w_myelin| after the last step = {pdiff:.2e}")
sys.exit(0 if pdiff < 1e-3 else 1)
