#!/usr/bin/env python3
"""Write a tiny fake Cuprite in the X / nRow / nCol / SlectBands layout: 188 bands of 6 x 5 pixels."""

import hashlib

import numpy as np
import scipy.io

ROWS, COLS = 6, 5
# 188 of the 224 AVIRIS bands (1-based), without the water-absorption and noisiest ones.
SELECTED = np.setdiff1d(np.arange(1, 225), np.r_[1:3, 104:114, 148:168, 221:225])

rng = np.random.default_rng(0)
# Pixels in MATLAB column-major order: pixel p is row p % ROWS, column p // ROWS.
pixels = np.arange(ROWS * COLS)
X = 0.1 + 0.001 * SELECTED[:, None] + 0.01 * pixels[None, :]
X += rng.uniform(0, 1e-3, X.shape)

filename = "Cuprite_f970619t01p02_r02_sc03.a.rfl.mat"
scipy.io.savemat(
    filename,
    {
        "X": X.astype(np.float32),
        "nRow": np.array(ROWS),
        "nCol": np.array(COLS),
        "SlectBands": SELECTED[:, None],
    },
    do_compression=True,
)
with open(filename, "rb") as f:
    print(filename, hashlib.sha256(f.read()).hexdigest())
