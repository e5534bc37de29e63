"""The latent-grid codec's spectral side: bands over their peak, centred, and their PCA.

The stream stores the per-band numbers (a float16 log2 peak and a float16
mean) and the basis is computed from the cube the decoder will rebuild.
"""

from __future__ import annotations

import numpy as np

#: Octaves a band's weight may move either way.
MAX_TILT = 4.0


def peak_normalise(data: np.ndarray, tilt: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log2 scale as float16, band means as float16, centred bands (B, N) float64) of a (B, ...) cube.

    Bands are divided by the float16-rounded power of their peak (times
    ``2**-tilt``, see :func:`truncation_tilt`), so decode scales by exactly
    what the stream holds; an all-zero band keeps scale 1.
    """
    flat = data.reshape(data.shape[0], -1).astype(np.float64)
    peak = np.abs(flat).max(axis=1)
    log2_peak = np.log2(np.where(peak > 0, peak, 1.0))
    log2_scale = (log2_peak - (0.0 if tilt is None else tilt)).astype(np.float16)
    xs = flat / np.exp2(log2_scale.astype(np.float64))[:, None]
    mean16 = xs.mean(axis=1).astype(np.float16)
    return log2_scale, mean16, xs - mean16.astype(np.float64)[:, None]


def principal_basis(centred: np.ndarray, components: int) -> np.ndarray:
    """The first ``components`` principal directions of ``centred`` (B, N), as rows (k, B)."""
    eigval, eigvec = np.linalg.eigh(centred @ centred.T)
    return eigvec[:, np.argsort(eigval)[::-1][:components]].T


def truncation_tilt(data: np.ndarray, components: int, iterations: int = 3, power: float = 0.5) -> np.ndarray:
    """Per-band log2 weights for the PCA that raise the mean per-band PSNR of its truncation.

    The metric is a mean of per-band log errors, so a band already well
    represented gains most from a little more of the basis: bands are scaled
    up where their truncation error (plus a floor standing for the coding
    error, the truncation's geometric mean) is below the geometric mean, down
    where above. Three half steps: the floor stops the drift towards spending
    whole components on single bands. The weights cost nothing in the stream:
    they fold into the per-band scale it already holds.
    """
    flat = data.reshape(data.shape[0], -1).astype(np.float64)
    peak = np.abs(flat).max(axis=1)
    normalised = flat / np.where(peak > 0, peak, 1.0)[:, None]
    tilt, floor = np.zeros(len(flat)), None
    for _ in range(iterations):
        scaled = normalised * np.exp2(tilt)[:, None]
        centred = scaled - scaled.mean(axis=1, keepdims=True)
        basis = principal_basis(centred, components)
        residual = centred - basis.T @ (basis @ centred)
        mse = (residual**2).mean(axis=1) / np.exp2(2 * tilt)
        if floor is None:  # bands the basis holds exactly (constant, or fewer bands than components) set no floor
            exact = mse <= 1e-20
            floor = float(np.exp(np.mean(np.log(mse[~exact])))) if (~exact).any() else 1.0
        err = mse + floor
        tilt = tilt - power * 0.5 * np.log2(err / np.exp(np.mean(np.log(err))))
    return np.clip(tilt, -MAX_TILT, MAX_TILT)
