"""The ``hiner`` codec's latent mode as a stream: encode with rate control by real bytes, and decode.

What the stream holds (all counted in the rate): the architecture as header
numbers; per band a float16 log2 scale (the band's peak) and mean; the
spectral basis (k x B, scaled so that the network's outputs are of order one)
and the synthesis weights, each quantised per channel and ANS-coded
(:mod:`torchgeo_inr.quantize`); the rounded latents, one ANS-coded tensor per
level and channel with its own fitted model (:mod:`torchgeo_inr.entropy`).

Rate control: training steers its estimate of the whole stream (corrected
by measuring the real stream every few steps) to 97% of the budget. A stream
that comes out over budget gets the smallest rounding dead zone that brings
it under (small latents go to zero); one still over, or under
``target.min_bytes``, is trained on gently in the rounding phase with a
higher or lower rate weight, a few rounds, and the best stream in range is
kept (if none is, the best under budget: a slightly small stream beats a
worse one).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import bitstream, entropy
from ..errors import BitstreamError, RateError
from ..hiner.latent import MAX_SYMBOL, LatentConfig, LatentHiner, auto_config
from ..hiner.latent_fit import LATENT_LR, RateDistortionLoss, fit_latent
from ..hiner.spectral import peak_normalise, principal_basis, truncation_tilt
from ..quantize import fake_quant, pack_state, unpack_state
from ..ratecontrol import Target
from ..scene import Scene
from .base import Finish
from ..packing import pack_array, unpack_array

BASIS_BITS = 8
#: Training aims at this share of the byte budget (the real stream must land in [0.9, 1] of it).
DESIRED = 0.97
#: Most rounding-phase fine-tunes rate control runs, and the steps of each.
RATE_ROUNDS, RATE_STEPS = 3, 150
#: Widest dead zone rate control may use to bring a stream under budget.
DEADZONE_MAX = 0.45


class LatentData:
    """The scene as the latent mode sees it: bands / peak, centred, and their principal components."""

    def __init__(self, scene: Scene, components: int, device: torch.device, tilt: bool = True):
        bands = scene.bands
        # per-band weights for the PCA ride in the per-band scale the stream holds anyway
        weights = truncation_tilt(scene.data, components) if tilt and components < bands else None
        self.log2_scale, self.mean16, xc = peak_normalise(scene.data, weights)
        basis = principal_basis(xc, components)  # (k, B)
        coeff_peak = float(np.abs(basis @ xc).max()) or 1.0
        # the basis carries the coefficients' scale: the network then outputs values of order one
        self.basis_header, self.basis_sections = pack_state({"basis": basis * coeff_peak}, {"basis": BASIS_BITS})
        decoded = unpack_state(self.basis_header, self.basis_sections, {"basis": (components, bands)})["basis"]
        self.basis = torch.from_numpy(decoded.astype(np.float32)).to(device)
        self.target = torch.from_numpy(xc.astype(np.float32)).to(device)

    def side_sections(self) -> dict[str, bytes]:
        return {
            "scale": pack_array(self.log2_scale, "f2"),
            "mean": pack_array(self.mean16, "f2"),
            "bstep": self.basis_sections["qstep"],
            "bdata": self.basis_sections["qdata"],
        }


def build_stream(model: LatentHiner, data: LatentData, weight_bits: int, finish: Finish, deadzone: float = 0.0) -> bytes:
    state = {n: p.detach().float().cpu().numpy() for n, p in model.decoder_state().items()}
    if not all(np.isfinite(v).all() for v in state.values()):
        raise FloatingPointError("the latent fit left non-finite weights")
    qhead, qsections = pack_state(state, {n: weight_bits for n in state})
    symbols = [s.cpu().numpy() for s in model.symbols(deadzone)]
    models = [_float32_model(entropy.fit_model(s)) for s in symbols]
    blob, models = entropy.encode_tensors(symbols, models)
    header = {"mode": "latent", "arch": model.cfg.to_header(), "q": qhead, "qb": data.basis_header}
    return finish(header, {**data.side_sections(), **qsections, "latents": blob, "lmodels": _pack_models(models)})


# One model per latent channel: family, symbol range and float32 mean and scale, 17 bytes in binary
# (in the JSON header they would cost twice that, which matters on small scenes and tiles).
_MODEL = np.dtype([("family", "u1"), ("lo", "<i4"), ("hi", "<i4"), ("mean", "<f4"), ("scale", "<f4")])


def _float32_model(model: list) -> list:
    family, mean, scale, lo, hi = model
    return [family, float(np.float32(mean)), float(np.float32(scale)), lo, hi]


def _pack_models(models: list[list]) -> bytes:
    table = np.zeros(len(models), dtype=_MODEL)
    for row, (family, mean, scale, lo, hi) in zip(table, models):
        row["family"], row["lo"], row["hi"], row["mean"], row["scale"] = family, lo, hi, mean, scale
    return table.tobytes()


def _unpack_models(blob: bytes, count: int) -> list[list]:
    if len(blob) != count * _MODEL.itemsize:
        raise BitstreamError(f"latent models section has {len(blob)} bytes, expected {count * _MODEL.itemsize}")
    table = np.frombuffer(blob, dtype=_MODEL)
    return [[int(r["family"]), float(r["mean"]), float(r["scale"]), int(r["lo"]), int(r["hi"])] for r in table]


def encode_latent(
    scene: Scene,
    target: Target,
    finish: Finish,
    *,
    cfg: LatentConfig | None,
    seconds: float,
    steps: int,
    weight_bits: int,
    seed: int,
    device: torch.device,
    lr_latent: float | None = None,
    progress: bool,
    report: dict,
) -> bytes:
    """Fit, then measure and correct the real stream until it lies in the target's byte range."""
    t0 = time.perf_counter()
    bands, height, width = scene.shape
    cfg = cfg or auto_config(target.bpppb, bands, height, width)
    torch.manual_seed(seed)
    data = LatentData(scene, cfg.components, device, tilt=cfg.tilt)
    model = LatentHiner(cfg, height, width).to(device)
    side = len(build_stream(model, data, weight_bits, finish))
    desired = DESIRED * target.max_bytes
    loss = RateDistortionLoss(data.basis, data.target, scene.data.size)
    report.update(mode="latent", config=cfg.to_header(), components=cfg.components, device=str(device),
                  side_bytes=side)

    def measure() -> float:
        return 8.0 * len(build_stream(model, data, weight_bits, finish))

    fit = fit_latent(model, loss, target_bits=8.0 * desired, measure=measure, seconds=seconds, steps=steps,
                     weight_bits=weight_bits, lr_latent=lr_latent or LATENT_LR, progress=progress)
    report.update(fit_steps=fit.steps, fit_seconds=round(fit.seconds, 1), fit_psnr=round(fit.psnr, 3),
                  fit_stopped=fit.stopped)
    candidates = [_fit_budget(model, data, loss, weight_bits, finish, target, device)]
    report.update(fit_bytes=candidates[0][1], fit_psnr_rounded=round(candidates[0][0], 3))
    target_bits, rounds = 8.0 * desired, 0
    while rounds < RATE_ROUNDS and fit.stopped != "interrupted" and not _in_range(candidates[-1], target):
        # a few gentle rounding-phase rounds, with the rate weight lowered (under budget) or raised (over);
        # the best stream is kept
        rounds += 1
        over = candidates[-1][3] is None
        target_bits += 8.0 * (desired - candidates[-1][1])
        fit = fit_latent(model, loss, target_bits=target_bits, measure=measure, seconds=seconds, steps=RATE_STEPS,
                         weight_bits=weight_bits, lam=fit.lam * 2.0 if over else fit.lam / 1.5, lr_latent=1e-3,
                         lr=1e-5, phase="ste", progress=progress, desc=f"hiner rate control {rounds}")
        candidates.append(_fit_budget(model, data, loss, weight_bits, finish, target, device))
    written = [c for c in candidates if c[3] is not None]
    if not written:
        raise RateError(f"hiner could not fit {target.max_bytes} bytes", smallest=min(c[1] for c in candidates))
    psnr, size, deadzone, stream = max(written, key=lambda c: (_in_range(c, target), c[0]))
    report.update(bytes=size, rate_rounds=rounds, deadzone=round(deadzone, 4), psnr_estimate=round(psnr, 3),
                  seconds=round(time.perf_counter() - t0, 1))
    return stream


