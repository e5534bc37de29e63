"""The context model's integer side: stored weights and feature planes to scale indices, the same on every machine.

What encoder and decoder must compute bit for bit (see :mod:`~torchgeo_inr.latent_grid.context`), in
integers and without torch, so that a stream decodes with numpy alone.
"""

from __future__ import annotations

import numpy as np

#: Features per latent (parent, earlier channels, neighbours, predicted pass); a channel has one weight more (bias).
FEATURES = 4
#: The stored weights are multiples of 1 / UNITS (log2 units).
UNITS = 64
#: Scales are kept within 2**LOG2_RANGE[0] .. 2**LOG2_RANGE[1].
LOG2_RANGE = (-8, 15)
#: Scale indices per octave: index i stands for the scales in [2**(i / STEPS), 2**((i + 1) / STEPS)).
STEPS = 8


def log2_scales(weights, features: list):
    """log2 scale of each latent (C, h, w): weights (C, 1 + FEATURES) over the feature planes (numpy arrays, or
    torch tensors in training)."""
    out = weights[:, 0, None, None]
    for k, plane in enumerate(features, start=1):
        out = out + weights[:, k, None, None] * plane
    return out


def quantise_weights(weights: np.ndarray) -> np.ndarray:
    """Real weights as the stored integers (multiples of 1 / UNITS)."""
    return np.clip(np.round(np.asarray(weights, np.float64) * UNITS), -(2**15), 2**15 - 1).astype(np.int64)


def scale_indices(stored: np.ndarray, features: list[np.ndarray]) -> np.ndarray:
    """Scale indices (C, h, w) (integers, the same on every machine) from stored weights (C, 1 + FEATURES) and
    the integer feature planes."""
    units = log2_scales(stored, features)
    return np.clip(units // (UNITS // STEPS), LOG2_RANGE[0] * STEPS, LOG2_RANGE[1] * STEPS - 1)


def index_scale(index: int) -> float:
    """The Laplace scale a scale index codes with: its interval's geometric middle."""
    return 2.0 ** ((index + 0.5) / STEPS)
