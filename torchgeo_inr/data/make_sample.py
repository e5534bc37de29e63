#!/usr/bin/env python3
"""Write ``indian_pines_sample.npz``: the crop of Indian Pines that ships as the built-in sample.

Kept in the repository so that the sample can be rebuilt and checked from the
public file. Usage::

    python torchgeo_inr/data/make_sample.py path/to/Indian_pines_corrected.mat
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from torchgeo_inr.datasets.hyperspectral import read_mat_variable
from torchgeo_inr.datasets.wavelengths import indian_pines_wavelengths

VARIABLE = "indian_pines_corrected"
#: Crop window (0-based, end excluded): 56 x 56 pixels keep the file under 1 MB with all 200 bands.
ROWS = slice(16, 72)
COLS = slice(16, 72)
MAX_BYTES = 1_000_000
OUT = Path(__file__).with_name("indian_pines_sample.npz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mat", type=Path, help="Indian_pines_corrected.mat (145 x 145 x 200, uint16)")
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args()

    cube = read_mat_variable(args.mat, VARIABLE)  # (H, W, B) uint16
    crop = np.ascontiguousarray(np.moveaxis(cube[ROWS, COLS], -1, 0))  # (B, H, W)
    wavelengths = indian_pines_wavelengths()
    if crop.dtype != np.uint16 or crop.shape[0] != wavelengths.size:
        raise SystemExit(f"unexpected cube: {crop.dtype} {crop.shape}, expected uint16 with {wavelengths.size} bands")
    np.savez_compressed(args.out, data=crop, wavelengths=wavelengths)
    size = args.out.stat().st_size
    print(f"wrote {args.out}: {crop.shape} {crop.dtype}, {size} bytes")
    if size >= MAX_BYTES:
        raise SystemExit(f"{args.out} is {size} bytes; the sample must stay under {MAX_BYTES}")


if __name__ == "__main__":
    main()
