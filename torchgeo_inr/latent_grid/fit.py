"""Rate-distortion training of :class:`~torchgeo_inr.latent_grid.model.LatentGridModel`, steered to a bit budget.

The loss is ``mean_b log(MSE_b) + lambda * bits / values``: the first term is
the benchmark's per-band PSNR (up to -10 / ln 10), so bands are weighted the
way the metric weights them. ``lambda`` follows the estimated rate
(:class:`RateWeight`): every few steps it is multiplied by
``exp(gain * (projected bits / target - 1))``, so the rate settles on the
budget whatever the scene. The schedule (cosine learning rate, noise
soft-rounded at a falling temperature (:mod:`~torchgeo_inr.latent_grid.soft_rounding`),
then straight-through rounding) runs on the fraction of the step budget
done: the loop is :func:`torchgeo_inr.training.train`, the one every codec
fits with (progress, Ctrl-C, divergence guard, optional wall-clock cap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..quantize import fake_quant
from ..training import TrainResult, fraction_done, train
from .model import LatentGridModel
from .soft_rounding import TEMPERATURES, temperature_at

#: Steps between measurements of the real stream size.
MEASURE_EVERY = 100
#: Steps between recomputing the context model's features and predictions (they follow the rounded latents,
#: which move slowly).
FEATURES_EVERY = 10
#: The latents' peak learning rate: they start at zero and must grow to the rate's magnitudes (on Indian
#: Pines 0.15 beat 0.02-0.06 by 0.6 dB at 0.2 and at 0.5 bpppb; above about 0.3 rounding losses grow).
LATENT_LR = 0.15
#: The warm-started latents' (:mod:`~torchgeo_inr.latent_grid.warm_start`: the skipped channels) peak learning
#: rate in fits of up to 1,000 steps (longer ones: :func:`warm_latent_lr`): they start where they belong, and
#: at 0.15 they drift: a longer fit ended worse. The other latents start at zero and keep ``LATENT_LR`` (all
#: at 0.05, a 300-step fit of a 40 x 40 scene at 0.5 bpppb could not reach its rate). Per-band PSNR on Indian
#: Pines' views (stream version 8, one torch thread), all latents 0.15 -> 0.05: 5,000 steps, whole 0.05 bpppb
#: 41.90 -> 42.17 dB, q0 0.1 41.92 -> 42.15 (0.03: 42.26); 1,000 steps, whole 0.05 42.11 -> 42.11, q0 0.1
#: 42.12 -> 42.12, q3 0.5 46.43 -> 46.57, q0 1.0 48.36 -> 48.48, q2 2.0 52.16 -> 52.06; the skipped channels
#: alone at 0.05: 5,000 steps, whole 0.05 / 0.1 / 0.2 bpppb 42.10 / 43.68 / 45.31 (two threads; README).
WARM_LATENT_LR = 0.05
#: How far the warm-started latents may travel in a fit: peak learning rate times steps (longer fits move them
#: at ``WARM_LATENT_TRAVEL / steps``, :func:`warm_latent_lr`).
WARM_LATENT_TRAVEL = 50.0
#: The latents' learning rate shrinks by this factor when rounding starts: at the noise phase's rate
#: (0.15 peak) straight-through rounding flips latents across bin edges and the stream grew by half
#: on Indian Pines at 0.05 bpppb however high lambda went.
ROUNDING_LATENT_LR = 0.1
#: The basis's precision is chosen (``on_basis``) this far into the fit, inside the noise phase, so that the
#: noise phase re-spends on the latents the bytes it frees (see :func:`fit_latent`). Chosen when rounding
#: started (0.8), streams ended 5 to 8% under their aim: the rounding phase barely moves the latents. Per-band
#: PSNR on Indian Pines' views, 5,000 steps, one torch thread, at rounding -> 0.6 -> 0.4: q2 0.1 bpppb
#: 44.03 -> 44.08 -> 44.11 dB, q0 0.1 42.55 -> 42.62 -> 42.65, q1 0.1 42.10 -> 42.13 -> 42.18, q3 0.5 47.04
#: -> 47.04 -> 47.09, q2 2.0 53.13 -> 53.24 -> 53.32, whole 0.05 42.67 -> 42.71 -> 42.73, whole 0.2 45.70 ->
#: 45.70 -> 45.69 (its stream already filled 97%).
BASIS_AT = 0.4
#: Steps between updates of lambda.
LAMBDA_EVERY = 20
#: lambda steers by the rate projected this share of the fit ahead along its trend.
LOOK_AHEAD = 0.05
#: lambda rises this much faster than it falls: a stream over budget fails, one under wastes a little.
#: (With one gain the rate crept 5-8% over budget at 0.5 bpppb while the latents were still growing.)
OVER_GAIN = 3.0


def warm_latent_lr(steps: int) -> float:
    """The warm-started latents' peak learning rate for a fit of ``steps``: ``WARM_LATENT_LR`` up to 1,000 steps,
    then a fixed travel (rate times steps).

    Why: Adam moves a latent by about its learning rate a step, so the skipped
    channels' drift from where the warm start put them grows with the fit's
    length, and 5,000-step fits ended below 1,000-step ones (per-band PSNR on
    Indian Pines' views, one torch thread, 1,000 -> 5,000 steps at 0.05: q0
    0.1 bpppb 42.44 -> 42.42 dB, q0 1.0 48.56 -> 48.46, q2 2.0 52.86 -> 52.40).
    With this travel, 5,000 steps: q0 0.1 42.55 (at 0.02: 42.55), q0 1.0 48.74,
    q2 2.0 53.13, q3 0.5 47.04 (at 0.05: 46.82), and against two-thread runs
    at 0.05, whole 0.05 42.67 (42.39), q1 0.1 42.10 (41.93), q2 0.1 44.03
    (43.85).
    """
    return min(WARM_LATENT_LR, WARM_LATENT_TRAVEL / max(int(steps), 1))


def _scale_updates(opt: torch.optim.Optimizer, latents: torch.Tensor, channels: int, scale: float) -> None:
    """Scale each of ``opt``'s steps on the first ``channels`` of ``latents`` (1, C, h, w) by ``scale``: Adam's
    step is its learning rate times a normalised direction, so this is those channels' own learning rate."""
    before: dict[str, torch.Tensor] = {}

    def save(*_):
        before["values"] = latents.detach()[:, :channels].clone()

    def blend(*_):
        with torch.no_grad():
            moved = latents[:, :channels]
            moved.copy_(before["values"] + (moved - before["values"]) * scale)

    opt.register_step_pre_hook(save)
    opt.register_step_post_hook(blend)


