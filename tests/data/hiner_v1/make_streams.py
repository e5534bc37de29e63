"""Writes the ``hiner`` version-1 streams these tests decode (one per mode: latent, basis, plain).

Version 1 is no longer written by this package, so the streams were made once with torchgeo-inr at
commit e6dcab9 (``git worktree add /tmp/v1 e6dcab9 && PYTHONPATH=/tmp/v1 python make_streams.py``) and are
committed beside this script with the decode that version gave (``*.npy``), which tests compare bit for bit.
"""

from pathlib import Path

import numpy as np

import torchgeo_inr as tgi


def cube() -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:16] / 16
    spectra = rng.uniform(0.2, 1.0, size=(2, 6))
    values = np.einsum("kb,khw->bhw", spectra, np.stack([np.sin(3 * xx) ** 2, np.cos(2 * yy) ** 2]))
    return np.clip(1000 + 6000 * values, 0, 65535).astype(np.uint16)


if __name__ == "__main__":
    here = Path(__file__).parent
    options = {
        "latent": dict(mode="latent", steps=100, max_seconds=60),
        "basis": dict(mode="basis", spectral_basis=2, steps=40, fc_dim=8, embed_ch=2, lower_width=4),
        "plain": dict(mode="plain", spectral_basis=0, steps=40, fc_dim=8, embed_ch=2, lower_width=4),
    }
    for mode, opts in options.items():
        data = tgi.encode(cube(), "hiner", bpppb=40.0, progress=False, seed=1, **opts)
        (here / f"{mode}.inr").write_bytes(data)
        np.save(here / f"{mode}.npy", tgi.decode(data).to_numpy())
        print(mode, len(data), "bytes")
