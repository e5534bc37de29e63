"""Values at fractional band positions: what Implicit Spectral Interpolation asks a renderer for.

A renderer moves band ``b`` to ``b + shift[b]`` by interpolating whatever
its model holds per band (HINER's embeddings, a basis's rows) between
neighbouring bands; this is that interpolation, shared by every renderer.
"""

from __future__ import annotations

import torch


def lerp_rows(values: torch.Tensor, shift: torch.Tensor | None) -> torch.Tensor:
    """``values`` (B, ...) at fractional band positions ``b + shift[b]`` (clamped to the band range)."""
    if shift is None:
        return values
    bands = values.shape[0]
    pos = (torch.arange(bands, device=values.device, dtype=torch.float64) + shift.to(values.device, torch.float64))
    pos = pos.clamp(0, bands - 1)
    low = pos.floor().long().clamp(max=bands - 1)
    high = (low + 1).clamp(max=bands - 1)
    w = (pos - low).to(values.dtype).reshape(-1, *([1] * (values.ndim - 1)))
    return values[low] * (1 - w) + values[high] * w