def _in_range(candidate, target: Target) -> bool:
    return candidate[3] is not None and candidate[1] >= target.min_bytes


def _fit_budget(model, data, loss, weight_bits, finish, target: Target, device):
    """(per-band PSNR, bytes, dead zone, stream): the stream as trained, or with the smallest dead zone that
    fits; the stream is None (and the bytes the smallest reached) when even the widest dead zone is over."""
    deadzone, stream = 0.0, build_stream(model, data, weight_bits, finish)
    if len(stream) > target.max_bytes:
        smallest = len(build_stream(model, data, weight_bits, finish, DEADZONE_MAX))
        if smallest > target.max_bytes:
            return -math.inf, smallest, DEADZONE_MAX, None
        lo, hi = 0.0, DEADZONE_MAX
        for _ in range(10):
            mid = (lo + hi) / 2
            if len(build_stream(model, data, weight_bits, finish, mid)) > target.max_bytes:
                lo = mid
            else:
                hi = mid
        deadzone, stream = hi, build_stream(model, data, weight_bits, finish, hi)
    with torch.no_grad():
        params = {n: fake_quant(p, weight_bits) for n, p in model.decoder_state().items()}
        grids = model.grids_from_symbols([q.cpu().numpy() for q in model.symbols(deadzone)], device)
        psnr = loss.psnr(model.synthesize(grids, params))
    return psnr, len(stream), deadzone, stream


