"""Start a latent-grid fit where a transform coder starts: the leading coefficient images on a uniform grid.

Why: the latents start at zero and move by at most the latent learning rate
a step, so in a fit of N steps none grows beyond about N * LATENT_LR / 2;
and the synthesis's weights move by about their learning rate a step, a
relative wobble of the order of 1e-2 on outputs of order one. A scene's
leading components need far finer precision than either at high rates.
Measured on Indian Pines' 73 x 73 quadrant with its noise scaled down
tenfold in power (a stand-in for a cleaner AVIRIS scene), 1.0 bpppb, 1,000
steps: the error on the first components was 15 to 30 dB above PCA +
JPEG2000's, which keeps every component's error near the same level.

So the first ``m`` full-resolution latent channels are added to the first
``m`` coefficient images unchanged (the model's ``skip``), the basis is
scaled so that a coefficient unit is the step ``delta`` whose rounded
leading coefficients' zero-order entropy fills the latents' budget, and the
latents start as those coefficients: the fit starts from PCA + scalar
quantisation, and the synthesis learns corrections of the order of a step.
With the context model (stream version 8) those latents are the coefficient
images' wavelet subbands (:mod:`~torchgeo_inr.latent_grid.wavelet`), and
``delta`` is chosen on the subbands: PCA + a wavelet + scalar quantisation.
Each skipped channel has its own step around ``delta`` (:func:`component_steps`),
held in the basis's row scale: the stream's layout is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from . import wavelet
from .fit import RateDistortionLoss
from .model import LatentGridModel

#: Largest latent magnitude the start may give (about 60 dB of the leading component's peak: far beyond what a
#: budget buys on real scenes; tiny scenes at high rates asked for more and overshot the budget).
MAX_START = 1024.0


def skipped_channels(model: LatentGridModel) -> int:
    """Channels added to the coefficients unchanged: the full-resolution ones, at most one per component."""
    return min(model.cfg.channels[0], model.cfg.components)


def uniform_step(coeffs: np.ndarray, bits: float) -> float:
    """The step whose rounded ``coeffs`` (m, N) hold about ``bits`` in all (zero-order entropy, per channel)."""

    def entropy(step: float) -> float:
        total = 0.0
        for row in coeffs:
            symbols = np.rint(row / step).astype(np.int64)
            counts = np.bincount(symbols - symbols.min())
            p = counts[counts > 0] / row.size
            total -= row.size * float((p * np.log2(p)).sum())
        return total

    spread = float(np.abs(coeffs).max()) or 1.0
    low, high = math.log2(spread) - 24.0, math.log2(spread) + 1.0  # log2 of the step: more bits at ``low``
    if entropy(2.0**high) >= bits:
        return 2.0**high
    for _ in range(30):
        mid = (low + high) / 2
        low, high = (low, mid) if entropy(2.0**mid) < bits else (mid, high)
    return 2.0**high


#: Iterations of the per-component step allocation (:func:`component_steps`).
STEP_ROUNDS = 4
#: How far (in octaves, either way) a component's step may move from the common one.
MAX_STEP_OCTAVES = 4.0


def component_steps(leading: np.ndarray, loss: RateDistortionLoss, bits: float) -> np.ndarray:
    """Relative steps (m,) for the skipped channels that minimise the fit's loss, ``mean_b log MSE_b``.

    Why: one step for every channel minimises the scene's MSE, not the mean of
    per-band log errors. A component's error reaches band ``b`` as
    ``U_jb**2 * D_j``; at a fixed rate the loss is least where each ``D_j`` is
    proportional to ``1 / w_j``, ``w_j = sum_b U_jb**2 / MSE_b`` (reverse water
    filling, weighted): the components that clean bands (small errors) rest
    on get finer steps, those of noisy bands coarser. ``MSE_b`` depends on the
    steps, so the allocation is iterated from equal steps, measuring each
    channel's rounding error (the wavelet is near orthonormal), with the
    synthesised components' error taken as the common step's or their power,
    whichever is less.

    Measured (per-band PSNR, 1,000 steps, one torch thread, one step -> these):
    Indian Pines' quadrant q2 at 2.0 bpppb 52.39 -> 52.86 dB (100 skipped
    channels; its error on the leading principal components was 5 to 6 dB
    above ``pca-jpeg2000``'s), nine other views from 0.05 to 1.0 bpppb within
    0.05 dB (few skipped channels there, steps within a few percent).
    """
    m = leading.shape[0]
    basis = loss.basis.double().cpu().numpy()  # (k, B), rows in the coefficients' present unit
    truncation = loss.truncation.double().cpu().numpy()
    power = loss.coeffs.double().square().mean(dim=1).cpu().numpy()
    weight = np.square(basis)  # (k, B)
    relative = np.ones(m)
    for _ in range(STEP_ROUNDS):
        delta = uniform_step(leading / relative[:, None], bits)
        steps = delta * relative[:, None]
        rounded = np.square(np.rint(leading / steps) * steps - leading).mean(axis=1)  # (m,)
        rest = np.minimum(power[m:], delta**2 / 12.0)
        mse = truncation + rounded @ weight[:m] + rest @ weight[m:]
        w = weight[:m] @ (1.0 / np.maximum(mse, 1e-30))
        log_rel = -0.5 * np.log2(np.maximum(w, 1e-30))
        log_rel = np.clip(log_rel - log_rel.mean(), -MAX_STEP_OCTAVES, MAX_STEP_OCTAVES)
        relative = 2.0**log_rel
    return relative


@torch.no_grad()
def warm_start(model: LatentGridModel, loss: RateDistortionLoss, latent_bits: float, rescale_basis) -> dict:
    """Give ``model`` a skip and start its latents at ``loss``'s coefficients on a uniform grid; the basis's rows are
    rescaled by ``rescale_basis(steps)`` (one step per row, in place: ``loss`` is projected again). Returns what
    was set."""
    m = skipped_channels(model)
    if m < 1 or latent_bits <= 0:
        return {}
    # with the context model (stream version 8) the skipped channels hold wavelet subbands
    levels = wavelet.levels_for(model.height, model.width) if len(model.context) else 0
    images = loss.coeffs[:m].double().cpu().numpy().reshape(m, model.height, model.width)
    leading = wavelet.forward(images, levels).reshape(m, -1)
    relative = component_steps(leading, loss, latent_bits)
    delta = uniform_step(leading / relative[:, None], latent_bits)
    # latents beyond MAX_START in magnitude cost the context coder more than it estimates: a step no finer
    steps = np.maximum(delta * relative, np.abs(leading).max(axis=1) / MAX_START)
    rows = np.full(model.cfg.components, delta)
    rows[:m] = steps
    rescale_basis(rows)
    loss.project()
    model.set_layout(replace(model.cfg, skip=m, wavelet=levels))
    latents = model.latents[0]
    images = loss.coeffs[:m].reshape(m, model.height, model.width).double().cpu().numpy()  # in units of their steps
    latents[0, :m] = torch.from_numpy(wavelet.forward(images, levels)).to(latents)
    first, last = model.synthesis[0], model.synthesis[4]
    first.weight[:, :m] = 0.0  # the hidden units start blind to the (large) started latents
    last.weight[:m] = 0.0  # and the skipped components start as their latents
    last.bias[:m] = 0.0
    # the entropy model starts at the started latents' Laplace scale, not at 1 (its bias moves slowly)
    if len(model.context):
        for plane, weights in zip(model.planes, model.context):
            if plane.level == 0 and plane.first < m:  # skipped channels' plane (or subband)
                values = latents[0, plane.first:min(plane.stop, m), plane.rows, plane.cols]
                weights[:len(values), 0] = torch.log2(values.abs().mean((1, 2)).clamp_min(1e-3))
    else:
        model.log_scales[0][0, :m, 0, 0] = torch.log(latents[0, :m].abs().mean((1, 2)).clamp_min(1e-3))
    spread = [round(float(steps.min() / delta), 3), round(float(steps.max() / delta), 3)]
    return {"skip": m, "step": round(delta, 6), "step_spread": spread, **({"wavelet": levels} if levels else {})}
