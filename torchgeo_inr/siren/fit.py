"""Fitting one SIREN to one image: Adam on random pixel batches, cosine schedule planned to a time budget.

The best state (by the full-image MSE, measured every ``eval_every`` steps)
is kept and restored at the end; fitting ends when ``steps`` are done, when
``max_seconds`` are spent (the schedule is re-planned after a few steps so
that it finishes in time), or on Ctrl-C, which stops cleanly with the best
state so far.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class FitReport:
    best_mse: float
    steps: int
    seconds: float
    stopped: str  # "steps", "time", "interrupted"


def _full_mse(model: nn.Module, coords: torch.Tensor, target: torch.Tensor, chunk: int = 16384) -> float:
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
    warmup: int = 50,
    batch: int = 8192,
    eval_every: int = 50,
    seed: int = 0,
    progress: bool = True,
    desc: str = "siren fit",
) -> FitReport:
    """Minimise the MSE of ``model(coords)`` against ``target`` (N, B); leaves the best state in ``model``."""
    from tqdm.auto import tqdm

    n = coords.shape[0]
    batch = min(batch, n)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    start = time.perf_counter()
    planned = max(1, int(steps))
    best_mse = math.inf
    best = [p.detach().clone() for p in params]
    stopped, step = "steps", 0
    bar = tqdm(total=planned, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    loss = torch.zeros(())
    try:
        while step < planned:
            t = step / planned
            warm = min(1.0, (step + 1) / warmup)
            for group in opt.param_groups:
                group["lr"] = lr * warm * (final_lr + (1 - final_lr) * 0.5 * (1 + math.cos(math.pi * t)))
            if batch < n:
                idx = torch.randint(0, n, (batch,), generator=gen).to(coords.device)
                x, y = coords[idx], target[idx]
            else:
                x, y = coords, target
            opt.zero_grad(set_to_none=True)
            loss = torch.mean((model(x) - y) ** 2)
            loss.backward()
            opt.step()
            step += 1
            bar.update(1)
            elapsed = time.perf_counter() - start
            if max_seconds is not None and step == 20:
                per_step = elapsed / step * (1.0 + (batch + n) / (batch * eval_every))  # evaluations included
                fits = int(max_seconds / per_step)
                if fits < planned:
                    planned = max(step + 1, fits)
                    bar.total = planned
                    bar.refresh()
            if step % eval_every == 0 or step == planned:
                mse = _full_mse(model, coords, target)
                if mse < best_mse:
                    best_mse = mse
                    best = [p.detach().clone() for p in params]
                bar.set_postfix(loss=f"{float(loss.detach()):.3g}", best=f"{best_mse:.3g}")
            if max_seconds is not None and elapsed > max_seconds:
                stopped = "time"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        bar.close()
    mse = _full_mse(model, coords, target)
    if mse < best_mse:
        best_mse = mse
    else:
        with torch.no_grad():
            for p, b in zip(params, best):
                p.copy_(b)
    return FitReport(best_mse, step, time.perf_counter() - start, stopped)


def resolve_device(device) -> torch.device:
    """``device`` as given, else CUDA when there is a GPU and the CPU otherwise."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class torch_threads:
    """Temporarily set torch's CPU thread count (no-op for None).

    Small networks on a busy machine run far faster on one thread than on
    several competing ones (OpenMP threads spin while they wait)."""

    def __init__(self, n: int | None):
        self.n, self.old = n, None

    def __enter__(self):
        if self.n:
            self.old = torch.get_num_threads()
            torch.set_num_threads(int(self.n))
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            torch.set_num_threads(self.old)
