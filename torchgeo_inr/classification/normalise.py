"""Per-band min-max scaling to [0, 1], from the scene the classifier is fed (as the HINER code does)."""

from __future__ import annotations

import torch
from torch import Tensor


def band_range(scene: Tensor) -> tuple[Tensor, Tensor]:
    """(lo, span) per band of a (B, H, W) scene; a constant band gets span 1 (it scales to 0)."""
    flat = scene.reshape(scene.shape[0], -1).double()
    lo = flat.min(dim=1).values
    span = flat.max(dim=1).values - lo
    span = torch.where(span > 0, span, torch.ones_like(span))
    return lo.float(), span.float()


class ScaleBands:
    """A sample transform: ``image`` (B, ...) -> (image - lo) / span, band by band."""

    def __init__(self, lo: Tensor, span: Tensor):
        self.lo, self.span = lo, span

    def __call__(self, sample: dict) -> dict:
        image = sample["image"]
        shape = (-1,) + (1,) * (image.ndim - 1)
        return {**sample, "image": (image - self.lo.view(shape)) / self.span.view(shape)}