@dataclass
class LatentFitResult:
    train: TrainResult
    lam: float
    psnr: float  # per-band PSNR estimate (noisy or rounded latents, as trained last)
    bits: float  # estimated latent bits

    @property
    def stopped(self) -> str:
        return self.train.stopped


class RateDistortionLoss:
    """Per-band log-MSE through the basis plus lambda * estimated bits per value.

    Cheap form: with ``c*`` the target's least-squares coefficients on the
    (quantised) basis ``U`` and ``t_b`` the per-band error of that projection,
    band ``b``'s MSE is ``t_b + (U^T Cov(c - c*) U)_bb`` up to a cross term
    that averages out (the projection residual is orthogonal to the basis);
    this costs k x k x pixels instead of bands x k x pixels a step. The
    scores reported (:meth:`psnr`) are exact.
    """

    def __init__(self, basis: torch.Tensor, target: torch.Tensor, n_values: int):
        self.basis = basis  # (k, B)
        self.target = target  # (B, H*W), centred and normalised
        self.n_values = n_values
        self.project()

    def project(self) -> None:
        """The least-squares coefficients and truncation error on the basis (again, after it changed in place)."""
        basis, target = self.basis, self.target
        gram = basis.double() @ basis.double().T
        coeffs = torch.linalg.solve(gram, basis.double() @ target.double())  # (k, H*W)
        residual = target.double() - basis.double().T @ coeffs
        self.coeffs = coeffs.float()
        self.truncation = residual.square().mean(dim=1).float()  # (B,)

    def band_mse(self, coeffs: torch.Tensor) -> torch.Tensor:
        err = coeffs.reshape(coeffs.shape[0], -1) - self.coeffs
        cov = err @ err.T / err.shape[1]
        coded = ((self.basis.T @ cov) * self.basis.T).sum(dim=1)
        return (self.truncation + coded).clamp_min(1e-20)

    def psnr(self, coeffs: torch.Tensor) -> float:
        recon = self.basis.T @ coeffs.reshape(coeffs.shape[0], -1)
        mse = (recon - self.target).square().mean(dim=1).clamp_min(1e-20)
        return float(-10.0 * torch.log10(mse.double()).mean())


