"""Wrote s5.inr / s5.npy with latent-grid stream version 5 (context model, the warm start's skip and
neighbour prediction; weights and basis coded as version 1 to 5 did), at commit cb6b103 (run from that tree).

    python tests/data/latent_grid_v5/make_streams.py
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
    (here / "s5.inr").write_bytes(data)
    np.save(here / "s5.npy", compress.decode(data).to_numpy())
