"""Adaptive Spectral Weighting (ASW): let the classifier re-weight and re-mix the decoded bands.

A decoded scene errs more in some bands than in others, and the errors of
neighbouring bands are correlated. ASW (HINER, supplementary) learns a
per-band weight vector W from a small MLP, forms P = I_hat * W, and mixes
bands with two 1x1 convolutions N -> M -> N, with residuals so that it
starts (nearly) as the identity. Its output stays close to its input
through the reconstruction term L_R of the task's loss.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class WeightMLP(nn.Module):
    """A scalar condition (e.g. the stream's bpppb) -> one weight per band, starting at zero."""

    def __init__(self, bands: int, squeeze: int = 2):
        super().__init__()
        hidden = max(1, bands // squeeze)
        self.fc1 = nn.Linear(1, hidden)
        self.fc2 = nn.Linear(hidden, bands)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, condition: Tensor) -> Tensor:
        return self.fc2(nn.functional.gelu(self.fc1(condition.reshape(-1, 1))))


class AdaptiveSpectralWeighting(nn.Module):
    """(N, B, H, W) -> (N, B, H, W): per-band weighting, then 1x1 band mixing B -> M -> B, residual.

    Args:
        bands: number of bands B
        hidden: bands in the middle of the mixing (M); default B // 4
        condition: the scalar the weights are conditioned on (a buffer, e.g. the bpppb)
    """

    def __init__(self, bands: int, hidden: int | None = None, condition: float = 0.0):
        super().__init__()
        self.bands = bands
        self.weights = WeightMLP(bands)
        hidden = hidden or max(1, bands // 4)
        self.mix = nn.Sequential(nn.Conv2d(bands, hidden, 1), nn.GELU(), nn.Conv2d(hidden, bands, 1))
        # Nearly the identity at the start, yet every weight gets a gradient from the first step.
        nn.init.normal_(self.mix[-1].weight, std=1e-3)
        nn.init.zeros_(self.mix[-1].bias)
        self.register_buffer("condition", torch.tensor([float(condition)]))

    def band_weights(self) -> Tensor:
        """The per-band multipliers 1 + W (B,), 1 everywhere before training."""
        return 1.0 + self.weights(self.condition)[0]

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.bands:
            raise ValueError(f"ASW expects (N, {self.bands}, H, W), got {tuple(x.shape)}")
        weighted = x * self.band_weights().view(1, -1, 1, 1)
        return weighted + self.mix(weighted)