class RateWeight:
    """lambda, steered every ``LAMBDA_EVERY`` steps so that the rate settles on ``target_bits``.

    It follows where the rate is heading, not where it is: the latents grow
    for most of the fit, and a weight lowered while they grow overshoots once
    they arrive (Indian Pines' 73 x 73 quadrant at 2.0 bpppb, 1,000 steps: the
    stream ended 8% over its aim, and the knob that brought it under cost 1.1 to 2.2
    dB). The trend is the latents' estimate's change over the last
    ``look_ahead`` steps of the phase (over a window that long, the noise of
    a single step's estimate stays small), added to the rate. lambda rises
    ``OVER_GAIN`` times faster than it falls.
    """

    def __init__(self, lam: float, target_bits: float, gain: float, look_ahead: float):
        self.lam, self.target_bits, self.gain = lam, max(target_bits, 1.0), gain
        self.lookback = max(1, round(look_ahead / LAMBDA_EVERY))  # in updates
        self.history: list[float] = []
        self.rounding = False

    def update(self, bits: float, correction: float, rounding: bool) -> float:
        """One update from the latents' estimate ``bits``, the measured ``correction`` to the whole stream, and
        the phase (the estimate jumps when rounding starts: the trend restarts there)."""
        if rounding != self.rounding:
            self.history, self.rounding = [], rounding
        self.history.append(bits)
        trend = bits - self.history[max(0, len(self.history) - 1 - self.lookback)]
        del self.history[: -self.lookback - 1]
        error = (bits + correction + trend) / self.target_bits - 1.0
        step = self.gain * (OVER_GAIN if error > 0 else 1.0) * min(max(error, -1.0), 1.0)
        self.lam = min(max(self.lam * math.exp(step), 1e-6), 1e6)
        return self.lam


