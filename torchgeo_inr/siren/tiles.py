"""Per-band normalisation and the patch layout shared by encoder, decoder and meta-training.

Normalisation (:class:`BandNorm`): each band is centred on its mean and
divided by a scale proportional to its peak |value| (the per-band PSNR's
peak), times one scene-wide factor that brings the normalised values to a
standard deviation of about ``TARGET_STD``. Mean and scale are stored as
float16 and the encoder uses the rounded values, so encoder and decoder agree
exactly; scenes whose values float16 cannot hold are first divided by a
power of two that the stream also carries.

Patches: a scene of H x W pixels is cut into ``ceil(H / p) x ceil(W / p)``
patches with boundaries ``round(linspace(0, H, n + 1))``, so every patch is
p or p - 1 pixels a side (no 1-pixel slivers). Inside a patch a pixel's
coordinate is its offset from the patch centre times a fixed pitch, so the
network sees the same spatial frequencies whatever the patch size; odd-sized
patches sit on the grid of the next even size, so that pixel centres always
fall on the same half-pitch lattice the base was trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TARGET_STD = 0.5


#: Peaks within [2^-8, 2^15] are normalised as they are; others are first divided by a
#: power of two (stored in the stream) so that float16 means and scales stay finite.
_PLAIN_LOG2_PEAK = (-8.0, 15.0)
_SHIFTED_LOG2_PEAK = 10.0


@dataclass(frozen=True)
class BandNorm:
    """Per-band ``value = (normalised * scale + mean) * 2**exponent`` (stream sections:
    :mod:`torchgeo_inr.codecs.band_norm_sections`)."""

    mean: np.ndarray  # float16 (B,)
    scale: np.ndarray  # float16 (B,)
    exponent: int = 0

    @classmethod
    def fit(cls, values: np.ndarray, valid: np.ndarray | None = None) -> BandNorm:
        """From ``values`` (B, N); ``valid`` (N,) bool limits the pixels used."""
        x = np.asarray(values, dtype=np.float64)
        if valid is not None:
            x = x[:, np.asarray(valid, dtype=bool)]
        top = float(np.abs(x).max()) if x.size else 0.0
        exponent = 0
        if top > 0 and not _PLAIN_LOG2_PEAK[0] <= np.log2(top) <= _PLAIN_LOG2_PEAK[1]:
            exponent = int(np.ceil(np.log2(top) - _SHIFTED_LOG2_PEAK))
            x = x * 2.0**-exponent
        mean = x.mean(axis=1).astype(np.float16)
        centred = x - mean.astype(np.float64)[:, None]
        peak = np.abs(x).max(axis=1)
        peak = np.where(peak > 0, peak, 1.0)
        rel = centred / peak[:, None]
        factor = max(float(rel.std()), 1e-6) / TARGET_STD
        scale = np.maximum(peak * factor, 1e-6)
        scale = np.clip(scale, 2.0**-14, 60000.0).astype(np.float16)
        return cls(mean, scale, exponent)

    def normalise(self, values: np.ndarray) -> np.ndarray:
        """(B, ...) -> normalised float32, with the stored (float16) constants."""
        m, s = self._shaped(np.ndim(values))
        return ((np.asarray(values, dtype=np.float64) * 2.0**-self.exponent - m) / s).astype(np.float32)

    def denormalise(self, values: np.ndarray) -> np.ndarray:
        m, s = self._shaped(np.ndim(values))
        return (np.asarray(values, dtype=np.float64) * s + m) * 2.0**self.exponent

    def _shaped(self, ndim: int):
        shape = (-1,) + (1,) * (ndim - 1)
        return (np.asarray(self.mean, dtype=np.float64).reshape(shape),
                np.asarray(self.scale, dtype=np.float64).reshape(shape))


def grid_coords(height: int, width: int) -> np.ndarray:
    """(H * W, 2) pixel centres in [-1, 1]^2, raster order, (y, x)."""
    ys = np.linspace(-1.0, 1.0, height) if height > 1 else np.zeros(1)
    xs = np.linspace(-1.0, 1.0, width) if width > 1 else np.zeros(1)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.float32)


def patch_edges(size: int, patch: int) -> np.ndarray:
    n = max(1, math.ceil(size / patch))
    return np.rint(np.linspace(0, size, n + 1)).astype(np.int64)


def patch_count(height: int, width: int, patch: int) -> int:
    return (len(patch_edges(height, patch)) - 1) * (len(patch_edges(width, patch)) - 1)


def patch_layout(height: int, width: int, patch: int, pitch: float):
    """For every pixel (raster order): local coordinates (N, 2) float32, patch index (N,), and patch sizes (P,)."""
    ey, ex = patch_edges(height, patch), patch_edges(width, patch)
    iy = np.searchsorted(ey, np.arange(height), side="right") - 1
    ix = np.searchsorted(ex, np.arange(width), side="right") - 1
    cy = ey[iy] + (_even(ey[iy + 1] - ey[iy]) - 1) / 2.0  # centre of the patch each row belongs to
    cx = ex[ix] + (_even(ex[ix + 1] - ex[ix]) - 1) / 2.0
    ly = (np.arange(height) - cy) * pitch
    lx = (np.arange(width) - cx) * pitch
    yy, xx = np.meshgrid(ly, lx, indexing="ij")
    coords = np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.float32)
    nx = len(ex) - 1
    index = (iy[:, None] * nx + ix[None, :]).ravel().astype(np.int64)
    sizes = np.bincount(index, minlength=(len(ey) - 1) * nx)
    return coords, index, sizes


def _even(size):
    """Odd patches are placed on the grid of the next even size (pixel centres at half-pitch offsets),
    so that every patch puts its pixels on the same coordinates whatever its parity."""
    return size + size % 2


def local_coords(patch_h: int, patch_w: int, pitch: float) -> np.ndarray:
    """(h * w, 2) coordinates of one patch, centred on 0 (see :func:`_even`), raster order."""
    ly = (np.arange(patch_h) - (_even(patch_h) - 1) / 2.0) * pitch
    lx = (np.arange(patch_w) - (_even(patch_w) - 1) / 2.0) * pitch
    yy, xx = np.meshgrid(ly, lx, indexing="ij")
    return np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.float32)


def checkerboard(height: int, width: int, tile: int, parity: int = 0) -> np.ndarray:
    """(H, W) bool: True on tiles of ``tile`` px whose (row + col) % 2 == ``parity``."""
    ty = np.arange(height) // tile
    tx = np.arange(width) // tile
    return ((ty[:, None] + tx[None, :]) % 2) == parity
