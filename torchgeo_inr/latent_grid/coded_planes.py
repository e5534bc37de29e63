"""Which planes of the latents the context coder codes, in what order, and each one's parent.

Up to stream version 7 a coded plane is a latent level (all its channels): each level's parent is the
next coarser one. From version 8 the skipped channels (the leading full-resolution ones) hold wavelet
subbands (:mod:`~torchgeo_inr.latent_grid.wavelet`), and each subband is a plane of its own (its own
context weights per channel: a subband's statistics are its own), whose parent is the same orientation
one wavelet level coarser. The list is finest first and decodes from its end, so a parent always decodes
before its children: the full-resolution level's other channels, the coarser levels, then the subbands,
the low-pass band last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import LatentConfig
from .wavelet import subbands


@dataclass(frozen=True)
class CodedPlane:
    """Channels ``first:stop`` of latent level ``level``, rows and columns ``rows``, ``cols``; ``parent``: the
    index of the plane whose latents are its parent feature (None: none)."""

    level: int
    first: int
    stop: int
    rows: slice
    cols: slice
    parent: int | None

    @property
    def channels(self) -> int:
        return self.stop - self.first

    @property
    def size(self) -> tuple[int, int]:
        return self.rows.stop - self.rows.start, self.cols.stop - self.cols.start


def coded_planes(cfg: LatentConfig, height: int, width: int) -> list[CodedPlane]:
    """The planes of ``cfg``'s latents on a (height, width) scene, finest first (see the module's docstring)."""
    sizes = cfg.grid_sizes(height, width)
    count = len(sizes)
    full = [slice(0, h) for h, _ in sizes], [slice(0, w) for _, w in sizes]

    def level(i: int, first: int = 0) -> CodedPlane:
        return CodedPlane(i, first, cfg.channels[i], full[0][i], full[1][i], i + 1 if i + 1 < count else None)

    if not cfg.wavelet:
        return [level(i) for i in range(count)]
    planes = [level(0, cfg.skip)] + [level(i) for i in range(1, count)]
    base = len(planes)
    planes += [CodedPlane(0, 0, cfg.skip, rows, cols, None if parent is None else base + parent)
               for rows, cols, parent in subbands(height, width, cfg.wavelet)]
    if planes[0].channels:
        return planes
    # every full-resolution channel skipped: no plane of the rest (no plane has it as parent)
    return [CodedPlane(p.level, p.first, p.stop, p.rows, p.cols, None if p.parent is None else p.parent - 1)
            for p in planes[1:]]


def parent_indices(count: int, parents: list[int | None] | None) -> list[int | None]:
    """Each of ``count`` planes' parent: ``parents``, checked (a parent decodes first, so it comes later in the
    list), or by default the next plane in the list, as levels were up to stream version 7."""
    if parents is None:
        return [i + 1 if i + 1 < count else None for i in range(count)]
    if len(parents) != count or any(p is not None and not i < p < count for i, p in enumerate(parents)):
        raise ValueError("each plane's parent must come after it")
    return list(parents)


def split(levels: list, planes: list[CodedPlane]) -> list:
    """Latent levels (C, h, w) (numpy or torch), finest first, as the coded planes (c, h', w')."""
    return [levels[p.level][p.first:p.stop, p.rows, p.cols] for p in planes]


def join(coded: list[np.ndarray], planes: list[CodedPlane], cfg: LatentConfig, height: int,
         width: int) -> list[np.ndarray]:
    """Inverse of :func:`split` for numpy planes: the latent levels (C, h, w) int64."""
    levels = [np.zeros((c, h, w), np.int64) for c, (h, w) in zip(cfg.channels, cfg.grid_sizes(height, width))]
    for values, p in zip(coded, planes):
        levels[p.level][p.first:p.stop, p.rows, p.cols] = values
    return levels
