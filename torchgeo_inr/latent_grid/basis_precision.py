"""The spectral basis's precision, chosen for rate and distortion with the fit's own trade-off.

Why: 8 bits a value for every row of the basis is a rule, and a poor one.
An error in row ``j`` costs in proportion to the power of its coefficients
(``m_j``), so the rows with little power were stored far more finely than
they earn, while at high rates on large scenes the whole basis was too
coarse (its error a few percent of the coding error, with bytes to spare).

The fit's loss is ``mean_b log MSE_b + lambda * bits / values``. Once its
rate has settled (:data:`~torchgeo_inr.latent_grid.fit.BASIS_AT` into the
fit, inside the noise phase), the fit knows ``lambda`` (the price of a bit in that loss)
and every band's MSE, so the basis is re-quantised there to the precision
that minimises the same loss: rows get steps ``g / sqrt(m_j)`` (equal
distortion per row) and ``g`` is chosen on a grid by *measuring* each
candidate, its real packed bytes and the error it adds to each band
(``f * sum_j m_j * err_jb**2``, where ``f = (B - k) / B``: the synthesis
absorbs the part of the error inside the basis's span). The rest of the
fit adapts the synthesis to the new basis and re-spends the bytes it frees
on the latents (when the basis was chosen as rounding started, those bytes
stayed unspent: the rounding phase barely moves the latents, and streams
ended 5 to 8% under their aim). The stream's layout is the same
(per-row steps were always stored), so decoders need nothing new.
"""

from __future__ import annotations

import math

import numpy as np

#: Candidates of the precision level ``g`` tried, log-spaced.
GRID = 40
#: The most bits a basis value may take: its centred symbols then span under the entropy coder's 2**16.
MAX_BITS = 14


def symbol_bits(basis: np.ndarray, steps: np.ndarray) -> int:
    """Bits that hold each row of ``basis`` (k, B) quantised with its step (zero point included)."""
    x = np.asarray(basis, dtype=np.float64)
    span = np.maximum(x.max(axis=1), 0.0) - np.minimum(x.min(axis=1), 0.0)
    return int(min(MAX_BITS, max(2, math.ceil(math.log2(float((span / steps).max()) + 2.0)))))


def finest_steps(basis: np.ndarray) -> np.ndarray:
    """The finest steps :data:`MAX_BITS` allow, per row."""
    x = np.asarray(basis, dtype=np.float64)
    span = np.maximum(x.max(axis=1), 0.0) - np.minimum(x.min(axis=1), 0.0)
    return np.maximum(span, 1e-30) / (2**MAX_BITS - 3)


def choose_steps(basis: np.ndarray, coeff_power: np.ndarray, band_mse: np.ndarray, lam: float, values: int,
                 pack, decode) -> tuple[np.ndarray | None, dict]:
    """Per-row steps for ``basis`` (k, B) that minimise the fit's loss, or None to keep what it has.

    ``coeff_power`` (k,): mean square of each row's coefficients; ``band_mse``
    (B,): the fit's per-band MSE now; ``lam``: its rate weight; ``values``:
    the scene's values; ``pack(steps)`` -> packed bytes (``steps`` None: the
    present packing) and ``decode(packed)`` -> the basis as decode reads it.
    Returns the steps and what was measured (for the encode's report).
    """
    x = np.asarray(basis, dtype=np.float64)
    k, bands = x.shape
    power = np.maximum(np.asarray(coeff_power, dtype=np.float64), 1e-30)
    mse = np.maximum(np.asarray(band_mse, dtype=np.float64), 1e-20)
    absorbed = max(bands - k, 1) / bands

    def added_mse(packed) -> np.ndarray:
        err = decode(packed) - x
        return absorbed * (power[:, None] * err**2).sum(axis=0)  # (B,)

    present = pack(None)
    # the fit's MSE holds the present basis's error: each candidate's replaces it
    mse = np.maximum(mse - added_mse(present), mse / 2)

    def loss(packed) -> tuple[float, float]:
        added = added_mse(packed)
        size = sum(len(v) for v in packed[1].values())
        return float(np.log(mse + added).mean() + lam * 8.0 * size / values), float(added.mean())

    best_loss, best_added = loss(present)
    start = (best_loss, best_added)
    best = None
    finest = finest_steps(x)
    # no row may round to nothing (the fit's components stay k): its largest value keeps a step of its own
    coarsest = np.maximum(np.abs(x).max(axis=1), finest)
    # g from the finest the symbols allow to where every row is at its coarsest
    g_low = float((finest * np.sqrt(power)).min())
    g_high = float((coarsest * np.sqrt(power)).max())
    for g in np.geomspace(max(g_low, 1e-30), max(g_high, g_low * 2), GRID):
        steps = np.clip(g / np.sqrt(power), finest, coarsest)
        candidate_loss, added = loss(pack(steps))
        if candidate_loss < best_loss:
            best_loss, best_added, best = candidate_loss, added, steps
    report = {"basis_loss_gain": round(start[0] - best_loss, 5), "basis_added_mse_ratio": round(
        best_added / float(mse.mean()), 5)}
    return best, report
