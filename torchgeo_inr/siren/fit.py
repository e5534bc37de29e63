"""What fitting one SIREN to one image adds to the one training loop: random pixel batches and the full-image MSE.

The loop itself (schedule, best state, Ctrl-C, optional wall-clock cap) is
:func:`torchgeo_inr.training.train`; the best state is chosen by the
full-image MSE, measured every ``eval_every`` steps.
"""

from __future__ import annotations

import torch
from torch import nn

from ..training import TrainResult, train


def full_mse(model: nn.Module, coords: torch.Tensor, target: torch.Tensor, chunk: int = 16384) -> float:
    total = 0.0
    with torch.no_grad():
        for s in range(0, coords.shape[0], chunk):
            total += float(((model(coords[s : s + chunk]) - target[s : s + chunk]) ** 2).sum())
    return total / target.numel()


def fit_image(
    model: nn.Module,
    coords: torch.Tensor,
    target: torch.Tensor,
    *,
    steps: int = 20000,
    max_seconds: float | None = None,
    lr: float = 1e-3,
    final_lr: float = 0.02,
    warmup_steps: int = 50,
    batch: int = 8192,
    eval_every: int = 50,
    seed: int = 0,
    progress: bool = True,
    desc: str = "siren fit",
) -> TrainResult:
    """Minimise the MSE of ``model(coords)`` against ``target`` (N, B); leaves the best state in ``model``.

    The result's ``best_score`` is minus the best full-image MSE.
    """
    n = coords.shape[0]
    batch = min(batch, n)
    gen = torch.Generator(device="cpu").manual_seed(seed)

    def step_loss(step: int) -> torch.Tensor:
        if batch < n:
            idx = torch.randint(0, n, (batch,), generator=gen).to(coords.device)
            x, y = coords[idx], target[idx]
        else:
            x, y = coords, target
        return torch.mean((model(x) - y) ** 2)

    return train(model.parameters(), step_loss, evaluate=lambda: -full_mse(model, coords, target),
                 steps=steps, lr=lr, warmup=warmup_steps / max(1, steps), final_lr=final_lr,
                 eval_every=eval_every, min_delta=0.0, max_seconds=max_seconds, progress=progress, desc=desc)
