"""Soft rounding (Agustsson & Theis, NeurIPS 2020): the noise phase's stand-in for rounding, as in Cool-chic and C3.

Uniform noise alone trains the synthesis on latents spread evenly over each
rounding bin, but decode sees the bins' centres. Soft rounding before and
after the noise, ``s(s(z) + u)``, pulls what training sees towards the centres
(more as the temperature falls), so the synthesis learns what decode will
give it; the gradient still flows everywhere.

Measured on Indian Pines against uniform noise alone (per-band PSNR, one
encode each): at 1,000 steps (the demo's budget) 0.11 to 0.25 dB up at all
nine views and rates tried (the whole scene, its quadrants and the built-in
sample, 0.05 to 2.0 bpppb); at the default 5,000 steps on the whole scene
0.04 to 0.05 dB up at 0.05, 0.1 and 0.2 bpppb (a one-thread run: 0.09 and
0.07 at 0.05 and 0.2; threads move a fit by about that much). Colder schedules lose: 0.5 to 0.3
gained as much at 1,000 steps but nothing at 5,000, and 0.5 to 0.2 lost 1.6
dB there (near a bin's centre the function's slope falls to 7% of the
identity's at 0.2, and latents stop moving); Cool-chic's 0.3 to 0.1 with
Kumaraswamy noise lost 0.1 to 1.2 dB at 1,000 steps. Passing the soft
function's gradient through the rounding phase (instead of the identity)
lost 0.05 to 0.1 dB, so that phase keeps its plain straight-through
gradient. Archive networks keep uniform noise
(:data:`~torchgeo_inr.codecs.latent_grid_shared.ARCHIVE_TEMPERATURES`).
"""

from __future__ import annotations

import math

import torch

#: Temperature at the start and at the end of the noise phase (geometric in between); lower rounds harder.
TEMPERATURES = (0.7, 0.4)


def soft_round(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """A differentiable rounding: the identity as the temperature grows, ``round`` as it falls to zero."""
    floor = torch.floor(x)
    return floor + 0.5 * torch.tanh((x - floor - 0.5) / temperature) / math.tanh(0.5 / temperature) + 0.5


def noisy_soft_round(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """``s(s(z) + u)``, ``u`` uniform on [-0.5, 0.5): the noise phase's latents."""
    return soft_round(soft_round(z, temperature) + torch.rand_like(z) - 0.5, temperature)


def temperature_at(fraction: float, temperatures: tuple[float, float] = TEMPERATURES) -> float:
    """The temperature ``fraction`` (0 to 1) of the way through the noise phase."""
    start, end = temperatures
    return start * (end / start) ** min(max(fraction, 0.0), 1.0)
