"""The one training loop: step budget, schedule, best state, divergence guard, Ctrl-C, wall-clock cap."""

import math

import pytest
import torch

from torchgeo_inr.errors import TimeCapWarning
from torchgeo_inr.training import cosine_factor, fraction_done, train


def _quadratic():
    x = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    return x, (lambda step: (x**2).sum())


def test_runs_its_step_budget_and_lowers_the_loss():
    x, loss = _quadratic()
    result = train([x], loss, steps=200, lr=0.1, progress=False)
    assert result.steps == 200 and result.stopped == "steps"
    assert float((x**2).sum()) < 1e-2


def test_same_budget_same_result():
    a, loss_a = _quadratic()
    b, loss_b = _quadratic()
    train([a], loss_a, steps=50, lr=0.05, progress=False)
    train([b], loss_b, steps=50, lr=0.05, progress=False)
    assert torch.equal(a, b)


def test_keeps_the_best_state_and_stops_when_it_stalls():
    x = torch.nn.Parameter(torch.tensor([1.0]))
    scores = iter([1.0, 5.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    seen = {}

    def evaluate():
        score = next(scores)
        if score == 5.0:
            seen["best"] = float(x)
        return score

    result = train([x], lambda s: x.sum(), steps=1000, lr=0.01, evaluate=evaluate, eval_every=1, patience=3,
                   progress=False)
    assert result.stopped == "stalled" and result.best_score == 5.0
    assert float(x) == pytest.approx(seen["best"])  # the best state is put back


def test_a_wall_clock_cap_warns_and_says_so():
    x, loss = _quadratic()
    with pytest.warns(TimeCapWarning, match="wall-clock cap"):
        result = train([x], loss, steps=10_000, lr=0.1, max_seconds=0.0, progress=False)
    assert result.stopped == "time" and result.steps < 10_000


def test_non_finite_losses_are_skipped_then_stop_the_fit():
    x = torch.nn.Parameter(torch.tensor([1.0]))
    with pytest.raises(FloatingPointError, match="diverged"):
        train([x], lambda s: x.sum() * math.inf, steps=100, lr=0.1, progress=False)
    assert float(x) == 1.0  # no step was applied with a poisoned gradient
    ok = iter([False] * 10 + [True] * 1000)
    result = train([x], lambda s: x.sum() * (math.inf if next(ok) else 1.0), steps=200, lr=0.1,
                   evaluate=lambda: -float(x), eval_every=1, progress=False)
    assert result.stopped == "diverged" and result.steps == 10 + 51


def test_ctrl_c_ends_cleanly():
    x, _ = _quadratic()

    def loss(step):
        if step == 5:
            raise KeyboardInterrupt
        return (x**2).sum()

    result = train([x], loss, steps=100, lr=0.1, progress=False)
    assert result.stopped == "interrupted" and result.steps == 5


def test_schedule_reads_steps_only():
    assert fraction_done(50, 100) == 0.5 and fraction_done(500, 100) == 1.0
    assert cosine_factor(0.0, 0.0, 0.05, 0, 100) == 1.0
    assert cosine_factor(1.0, 0.0, 0.05, 100, 100) == pytest.approx(0.05)
    assert cosine_factor(0.0, 0.1, 0.05, 0, 100) == pytest.approx(0.1)  # warm-up: 1 of 10 steps