@dataclass
class LatentRenderer:
    """A decoded latent stream: coefficient images, basis and band scales, ready to render.

    ``render(shift)`` is what ISI asks of every hiner stream: bands a fraction
    of a band away, here by interpolating the decoded spectrum between
    neighbouring bands in value units. The stored per-band scales hold the
    PCA's band weights (up to 2**4 either way), so interpolating in the
    normalised space would mix bands at the wrong scale.
    """

    coeffs: torch.Tensor  # (k, H*W) float64
    basis: torch.Tensor  # (B, k) float64
    mean: torch.Tensor  # (B,) float64
    scale: torch.Tensor  # (B,) float64
    shape: tuple[int, int, int]

    @classmethod
    @torch.inference_mode()
    def from_stream(cls, stream: bitstream.Stream, shape, device=None) -> LatentRenderer:
        """Parse, check and synthesise; any inconsistency raises :class:`BitstreamError`."""
        bands, height, width = shape
        head = stream.header
        cfg = LatentConfig.from_header(head.get("arch"), bands, height, width)
        device = torch.device("cpu") if device is None else torch.device(device)
        model = LatentHiner(cfg, height, width, latents=False)
        model.load_decoder(unpack_state(head.get("q"), stream.sections, model.decoder_shapes()))
        basis_sections = {"qstep": stream.section("bstep"), "qdata": stream.section("bdata")}
        basis = unpack_state(head.get("qb"), basis_sections, {"basis": (cfg.components, bands)})["basis"]
        counts = [h * w for c, (h, w) in zip(cfg.channels, model.sizes) for _ in range(c)]
        models = _unpack_models(stream.section("lmodels"), len(counts))
        symbols = entropy.decode_tensors(stream.section("latents"), models, counts)
        if any(np.abs(s).max(initial=0) > MAX_SYMBOL for s in symbols):
            raise BitstreamError("latent symbols are out of range")
        model.to(device)
        coeffs = model.synthesize(model.grids_from_symbols(symbols, device)).double().reshape(cfg.components, -1)
        if not torch.isfinite(coeffs).all():
            raise BitstreamError("latent stream decodes to non-finite values")

        def rows(name: str) -> torch.Tensor:
            return torch.from_numpy(unpack_array(stream.section(name), "f2", bands, name).astype(np.float64)).to(device)

        basis_t = torch.from_numpy(basis.astype(np.float64).T.copy()).to(device)
        return cls(coeffs, basis_t, rows("mean"), torch.exp2(rows("scale")), (bands, height, width))

    @property
    def device(self) -> torch.device:
        return self.coeffs.device

    @torch.inference_mode()
    def render(self, shift: torch.Tensor | None = None) -> torch.Tensor:
        """The scene (B, H, W) float32 on the renderer's device; ``shift`` (B,) in bands moves each band."""
        from ..hiner.render import lerp_rows

        bands = self.shape[0]
        if shift is not None and tuple(shift.shape) != (bands,):
            raise ValueError(f"shift must have one value per band ({bands}), not shape {tuple(shift.shape)}")
        if shift is None:
            x = (self.basis @ self.coeffs + self.mean[:, None]) * self.scale[:, None]
        else:
            x = lerp_rows(self.basis * self.scale[:, None], shift) @ self.coeffs
            x = x + lerp_rows(self.mean * self.scale, shift)[:, None]
        return x.reshape(self.shape).float()

