#!/usr/bin/env python3
"""Write a tiny fake Indian Pines: a 10 x 8 x 200 cube and a ground truth with 3 pixels per class."""

import hashlib

import numpy as np
import scipy.io

HEIGHT, WIDTH, BANDS, CLASSES, PIXELS_PER_CLASS = 10, 8, 200, 16, 3

rng = np.random.default_rng(0)
rows, cols, bands = np.meshgrid(np.arange(HEIGHT), np.arange(WIDTH), np.arange(BANDS), indexing="ij")
cube = 1000 + 20 * bands + 50 * rows + 30 * cols + rng.integers(0, 8, size=rows.shape)
labels = np.zeros(HEIGHT * WIDTH, dtype=np.uint8)
labels[: CLASSES * PIXELS_PER_CLASS] = np.repeat(np.arange(1, CLASSES + 1), PIXELS_PER_CLASS)
labels = rng.permutation(labels).reshape(HEIGHT, WIDTH)

files = {
    "Indian_pines_corrected.mat": {"indian_pines_corrected": cube.astype(np.uint16)},
    "Indian_pines_gt.mat": {"indian_pines_gt": labels},
}
for filename, variables in files.items():
    scipy.io.savemat(filename, variables, do_compression=True)
    with open(filename, "rb") as f:
        print(filename, hashlib.md5(f.read()).hexdigest())
