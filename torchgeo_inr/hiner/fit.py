"""The fitting loop: Adam with warm-up and cosine decay, planned to the time budget.

Fast where the public code is slow: the caller's ``step_loss`` fits many
bands per step; on CUDA it runs under bfloat16 autocast; the best state (by
the caller's ``evaluate``, higher is better) is kept and restored at the
end; fitting stops when quality stalls (``patience`` evaluations without a
gain of ``min_delta``), when ``max_seconds`` is spent (the cosine schedule is
re-planned after a few steps so that it ends in time), or on Ctrl-C, which
ends the fit cleanly with the best state so far.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class FitResult:
    best_score: float
    steps: int
    seconds: float
    stopped: str  # "steps", "time", "stalled", "interrupted"


def _snapshot(params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def fit(
    params: list[torch.nn.Parameter],
    step_loss: Callable[[int], torch.Tensor],
    evaluate: Callable[[], float],
    *,
    steps: int,
    lr: float,
    max_seconds: float | None = None,
    eval_every: int = 25,
    patience: int = 8,
    min_delta: float = 0.01,
    warmup: float = 0.05,
    final_lr: float = 0.02,
    device: torch.device | str = "cpu",
    progress: bool = True,
    desc: str = "fit",
) -> FitResult:
    """Minimise ``step_loss(step)`` over ``params``; leave the best-scoring values in ``params``."""
    from tqdm.auto import tqdm

    params = [p for p in params if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    amp = torch.device(device).type == "cuda"
    start = time.perf_counter()
    planned = max(1, int(steps))
    best_score, best = -math.inf, _snapshot(params)
    stale, stopped, done = 0, "steps", 0
    last_mark, per_step = None, None
    bar = tqdm(total=planned, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    try:
        step = 0
        while step < planned:
            t = step / planned
            w = min(1.0, (step + 1) / max(1.0, warmup * planned))
            scale = w * (final_lr + (1 - final_lr) * 0.5 * (1 + math.cos(math.pi * t)))
            for group in opt.param_groups:
                group["lr"] = lr * scale
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                loss = step_loss(step)
            loss.backward()
            opt.step()
            step += 1
            done = step
            bar.update(1)
            elapsed = time.perf_counter() - start
            if max_seconds is not None and step % 10 == 0:
                # re-plan the schedule from the recent pace so that it ends within the budget
                # (the first steps are slow and the machine may be shared, so this is repeated)
                now = time.perf_counter()
                if last_mark is not None:
                    pace = (now - last_mark) / 10
                    per_step = pace if per_step is None else 0.7 * per_step + 0.3 * pace
                    remaining = max_seconds - elapsed
                    planned = max(step + 1, min(int(steps), step + int(remaining / (per_step * 1.1))))
                    bar.total = planned
                    bar.refresh()
                last_mark = now
            if step % eval_every == 0 or step == planned:
                with torch.no_grad():
                    score = float(evaluate())
                if score > best_score + min_delta:
                    stale = 0
                else:
                    stale += 1
                if score > best_score:
                    best_score, best = score, _snapshot(params)
                bar.set_postfix(loss=f"{float(loss.detach()):.4g}", score=f"{score:.2f}", best=f"{best_score:.2f}")
                if stale >= patience:
                    stopped = "stalled"
                    break
            if max_seconds is not None and elapsed > max_seconds:
                stopped = "time"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        bar.close()
    if best_score == -math.inf or stopped in ("time", "interrupted"):
        with torch.no_grad():
            score = float(evaluate())
        if score > best_score:
            best_score, best = score, _snapshot(params)
    with torch.no_grad():
        for p, b in zip(params, best):
            p.copy_(b)
    return FitResult(best_score, done, time.perf_counter() - start, stopped)
