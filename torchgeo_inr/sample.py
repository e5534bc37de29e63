"""The built-in sample scene: a 56 x 56 x 200 crop of AVIRIS Indian Pines (see ``data/README.md``).

It ships inside the package so that the demo, the docs and the tests can
compress real hyperspectral data without downloading anything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .scene import Scene

SAMPLE_PATH = Path(__file__).parent / "data" / "indian_pines_sample.npz"


def load_sample() -> Scene:
    """The sample as a uint16 scene with its band wavelengths (nm)."""
    with np.load(SAMPLE_PATH, allow_pickle=False) as npz:
        return Scene.from_array(npz["data"], wavelengths=npz["wavelengths"])
