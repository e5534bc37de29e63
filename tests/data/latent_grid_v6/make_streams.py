"""Wrote s6.inr / s6.npy with latent-grid stream version 6 (context model on a checkerboard's two passes, the
warm start's skip, neighbour prediction, compact side information), at commit 43b132d (run from that tree).

    python tests/data/latent_grid_v6/make_streams.py
"""

from pathlib import Path

import numpy as np

from torchgeo_inr import compress

if __name__ == "__main__":
    import sys

    here = Path(__file__).parent
    sys.path.insert(0, str(here.parents[1]))
    from conftest import synthetic_cube

    data = compress.encode(synthetic_cube(8, 24, 20, seed=3), "latent-grid", bpppb=4.0, steps=40, progress=False)
    (here / "s6.inr").write_bytes(data)
    np.save(here / "s6.npy", compress.decode(data).to_numpy())
