"""The latents' context model: each latent's Laplace scale from what the decoder has already decoded.

Why: one Laplace per latent channel pays for the busiest part of the scene
everywhere. Cool-chic (Ladune et al., ICCV 2023) and C3 (Kim et al., CVPR
2024) predict each latent's distribution from its decoded neighbours with a
small auto-regressive network; decoded one latent at a time, that is a
per-latent loop. Here the context is restricted so that a pass of a channel
decodes in one vectorised call: levels coarsest first, a level's channels in
order, each channel in the passes of :mod:`~torchgeo_inr.latent_grid.lattice`
(three in version 7, a checkerboard's two before). A latent's log2 scale is
linear in four features, the first three the bit length of a sum of decoded
magnitudes (an integer):

- its parent: the coarser level's latents (all channels) at the same place
  (for a wavelet subband, stream version 8: the same orientation one
  wavelet level coarser, :mod:`~torchgeo_inr.latent_grid.coded_planes`);
- the level's earlier channels at the same place;
- in a predicted pass, its four neighbours in its own channel (diagonal or
  edge, as the pass sees them);
- whether it is in a predicted pass (the checkerboard's second).

The weights are stored as multiples of 1/64 and the features are integers,
so encoder and decoder compute the same integer log2 scale, rounded down to
an eighth of an octave: a scale index, which picks one of a fixed set of
tables (:mod:`~torchgeo_inr.latent_grid.context_coding`). Training uses the same formula with real-valued
weights and scales.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .coded_planes import parent_indices
from .lattice import DIAGONAL, EDGE, FIRST, OFFSETS, passes


def activity(sums: torch.Tensor) -> torch.Tensor:
    """Bit length of non-negative integer sums (0 for 0): exact, from the float64 exponent."""
    return torch.frexp(sums.double())[1].to(sums.dtype if sums.is_floating_point() else torch.int64)


def pass_map(height: int, width: int, lattice: bool = True, device=None) -> torch.Tensor:
    """:func:`~torchgeo_inr.latent_grid.lattice.passes` as a tensor (h, w) int64."""
    return torch.from_numpy(passes(height, width, lattice)).to(device)


def parent_sums(coarser: torch.Tensor | None, height: int, width: int) -> torch.Tensor:
    """Sum over the coarser plane's channels of |latent| at each finer position's parent (its position halved);
    (h, w)."""
    if coarser is None:
        return torch.zeros(height, width)
    total = coarser.abs().sum(0)
    rows, cols = (torch.arange(n, device=total.device) // 2 for n in (height, width))
    # a subband's parent may be a sample short of half its size (stream version 8): the last one stands in
    return total[rows.clamp_max(total.shape[0] - 1)][:, cols.clamp_max(total.shape[1] - 1)]


def neighbour_sums(magnitudes: torch.Tensor, kind: int = EDGE) -> torch.Tensor:
    """Sum of the four neighbours of ``kind`` (:data:`~torchgeo_inr.latent_grid.lattice.EDGE` or ``DIAGONAL``),
    zero beyond the border; (..., h, w) -> (..., h, w)."""
    height, width = magnitudes.shape[-2:]
    padded = F.pad(magnitudes, (1, 1, 1, 1))
    return sum(padded[..., 1 + dy:1 + dy + height, 1 + dx:1 + dx + width] for dy, dx in OFFSETS[kind])


def level_features(level: torch.Tensor, coarser: torch.Tensor | None, lattice: bool = True) -> list[torch.Tensor]:
    """The FEATURES planes of a whole level (C, h, w) of integer latents, each broadcastable to (C, h, w): what
    encode and training see (the decoder computes the same pass by pass); ``lattice``: three passes (version 7)
    or a checkerboard's two."""
    magnitudes = level.abs()
    _, height, width = level.shape
    order = pass_map(height, width, lattice, level.device)
    parent = activity(parent_sums(coarser, height, width).to(level))
    earlier = activity(torch.cumsum(magnitudes, 0) - magnitudes)
    around = sum(activity(neighbour_sums(magnitudes, kind)) * (order == kind).to(level.dtype)
                 for kind in (DIAGONAL, EDGE))
    return [parent[None], earlier, around, (order != FIRST).to(level.dtype)[None]]


def pyramid_features(levels: list[torch.Tensor], lattice: bool = True,
                     parents: list[int | None] | None = None) -> list[list[torch.Tensor]]:
    """:func:`level_features` of every coded plane (C, h, w), finest first, each with its parent
    (:func:`~torchgeo_inr.latent_grid.coded_planes.parent_indices`)."""
    return [level_features(g, None if p is None else levels[p], lattice)
            for g, p in zip(levels, parent_indices(len(levels), parents))]


def features_of(levels: list[np.ndarray], lattice: bool = True,
                parents: list[int | None] | None = None) -> list[list[torch.Tensor]]:
    """:func:`pyramid_features` (int64) of integer grids (C, h, w), finest first: computed once per stream, for the
    weights' fit and for the coder."""
    return pyramid_features([torch.from_numpy(np.asarray(g, np.int64)) for g in levels], lattice, parents)
