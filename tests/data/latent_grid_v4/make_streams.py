"""Wrote s4.inr / s4.npy with latent-grid stream version 4 (context model and the warm start's skip, no
neighbour prediction), at commit c5a6ea0 (run from that tree).

    python tests/data/latent_grid_v4/make_streams.py
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
    (here / "s4.inr").write_bytes(data)
    np.save(here / "s4.npy", compress.decode(data).to_numpy())
