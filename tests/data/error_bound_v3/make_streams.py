"""Wrote e4.inr / e4.npy with error-bound stream version 3, at commit 63120b7 (run from that tree).

    python tests/data/error_bound_v3/make_streams.py
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