def fit_latent(
    model: LatentGridModel,
    loss: RateDistortionLoss,
    *,
    target_bits: float,
    steps: int,
    weight_bits: int,
    measure=None,
    max_seconds: float | None = None,
    lam: float = 1.0,
    lr_latent: float = LATENT_LR,
    lr: float = 1e-2,
    noise_fraction: float = 0.8,
    temperatures: tuple[float, float] | None = TEMPERATURES,
    gain: float = 0.3,
    phase: str | None = None,
    progress: bool = True,
    desc: str = "latent-grid fit",
    on_basis=None,
    warm_lr: float | None = None,
) -> LatentFitResult:
    """Train ``model`` in place; ``phase="ste"`` runs the rounding phase only (rate fine-tuning).

    ``temperatures``: the noise phase's soft rounding, from the first to the second over the phase
    (None: uniform noise alone).

    ``warm_lr``: the skipped (warm-started) channels' latents move at this peak rate instead of ``lr_latent``.

    ``on_basis(lam, band_mse)`` is called once, ``BASIS_AT`` into the fit (or
    when rounding starts, if sooner), with the rate weight and the per-band MSE
    then (the basis's precision is chosen there,
    :meth:`~torchgeo_inr.codecs.latent_grid_data.LatentData.choose_basis_precision`),
    and the stream is measured again after it.

    ``target_bits`` is for the whole stream when ``measure`` (a callable giving
    the real stream's size in bits) is given: every ``MEASURE_EVERY`` steps the
    gap between the real size and the latents' estimate (side information,
    model mismatch) is measured and the estimate corrected by it; else it is
    for the latents' estimate alone.
    """
    groups = [
        {"params": list(model.latents.parameters()), "lr": lr_latent},
        {"params": model.entropy_parameters() + list(model.decoder_state().values()), "lr": lr},
    ]
    state = {"psnr": float("nan"), "bits": float("nan"), "correction": 0.0, "rounding": False, "mse": None,
             "features": None, "measured": False, "basis": on_basis is None}
    weight = RateWeight(lam, target_bits, gain, LOOK_AHEAD * steps)

    def rounding(step: int) -> bool:
        return phase == "ste" or fraction_done(step, steps) >= noise_fraction

    def step_loss(step: int) -> torch.Tensor:
        settled = rounding(step) or fraction_done(step, steps) >= BASIS_AT
        if settled and not state["basis"] and state["mse"] is not None:
            on_basis(weight.lam, state["mse"])
            # None matches neither phase, so after_step measures the stream again after this step
            state["basis"], state["measured"] = True, None
        state["rounding"] = rounding(step)
        if state["rounding"] and phase is None:
            groups_live[0]["scale"] = ROUNDING_LATENT_LR
        if state["rounding"]:
            grids = model.quantised_grids("ste")
        else:
            into_noise = fraction_done(step, steps) / noise_fraction
            temperature = None if temperatures is None else temperature_at(into_noise, temperatures)
            grids = model.quantised_grids("noise", temperature)
        params = None
        if state["rounding"]:
            params = {n: fake_quant(p, weight_bits) for n, p in model.decoder_state().items()}
        coeffs = model.synthesize(grids, params)
        if len(model.context) and (step % FEATURES_EVERY == 1 or state["features"] is None):
            state["features"] = model.context_features(grids)
        rate = model.rate_bits(grids, state["features"])
        mse = loss.band_mse(coeffs)
        state["bits"], state["mse"] = float(rate.detach()), mse.detach()
        return torch.log(mse).mean() + weight.lam * rate / loss.n_values

    def after_step(step: int, _loss) -> dict | None:
        if measure is not None and (step == 1 or step % MEASURE_EVERY == 0 or state["rounding"] != state["measured"]):
            # against the estimate lambda steers by (noisy latents in the noise phase), not the rounded one:
            # noise spreads near-zero latents, so the noisy estimate runs above the stream, and a weight steered
            # by it ended low-rate fits 6 to 10% under budget (Indian Pines' quadrant at 0.1 bpppb, whole at 0.05);
            # measured again when rounding starts, where that estimate drops
            state["correction"], state["measured"] = float(measure()) - state["bits"], state["rounding"]
        if step % LAMBDA_EVERY == 0:
            weight.update(state["bits"], state["correction"], state["rounding"])
        if step % 25 == 0 or step == steps:
            state["psnr"] = float(-10.0 * torch.log10(state["mse"].double()).mean())
            return {"psnr": f"{state['psnr']:.2f}", "kbytes": f"{(state['bits'] + state['correction']) / 8192:.1f}",
                    "lam": f"{weight.lam:.3g}", "phase": "round" if state["rounding"] else "noise"}
        return None

    opt = torch.optim.Adam(groups, foreach=False)  # the foreach path's dispatch costs more than these tiny steps
    groups_live = opt.param_groups  # step_loss lowers the latents' learning rate once rounding starts
    if warm_lr is not None and model.cfg.skip and warm_lr != lr_latent:
        _scale_updates(opt, model.latents[0], model.cfg.skip, warm_lr / lr_latent)
    result = train(groups, step_loss, steps=steps, lr=lr, final_lr=0.05, after_step=after_step,
                   max_seconds=max_seconds, optimizer=opt, progress=progress, desc=desc)
    return LatentFitResult(result, weight.lam, state["psnr"], state["bits"])
