"""The spectral side shared by HINER's basis and latent modes: bands over their peak, centred, and their PCA.

Both modes store the same per-band numbers (a float16 log2 peak and a
float16 mean) and compute the basis from the cube the decoder will rebuild,
so they share this one computation.
"""

from __future__ import annotations

import numpy as np


def peak_normalise(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log2 peak as float16, band means as float16, centred bands (B, N) float64) of a (B, ...) cube.

    Bands are divided by the float16-rounded power of their peak, so decode
    scales by exactly what the stream holds; an all-zero band keeps scale 1.
    """
    flat = data.reshape(data.shape[0], -1).astype(np.float64)
    peak = np.abs(flat).max(axis=1)
    log2_scale = np.log2(np.where(peak > 0, peak, 1.0)).astype(np.float16)
    xs = flat / np.exp2(log2_scale.astype(np.float64))[:, None]
    mean16 = xs.mean(axis=1).astype(np.float16)
    return log2_scale, mean16, xs - mean16.astype(np.float64)[:, None]


def principal_basis(centred: np.ndarray, components: int) -> np.ndarray:
    """The first ``components`` principal directions of ``centred`` (B, N), as rows (k, B)."""
    eigval, eigvec = np.linalg.eigh(centred @ centred.T)
    return eigvec[:, np.argsort(eigval)[::-1][:components]].T
