"""HINER's loss: a fidelity term + gamma * CAM, with per-pixel SAM available as a further term.

CAM is the angle (degrees) between each predicted band image and the true
one, taken as vectors over pixels; SAM the angle between predicted and true
spectra of each pixel. Angles are computed as 2 atan2(|u - v|, |u + v|) of
the unit vectors, which keeps a finite, well-conditioned gradient near zero
where ``acos`` of a cosine does not.

The fidelity term is ``"l1"`` (HINER's), ``"mse"``, or ``"logmse"``: the mean
over bands of log(MSE_b), i.e. minus the per-band PSNR up to constants, the
metric the benchmark reports.
"""

from __future__ import annotations

import math

import torch

_DEG = 180.0 / math.pi
FIDELITY = ("l1", "mse", "logmse")


def _angle(u: torch.Tensor, v: torch.Tensor, dim: int, eps: float = 1e-12) -> torch.Tensor:
    u = u / (u.norm(dim=dim, keepdim=True) + eps)
    v = v / (v.norm(dim=dim, keepdim=True) + eps)
    return 2.0 * torch.atan2((u - v).norm(dim=dim), (u + v).norm(dim=dim)) * _DEG


def cam_degrees(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean angle (degrees) between predicted and true band images; inputs (N, ...), one band per row."""
    return _angle(pred.reshape(pred.shape[0], -1), target.reshape(target.shape[0], -1), dim=1).mean()


def sam_degrees(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean spectral angle (degrees) over pixels; inputs (B, H, W) or (B, P)."""
    return _angle(pred.reshape(pred.shape[0], -1), target.reshape(target.shape[0], -1), dim=0).mean()


class HinerLoss:
    """``fidelity + gamma * CAM + sam_weight * SAM`` on (N, H, W) bands in a normalised domain."""

    def __init__(self, gamma: float = 0.01, sam_weight: float = 0.0, fidelity: str = "l1"):
        if fidelity not in FIDELITY:
            raise ValueError(f"fidelity must be one of {FIDELITY}, got {fidelity!r}")
        self.gamma, self.sam_weight, self.fidelity = float(gamma), float(sam_weight), fidelity

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred, target = pred.float(), target.float()
        diff = (pred - target).reshape(pred.shape[0], -1)
        if self.fidelity == "l1":
            loss = diff.abs().mean()
        elif self.fidelity == "mse":
            loss = diff.square().mean()
        else:
            loss = torch.log(diff.square().mean(dim=1) + 1e-10).mean() * 0.05
        if self.gamma:
            loss = loss + self.gamma * cam_degrees(pred, target)
        if self.sam_weight:
            loss = loss + self.sam_weight * sam_degrees(pred, target)
        return loss
