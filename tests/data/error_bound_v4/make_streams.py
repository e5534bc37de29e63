"""Wrote e4.inr / e4.npy and e16.inr / e16.npy with error-bound stream version 4, on top of commit 63120b7.

e16 is a larger noisy scene: its passes are coded in several chunks, its bands at several levels.

    python tests/data/error_bound_v4/make_streams.py
"""

from pathlib import Path

import numpy as np

from torchgeo_inr import compress
from torchgeo_inr.registry import get_codec

if __name__ == "__main__":
    import sys

    here = Path(__file__).parent
    sys.path.insert(0, str(here.parents[1]))
    from conftest import synthetic_cube

    data = get_codec("error-bound", max_error=4, lossy=None).encode(synthetic_cube(4, 12, 10, seed=7), progress=False)
    (here / "e4.inr").write_bytes(data)
    np.save(here / "e4.npy", compress.decode(data).to_numpy())
    cube = synthetic_cube(3, 40, 36, seed=9)
    cube[1] = np.clip(cube[1] + np.random.default_rng(3).normal(0, 300, cube[1].shape), 0, 65535).astype(np.uint16)
    data = get_codec("error-bound", max_error=16, lossy=None).encode(cube, progress=False)
    (here / "e16.inr").write_bytes(data)
    np.save(here / "e16.npy", compress.decode(data).to_numpy())
