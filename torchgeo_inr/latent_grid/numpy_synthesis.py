"""The latent-grid synthesis in numpy: what decode runs, without torch.

Why: the synthesis is small (bilinear upsampling, three 1x1 convolutions with
GELU, a depth-wise 3x3), and importing torch took 2 to 3 s of a 4 s
fresh-process decode of Indian Pines. In numpy alone, archive readers and
Dask workers decode without installing or importing torch. The torch model
(:class:`~torchgeo_inr.latent_grid.model.LatentGridModel`) stays what
training and GPU decodes run; the tests hold the two to each other.

Only the latents must decode bit for bit on every machine (they do: the
context model is integer arithmetic); the synthesis is float32 arithmetic in
either library and agrees to rounding.
"""

from __future__ import annotations

import math

import numpy as np

from . import wavelet
from .config import LatentConfig

# Abramowitz & Stegun 7.1.26: erf to within 1.5e-7 (float32 resolves 6e-8 relative): numpy has no erf, and
# scipy.special would add 0.4 s of import to every decode.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, to within 1.5e-7, in ``x``'s float dtype (in place where it can: the synthesis's
    activations are millions of values, and temporaries cost more than the arithmetic)."""
    # beyond 5, erf is +-1 to float precision; clamped, exp(-a * a) never reaches subnormals (100 times slower)
    a = np.minimum(np.abs(x), x.dtype.type(5))
    t = a * x.dtype.type(_ERF_P)
    t += 1
    np.reciprocal(t, out=t)
    poly = t * x.dtype.type(_ERF_A[4])
    for coefficient in _ERF_A[3::-1]:
        poly += x.dtype.type(coefficient)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(1, poly, out=poly)
    return np.copysign(poly, x, out=poly)


def gelu(x: np.ndarray) -> np.ndarray:
    """torch's ``nn.GELU()`` (exact, erf form): x * Phi(x)."""
    phi = erf(x * x.dtype.type(1 / math.sqrt(2)))
    phi += 1
    phi *= x.dtype.type(0.5)
    phi *= x
    return phi


def upsample_matrix(size: int, factor: int, out: int) -> np.ndarray:
    """(out, size): bilinear upsampling by ``factor`` of ``size`` samples, cropped to ``out``, as
    ``F.interpolate(mode="bilinear", align_corners=False)`` weighs them (source clamped at the first sample)."""
    source = np.maximum((np.arange(out) + 0.5) / factor - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(np.int64), size - 1)
    high = np.minimum(low + 1, size - 1)
    weight = (source - low).astype(np.float32)
    matrix = np.zeros((out, size), np.float32)
    rows = np.arange(out)
    np.add.at(matrix, (rows, low), 1 - weight)
    np.add.at(matrix, (rows, high), weight)
    return matrix


def depthwise3x3(y: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``nn.Conv2d(k, k, 3, padding=1, groups=k)`` on (k, H, W): each channel its own 3x3, zeros past the border."""
    _, height, width = y.shape
    padded = np.pad(y, ((0, 0), (1, 1), (1, 1)))
    out = np.broadcast_to(bias[:, None, None], y.shape).astype(y.dtype)
    for dy in range(3):
        for dx in range(3):
            out += weight[:, 0, dy, dx, None, None] * padded[:, dy : dy + height, dx : dx + width]
    return out


def synthesize(state: dict[str, np.ndarray], cfg: LatentConfig, grids: list[np.ndarray], height: int, width: int,
               skip_step: float = 1.0) -> np.ndarray:
    """Coefficient images (k, H, W) float32 from integer latent grids (c_l, H_l, W_l), finest first, and the
    synthesis weights by name (:func:`~torchgeo_inr.latent_grid.config.decoder_shapes`), as
    :meth:`~torchgeo_inr.latent_grid.model.LatentGridModel.synthesize` computes them."""
    feats = []
    for level, grid in enumerate(grids):
        grid = grid.astype(np.float32)
        if level == 0 and cfg.wavelet:  # the skipped channels hold subbands: the synthesis sees their image
            grid[: cfg.skip] = wavelet.inverse(grid[: cfg.skip], cfg.wavelet)
        if level:
            factor = 2**level
            rows = upsample_matrix(grid.shape[1], factor, height)
            cols = upsample_matrix(grid.shape[2], factor, width)
            grid = rows @ grid @ cols.T
        feats.append(grid.reshape(len(grid), -1))
    x = np.concatenate(feats)  # (C, H*W)

    def conv1x1(name: str, x: np.ndarray) -> np.ndarray:
        weight = np.asarray(state[f"{name}.weight"], np.float32)
        return weight.reshape(len(weight), -1) @ x + np.asarray(state[f"{name}.bias"], np.float32)[:, None]

    y = conv1x1("synthesis.4", gelu(conv1x1("synthesis.2", gelu(conv1x1("synthesis.0", x)))))
    y = y.reshape(cfg.components, height, width)
    refine = (np.asarray(state["refine.weight"], np.float32), np.asarray(state["refine.bias"], np.float32))
    y = y + depthwise3x3(y, *refine)
    if cfg.skip:
        y[: cfg.skip] += feats[0][: cfg.skip].reshape(cfg.skip, height, width) * np.float32(skip_step)
    return y
