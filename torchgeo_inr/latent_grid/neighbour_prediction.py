"""Second-pass latents coded against a prediction from their four decoded neighbours (stream version 5).

Why: the context model (:mod:`~torchgeo_inr.latent_grid.context`) predicts
each latent's Laplace *scale*, always around zero; but the leading
full-resolution channels are the scene's coefficient images (the warm
start's skip), as smooth as the scene, and a second-pass latent's four
neighbours are all decoded before it. Measured on Indian Pines streams
(300-step fits): coding each second-pass latent minus its neighbours' mean
cuts their zero-order entropy by 18% at 0.2 bpppb (first three channels 21 to
39%), 5% at 1.0. Noise-like channels would lose (a mean of four independent
neighbours adds a quarter of their variance), so each channel has its own
weight on the mean, chosen by the encoder from a few and stored (0: no
prediction). Per-band PSNR, whole Indian Pines at 5,000 steps: +0.17, +0.13
and +0.04 dB at 0.05, 0.1 and 0.2 bpppb (1,000 steps on six views: +0.03 to
+0.48 dB, SAM lower in all). The fit's rate term codes the second pass
against the same prediction (with the weights the last stream written
chose): at 1,000 steps whole 0.05 +0.20 dB more, q0 0.1, q1 0.1, q2 0.1,
sample 0.2 and q0 1.0 within 0.02 dB, SAM lower in all six.

Version 7 decodes each channel on a lattice of three passes (:mod:`~torchgeo_inr.latent_grid.lattice`):
both later passes are predicted, from their diagonal and their edge neighbours, each pass with its
own weight per channel.

All integer arithmetic, so encoder and decoder predict alike on every
machine: the prediction is ``round(weight / UNITS * sum / count)`` with the
neighbours' ``sum`` and ``count`` (fewer at the border), rounded half up by
floor division.
"""

from __future__ import annotations

import numpy as np

from .lattice import DIAGONAL, EDGE, neighbour_sums
from .scale_index import UNITS

#: The weights the encoder chooses from, in 1 / UNITS (0: none; UNITS: the plain mean).
CHOICES = (0, UNITS // 2, 3 * UNITS // 4, UNITS)
#: The predicted passes, in the order of a channel's weights.
PREDICTED = (DIAGONAL, EDGE)


def prediction(plane: np.ndarray, weight: int, kind: int = EDGE) -> np.ndarray:
    """Each position's prediction (h, w) int64 from its four neighbours of ``kind`` in integer ``plane`` (h, w)."""
    plane = np.asarray(plane, np.int64)
    if weight == 0:
        return np.zeros(plane.shape, np.int64)
    total = neighbour_sums(plane, kind)
    count = np.maximum(neighbour_sums(np.ones(plane.shape, np.int64), kind), 1)
    return (2 * int(weight) * total + UNITS * count) // (2 * UNITS * count)


def coded_values(level: np.ndarray, weights: np.ndarray, order: np.ndarray) -> np.ndarray:
    """What is coded of a level (C, h, w) whose positions decode in passes ``order`` (h, w)
    (:func:`~torchgeo_inr.latent_grid.lattice.passes`): each predicted pass's latents minus their prediction
    with the channel's weight for that pass, ``weights`` (C, 2): (:data:`DIAGONAL`, :data:`EDGE`)."""
    out = np.array(level, np.int64)
    for channel, pair in enumerate(np.asarray(weights).reshape(len(level), 2)):
        for kind, weight in zip(PREDICTED, pair):
            at = order == kind
            if at.any():
                out[channel][at] -= prediction(level[channel], int(weight), kind)[at]
    return out


def _entropy_bits(values: np.ndarray) -> float:
    counts = np.bincount(values - values.min()) if values.size else np.zeros(0, np.int64)
    counts = counts[counts > 0]
    return float(-(counts * np.log2(counts / values.size)).sum())


def choose_weights(level: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Per channel of a level (C, h, w) and per predicted pass of ``order``, the weight of :data:`CHOICES` whose
    residuals have the fewest zero-order bits (ties: the smaller weight); (C, 2) as :func:`coded_values` takes."""
    chosen = np.zeros((len(level), 2), np.int64)
    for channel, plane in enumerate(level):
        plane = np.asarray(plane, np.int64)
        for column, kind in enumerate(PREDICTED):
            at = order == kind
            if at.any():
                bits = [_entropy_bits(plane[at] - prediction(plane, w, kind)[at]) for w in CHOICES]
                chosen[channel, column] = CHOICES[int(np.argmin(bits))]
    return chosen
