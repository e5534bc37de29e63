"""The one training loop every neural codec fits with: a step budget, one schedule, one set of guards.

Why one: the same scene must give the same stream on an idle and on a busy
machine, so the budget is in steps and the schedule (linear warm-up, then a
cosine from each group's peak learning rate down to ``final_lr`` of it) runs
on the fraction of steps done, never on the clock. A wall-clock cap
(``max_seconds``) stays available; when it ends a fit early the result says
``stopped="time"`` and a :class:`~torchgeo_inr.errors.TimeCapWarning` is
issued, so a user knows the stream is not the reproducible one.

What each method supplies: its parameter groups, ``step_loss(step)`` (the
loss of one step; it may read ``fraction_done(step, steps)`` to switch
phases) and optionally ``evaluate()`` (higher is better) to keep the best
state, and ``after_step(step, loss)`` for its own bookkeeping (a rate
multiplier, a log, a checkpoint). What the loop does for all: progress bar,
Ctrl-C (ends cleanly with the state reached, ``stopped="interrupted"``),
a divergence guard (non-finite losses are skipped; too many of them end the
fit with the best state, or raise when there is none), best-state keeping,
early stop when the score stalls (``patience``).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from .errors import TimeCapWarning

#: Non-finite losses tolerated (each step skipped) before a fit counts as diverged.
MAX_SKIPPED = 50


@dataclass
class TrainResult:
    """What a fit did: steps run, seconds, why it stopped and the scores it saw."""

    steps: int
    seconds: float
    #: "steps" (budget done), "stalled" (patience), "time" (max_seconds), "interrupted" (Ctrl-C), "diverged"
    stopped: str
    best_score: float = math.nan
    skipped: int = 0

    def as_report(self, prefix: str = "") -> dict:
        return {f"{prefix}steps": self.steps, f"{prefix}seconds": round(self.seconds, 2),
                f"{prefix}stopped": self.stopped,
                **({} if math.isnan(self.best_score) else {f"{prefix}score": round(self.best_score, 4)})}


def fraction_done(step: int, steps: int) -> float:
    """Where ``step`` lies in a budget of ``steps``: the one clock every schedule and phase reads."""
    return min(1.0, step / max(1, steps))


def cosine_factor(fraction: float, warmup: float, final_lr: float, step: int, steps: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` of the steps, then cosine to ``final_lr``."""
    warm = min(1.0, (step + 1) / max(1.0, warmup * steps)) if warmup > 0 else 1.0
    return warm * (final_lr + (1 - final_lr) * 0.5 * (1 + math.cos(math.pi * fraction)))


def _snapshot(params: list[torch.Tensor]) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def _groups(params) -> list[dict]:
    params = list(params)
    if params and isinstance(params[0], dict):
        return [dict(g, params=[p for p in g["params"] if p.requires_grad]) for g in params]
    return [{"params": [p for p in params if p.requires_grad]}]


def train(
    params: Iterable,
    step_loss: Callable[[int], torch.Tensor],
    *,
    steps: int,
    lr: float,
    evaluate: Callable[[], float] | None = None,
    eval_every: int = 25,
    patience: int | None = None,
    min_delta: float = 0.01,
    warmup: float = 0.0,
    final_lr: float = 0.05,
    after_step: Callable[[int, torch.Tensor], dict | None] | None = None,
    max_seconds: float | None = None,
    clip_grad: float | None = None,
    start_step: int = 0,
    amp: bool = False,
    optimizer: torch.optim.Optimizer | None = None,
    progress: bool = True,
    desc: str = "fit",
) -> TrainResult:
    """Minimise ``step_loss(step)`` with Adam for ``steps`` steps; leave the best-scoring state in place.

    ``params``: parameters, or parameter groups (dicts) each with its own ``lr`` (the peak of its
    schedule) and optionally ``scale`` (a factor ``step_loss`` may change between steps, e.g. at a
    phase switch). ``optimizer``: one already built over them (to resume its state, or to reach its
    groups from ``step_loss``). Without ``evaluate`` the last state is kept.
    """
    from tqdm.auto import tqdm

    # the foreach path's dispatch costs more than the tiny steps of these networks
    opt = optimizer or torch.optim.Adam(_groups(params), lr=lr, foreach=False)
    for g in opt.param_groups:
        g.setdefault("peak", g["lr"])
    tracked = [p for g in opt.param_groups for p in g["params"]]
    start = time.perf_counter()
    best_score, best = -math.inf, None
    stale, stopped, skipped, step = 0, "steps", 0, int(start_step)
    bar = tqdm(total=steps, initial=step, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    postfix: dict = {}
    try:
        while step < steps:
            factor = cosine_factor(fraction_done(step, steps), warmup, final_lr, step, steps)
            for g in opt.param_groups:
                g["lr"] = g["peak"] * factor * g.get("scale", 1.0)
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                loss = step_loss(step)
            step += 1
            bar.update(1)
            if not torch.isfinite(loss.detach()).all():
                skipped += 1  # a rare overflow: skip the step rather than poison the weights
                if skipped > MAX_SKIPPED:
                    if best is None:
                        raise FloatingPointError(f"{desc} diverged at step {step} (loss {float(loss)})")
                    stopped = "diverged"
                    break
                continue
            loss.backward()
            if clip_grad is not None:
                torch.nn.utils.clip_grad_norm_(tracked, clip_grad)
            opt.step()
            if after_step is not None:
                postfix.update(after_step(step, loss.detach()) or {})
            if evaluate is not None and (step % eval_every == 0 or step == steps):
                with torch.no_grad():
                    score = float(evaluate())
                stale = 0 if score > best_score + min_delta else stale + 1
                if score > best_score:
                    best_score, best = score, _snapshot(tracked)
                postfix.update(score=f"{score:.2f}", best=f"{best_score:.2f}")
                if patience is not None and stale >= patience:
                    stopped = "stalled"
                    break
            if postfix and (step % 25 == 0 or step == steps):
                bar.set_postfix(loss=f"{float(loss.detach()):.4g}", **postfix)
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                stopped = "time"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        bar.close()
    if evaluate is not None and stopped in ("time", "interrupted", "diverged"):
        with torch.no_grad():
            score = float(evaluate())
        if math.isfinite(score) and score > best_score:
            best_score, best = score, _snapshot(tracked)
    if best is not None:
        with torch.no_grad():
            for p, b in zip(tracked, best):
                p.copy_(b)
    if stopped == "time":
        warnings.warn(
            f"{desc}: the wall-clock cap of {max_seconds:g} s ended the fit after {step} of {steps} steps; "
            "the stream is not the reproducible one the step budget gives",
            TimeCapWarning,
            stacklevel=2,
        )
    result = TrainResult(step - int(start_step), time.perf_counter() - start, stopped,
                         best_score if best is not None else math.nan, skipped)
    return result
