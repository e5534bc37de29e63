#!/usr/bin/env python3
"""Write a tiny fake Pavia Centre: a 10 x 8 x 102 cube and a ground truth with 3 pixels per class."""

import hashlib

import numpy as np
import scipy.io

HEIGHT, WIDTH, BANDS, CLASSES, PIXELS_PER_CLASS = 10, 8, 102, 9, 3

rng = np.random.default_rng(0)
rows, cols, bands = np.meshgrid(np.arange(HEIGHT), np.arange(WIDTH), np.arange(BANDS), indexing="ij")
cube = 500 + 30 * bands + 20 * rows + 40 * cols + rng.integers(0, 8, size=rows.shape)
labels = np.zeros(HEIGHT * WIDTH, dtype=np.uint8)
labels[: CLASSES * PIXELS_PER_CLASS] = np.repeat(np.arange(1, CLASSES + 1), PIXELS_PER_CLASS)
labels = rng.permutation(labels).reshape(HEIGHT, WIDTH)

files = {
    "Pavia.mat": {"pavia": cube.astype(np.uint16)},
    "Pavia_gt.mat": {"pavia_gt": labels},
}
for filename, variables in files.items():
    scipy.io.savemat(filename, variables, do_compression=True)
    with open(filename, "rb") as f:
        print(filename, hashlib.sha256(f.read()).hexdigest())
