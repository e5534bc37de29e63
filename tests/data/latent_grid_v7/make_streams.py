"""Wrote s7.inr / s7.npy with latent-grid stream version 7 (context model on a lattice of three passes, the
warm start's skip, neighbour prediction, compact side information), at commit 5736490 (run from that tree).

    python tests/data/latent_grid_v7/make_streams.py
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
    (here / "s7.inr").write_bytes(data)
    np.save(here / "s7.npy", compress.decode(data).to_numpy())
