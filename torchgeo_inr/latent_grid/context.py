"""The latents' context model: each latent's Laplace scale from what the decoder has already decoded.

Why: one Laplace per latent channel pays for the busiest part of the scene
everywhere. Cool-chic (Ladune et al., ICCV 2023) and C3 (Kim et al., CVPR
2024) predict each latent's distribution from its decoded neighbours with a
small auto-regressive network; decoded one latent at a time, that is a
per-latent loop. Here the context is restricted so that half a channel
decodes in one vectorised call: levels coarsest first, a level's channels in
order, each channel in two checkerboard passes. A latent's log2 scale is
linear in four activity features, each the bit length of a sum of decoded
magnitudes (an integer):

- its parent: the coarser level's latents (all channels) at the same place;
- the level's earlier channels at the same place;
- in the second pass, its four first-pass neighbours in its own channel;
- which pass it is in.

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

from .scale_index import LOG2_RANGE, log2_scales


def activity(sums: torch.Tensor) -> torch.Tensor:
    """Bit length of non-negative integer sums (0 for 0): exact, from the float64 exponent."""
    return torch.frexp(sums.double())[1].to(sums.dtype if sums.is_floating_point() else torch.int64)


def second_pass(height: int, width: int, device=None) -> torch.Tensor:
    """The checkerboard's second half (row + column odd): decoded after, and conditioned on, the first."""
    rows = torch.arange(height, device=device)[:, None]
    cols = torch.arange(width, device=device)[None, :]
    return (rows + cols) % 2 == 1


def parent_sums(coarser: torch.Tensor | None, height: int, width: int) -> torch.Tensor:
    """Sum over the coarser level's channels of |latent| at each finer position's parent; (h, w)."""
    if coarser is None:
        return torch.zeros(height, width)
    total = coarser.abs().sum(0)
    return total.repeat_interleave(2, 0).repeat_interleave(2, 1)[:height, :width]


def neighbour_sums(magnitudes: torch.Tensor) -> torch.Tensor:
    """Sum of the four edge neighbours' magnitudes, zero beyond the border; (..., h, w) -> (..., h, w)."""
    padded = F.pad(magnitudes, (1, 1, 1, 1))
    return padded[..., :-2, 1:-1] + padded[..., 2:, 1:-1] + padded[..., 1:-1, :-2] + padded[..., 1:-1, 2:]


def level_features(level: torch.Tensor, coarser: torch.Tensor | None) -> list[torch.Tensor]:
    """The FEATURES planes of a whole level (C, h, w) of integer latents, each broadcastable to (C, h, w): what
    encode and training see (the decoder computes the same channel by channel)."""
    magnitudes = level.abs()
    _, height, width = level.shape
    second = second_pass(height, width, level.device).to(level.dtype)
    parent = activity(parent_sums(coarser, height, width).to(level))
    earlier = activity(torch.cumsum(magnitudes, 0) - magnitudes)
    return [parent[None], earlier, activity(neighbour_sums(magnitudes)) * second, second[None]]


def pyramid_features(levels: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """:func:`level_features` of every level (C, h, w), finest first, each with the coarser level as its parent."""
    return [level_features(g, levels[i + 1] if i + 1 < len(levels) else None) for i, g in enumerate(levels)]


def features_of(levels: list[np.ndarray]) -> list[list[torch.Tensor]]:
    """:func:`pyramid_features` (int64) of integer grids (C, h, w), finest first: computed once per stream, for the
    weights' bias fit and for the coder."""
    return pyramid_features([torch.from_numpy(np.asarray(g, np.int64)) for g in levels])


def fit_bias(weights: torch.Tensor, level: torch.Tensor, feats: list[torch.Tensor], bits) -> torch.Tensor:
    """``weights`` (C, 1 + FEATURES) with each channel's bias set for the symbols it will code, ``level`` (C, h, w)
    with its :func:`level_features` ``feats``.

    Training moves the bias slowly (and not at all in a short fit), so the
    writer offers a second: the maximum-likelihood Laplace scale given the
    slopes, ``mean(|x| / relative scale)``; per channel, the one of the two
    that codes the symbols in fewer bits (``bits(values, scales)``, per channel) wins.
    """
    relative = torch.exp2(log2_scales(torch.cat([torch.zeros_like(weights[:, :1]), weights[:, 1:]], 1), feats))
    ml = torch.log2((level.abs() / relative).mean((1, 2)).clamp_min(2.0**LOG2_RANGE[0]))
    options = [weights, torch.cat([ml[:, None], weights[:, 1:]], 1)]
    costs = torch.stack([bits(level, torch.exp2(log2_scales(w, feats).clamp(*LOG2_RANGE))) for w in options])
    return torch.where((costs[1] < costs[0])[:, None], options[1], options[0])
