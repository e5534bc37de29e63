"""``latent-grid``: this project's own neural codec, a spectral basis and latent grids trained for rate.

After Cool-chic (Ladune et al., ICCV 2023) and C3 (Kim et al., CVPR 2024),
not HINER: the scene's principal components (quantised, in the stream) and
entropy-coded integer latent grids at several resolutions, turned into the
components' coefficient images by a tiny synthesis network
(:mod:`torchgeo_inr.latent_grid`), trained on the scene for rate and
distortion. The bands are weighted for the PCA by half of what ``pca-jpeg2000``'s
band re-weighting measures on the scene at the rate
(:func:`~torchgeo_inr.codecs.latent_grid_data.coding_weights`; the weights
ride in the per-band scales the stream holds). Stream layout:
:mod:`torchgeo_inr.codecs.latent_grid_stream`.
Decode on the CPU (``device`` None or "cpu") needs numpy alone
(:mod:`~torchgeo_inr.codecs.latent_grid_read`, :mod:`~torchgeo_inr.codecs.latent_grid_network`); another
device decodes with the torch model.

Rate: training steers its estimate of the whole stream (corrected by
measuring the real stream every few steps) to ``DESIRED`` of the byte
budget, by where the rate is heading
(:class:`~torchgeo_inr.latent_grid.fit.RateWeight`); the last knob, searched
on the real stream with :func:`~torchgeo_inr.ratecontrol.fit_bytes`, is
two-sided: over budget, a rounding dead zone (small latents to zero) or a
coarser rounding step for the latents (up to ``STEP_COARSE_MAX``), whichever
loses less; under the range [0.9, 1] of it, a finer rounding step (down to
``1 / STEP_GAIN_MAX``); the synthesis's first layer is scaled to match either
step (on Indian Pines' 73 x 73 quadrant at 0.5 bpppb, 2,000 steps, always
spending to the budget with it cost 0.2 dB: it is a way into the range, not
always a gain, so a stream in range gets one only where it measures better,
``SPEND_TO``); a stream still outside [0.9, 1] of the budget gets a few gentle
rounding-phase rounds with the rate weight raised or lowered, and the best
stream in range is kept. :func:`~torchgeo_inr.ratecontrol.meet_target`
(every codec's promise) checks it and asks again when it misses.

The budget is in steps (``steps``), so an encode is reproducible on a busy
machine; ``max_seconds`` is an optional cap that the report names when it bites.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .. import bitstream
from ..codec import Finish
from ..errors import RateError
from ..ratecontrol import Target, fit_bytes
from ..scene import Scene
from .latent_grid_data import LatentData, coding_weights
from .torch_codec import TorchCodec

#: Steps of the main fit. From the warm start (:mod:`~torchgeo_inr.latent_grid.warm_start`), Indian Pines at 0.2
#: bpppb reached 44.72 dB in 5,000 steps, where 15,000 from zero latents reached 44.57 to 44.67.
STEPS = 5000
#: Bits of the synthesis weights (12 bits measured no better on Indian Pines).
WEIGHT_BITS = 8
#: Training aims at this share of the byte budget (the real stream must land in [0.9, 1] of it).
DESIRED = 0.97
#: Most rounding-phase fine-tunes per encode, and the steps of each.
RATE_ROUNDS, RATE_STEPS = 3, 150
#: Widest dead zone the last knob may use to bring a stream under budget.
DEADZONE_MAX = 0.45
#: Finest latent rounding step the last knob may use to spend a budget the fit left unspent (1 / this).
STEP_GAIN_MAX = 1.5
#: Coarsest latent rounding step the last knob may use to bring a stream under budget (beside the dead zone).
STEP_COARSE_MAX = 2.0
#: A stream in range that leaves more than the rest of this share of the budget also gets a finer rounding step
#: that spends it, kept where it measures better. Whole Indian Pines, 1,000 steps, one torch thread: 2.0 bpppb
#: 54.36 dB at 1.8968 bpppb -> 54.49 at 1.9932; 0.05 42.55 at 0.0474 -> 42.58 at 0.0499.
SPEND_TO = 0.995


class LatentGridCodec(TorchCodec):
    """Spectral basis + entropy-coded latent grids + a tiny synthesis, fitted per scene for rate and distortion."""

    name = "latent-grid"
    #: 2: chunks of an archive network (sections ``net`` and ``latents`` only). 3: whole-scene streams whose
    #: latents are coded with the context model (section ``lctx``); version 1 (one Laplace per channel) still reads.
    #: 4: version 3 or 1 whose first full-resolution channels may be added to the coefficients (``skip``, from
    #: the warm start). 5: version 3 or 4 whose second-pass latents are coded against their decoded neighbours
    #: (:mod:`~torchgeo_inr.latent_grid.neighbour_prediction`; section ``lctx`` has a sixth column). 6: version 5
    #: with its weights, basis and band numbers coded compactly (:mod:`~torchgeo_inr.latent_grid.side_coding`).
    #: 7: version 6 whose latents decode on a lattice of three passes, both later ones predicted
    #: (:mod:`~torchgeo_inr.latent_grid.lattice`; ``lctx`` has a seventh column). 8: version 7 whose skipped
    #: channels hold wavelet subbands (:mod:`~torchgeo_inr.latent_grid.wavelet`), each coded as a plane.
    version = 8
    trains = True
    #: A CPU decode of a whole-scene stream needs numpy alone (:mod:`~torchgeo_inr.codecs.latent_grid_read`).
    libraries = ("constriction", "torchgeo_inr.codecs.latent_grid_read")
    device_libraries = ("torch", "torchgeo_inr.codecs.latent_grid_stream")
    renders_shifted_bands = True

    def __init__(
        self,
        *,
        steps: int = STEPS,
        max_seconds: float | None = None,
        components: int | None = None,
        weight_bits: int = WEIGHT_BITS,
        latent_lr: float | None = None,
        seed: int = 0,
        threads: int | None = None,
        network: str | None = None,
        context: bool = True,
        warm_start: bool = True,
    ):
        """``steps``: the training budget (reproducible); ``max_seconds``: an optional wall-clock cap.
        ``components``: the basis size (default: chosen per rate). ``threads``: torch CPU threads while
        coding (None leaves torch's setting). ``network``: the sha256 of a loaded archive network
        (:mod:`torchgeo_inr.archive_network`): each stream then holds its latents only, and ``steps`` is the
        budget of fitting them. ``context``: code the latents with the context model
        (:mod:`torchgeo_inr.latent_grid.context`); False writes version 1's one Laplace per channel.
        ``warm_start``: start the fit from PCA + scalar quantisation (:mod:`torchgeo_inr.latent_grid.warm_start`)
        rather than from zero latents and a random synthesis."""
        if int(steps) < 1:
            raise ValueError("steps must be at least 1")
        self.steps = int(steps)
        self.max_seconds = max_seconds
        self.components = components
        self.weight_bits = int(weight_bits)
        self.latent_lr = latent_lr
        self.seed = int(seed)
        self.threads = threads
        self.network = network
        self.context = bool(context)
        self.warm_start = bool(warm_start)

    def _written_version(self) -> int:
        if self.network is not None:
            return 2
        if self.context:
            return 8
        return 4 if self.warm_start else 1

    # ------------------------------------------------------------------ encode
    # A chunk against an archive network keeps the same promise as any stream ([0.9 b, b] of its own budget)
    # through Codec.encode_with_report's meet_target: its latents over a frozen synthesis land under the budget
    # (0.79-0.90 of it), so meet_target re-asks with a larger budget; each ask is a fresh, seeded fit.

    def _encode_on(self, scene: Scene, target: Target, finish: Finish, device, progress: bool):
        from dataclasses import replace

        import torch

        from ..latent_grid.fit import RateDistortionLoss
        from ..latent_grid.config import auto_config
        from ..latent_grid.model import LatentGridModel
        from ..latent_grid.soft_rounding import TEMPERATURES
        from ..latent_grid.warm_start import warm_start
        from .latent_grid_stream import config_to_header, write_stream

        t0 = time.perf_counter()
        if self.network is not None:
            from .latent_grid_shared import encode_chunk

            torch.manual_seed(self.seed)
            return encode_chunk(self, scene, target, finish, device, progress, t0)
        bands, height, width = scene.shape
        cfg = auto_config(target.bpppb, bands, height, width, compact=self.context, warm_start=self.warm_start)
        if self.components:
            cfg = replace(cfg, components=min(int(self.components), bands, height * width))
        torch.manual_seed(self.seed)
        weights = coding_weights(scene, target.bpppb)
        data = LatentData(scene, cfg.components, device, tilt=cfg.tilt, compact=self.context, weights=weights)
        model = LatentGridModel(cfg, height, width, context=self.context).to(device)

        def stream(deadzone: float = 0.0, step: float = 1.0) -> bytes:
            return write_stream(model, data.basis_packed, data.band_sections, self.weight_bits, finish, deadzone, step)

        loss = RateDistortionLoss(data.basis, data.target, scene.data.size)
        extra = {"config": {**config_to_header(cfg), "tilt": cfg.tilt if weights is None else "coding"}}
        side = len(stream())  # before the warm start fills the latents
        if self.warm_start and side <= target.max_bytes:
            extra["warm_start"] = warm_start(model, loss, 8.0 * (DESIRED * target.max_bytes - side), data.rescale)

        def choose_basis_precision(lam: float, band_mse) -> None:  # once the rate has settled: the fit's trade-off
            chosen = data.choose_basis_precision(band_mse.double().cpu().numpy(), lam, scene.data.size)
            extra["basis"] = {"lam": round(lam, 4), **chosen}
            loss.project()

        return self._fit_to_budget(model, loss, stream, target, device, progress, t0, extra,
                                   step_gain=STEP_GAIN_MAX, on_basis=choose_basis_precision, side=side,
                                   temperatures=TEMPERATURES, warm=bool(extra.get("warm_start")))

    def _fit_to_budget(self, model, loss, stream, target: Target, device, progress: bool, t0: float, extra: dict,
                       lam: float = 1.0, gain: float = 0.3, rate_rounds: int = RATE_ROUNDS, desired: float = DESIRED,
                       step_gain: float = 1.0, on_basis=None, side: int | None = None,
                       temperatures: tuple[float, float] | None = None, warm: bool = False):
        """Train ``model`` for ``loss`` until ``stream()`` fits the byte budget; (stream, details).

        Shared by whole-scene streams and chunks of an archive network (whose model trains its latents only, over
        a shared synthesis: ``step_gain`` 1, no finer rounding step, which would need its own first layer).
        ``side``: the stream's bytes with empty latents (default: measured now). ``temperatures``: the noise
        phase's soft rounding (:mod:`~torchgeo_inr.latent_grid.soft_rounding`; None: uniform noise alone).
        ``warm``: the skipped channels' latents were warm-started (they move at ``warm_latent_lr(steps)``,
        unless the codec was given a latent learning rate).
        """
        from ..latent_grid.fit import LATENT_LR, fit_latent, warm_latent_lr

        side = len(stream()) if side is None else side
        if side > target.max_bytes:
            raise RateError("latent-grid: the basis and synthesis alone are over budget", smallest=side)
        desired = desired * target.max_bytes
        fit = fit_latent(model, loss, target_bits=8.0 * desired, measure=lambda: 8.0 * len(stream()),
                         steps=self.steps, max_seconds=self.max_seconds, weight_bits=self.weight_bits,
                         lr_latent=self.latent_lr or LATENT_LR, lam=lam, gain=gain, progress=progress,
                         on_basis=on_basis, temperatures=temperatures,
                         warm_lr=warm_latent_lr(self.steps) if warm and not self.latent_lr else None)
        steps, stopped = fit.train.steps, fit.train.stopped
        candidates = [self._last_knob(model, loss, stream, target, device, step_gain)]
        target_bits, rounds = 8.0 * desired, 0
        while rounds < rate_rounds and fit.stopped != "interrupted" and not _in_range(candidates[-1], target):
            # a few gentle rounding-phase rounds, the rate weight lowered (under budget) or raised (over)
            rounds += 1
            over = candidates[-1][3] is None
            target_bits += 8.0 * (desired - candidates[-1][1])
            fit = fit_latent(model, loss, target_bits=target_bits, measure=lambda: 8.0 * len(stream()),
                             steps=RATE_STEPS, weight_bits=self.weight_bits,
                             lam=fit.lam * 2.0 if over else fit.lam / 1.5, lr_latent=1e-3, lr=1e-5, phase="ste",
                             progress=progress, desc=f"latent-grid rate round {rounds}")
            steps += fit.train.steps
            candidates.append(self._last_knob(model, loss, stream, target, device, step_gain))
        written = [c for c in candidates if c[3] is not None]
        if not written:
            raise RateError(f"latent-grid could not fit {target.max_bytes} bytes",
                            smallest=min(c[1] for c in candidates))
        psnr, size, (deadzone, step), data_out = max(written, key=lambda c: (_in_range(c, target), c[0]))
        details = {
            "steps": steps, "stopped": stopped,
            "psnr_estimate": round(psnr, 3), **extra,
            "device": str(device), "side_bytes": side, "rate_rounds": rounds, "deadzone": round(deadzone, 4),
            "latent_step": round(step, 4),
            "fit_seconds": round(time.perf_counter() - t0, 2),
        }
        return data_out, details

    def _last_knob(self, model, loss, stream, target: Target, device, step_gain: float = 1.0):
        """(per-band PSNR, bytes, (dead zone, latent step), stream) for the real stream's budget.

        A stream under the range gets the latents' rounding step from 1 down to ``1 / step_gain`` (the
        coarsest that reaches it: the synthesis was fitted to unit rounding, so a finer step spends bytes for
        little or a small loss); one in range but under ``SPEND_TO`` of the budget is measured beside the finer
        step that spends the rest, and the better kept (at high rates, where the skipped channels carry most of
        the bytes, the finer step wins). One over budget is brought under by whichever of two knobs loses less,
        measured: a dead zone up to ``DEADZONE_MAX`` (small latents to zero, cheap at low rates where most
        latents are near zero), or, with ``step_gain`` above 1, a coarser rounding step up to ``STEP_COARSE_MAX``
        (at high rates a dead zone is the dear one: Indian Pines' quadrant at 2.0 bpppb, 1,000 steps, a
        dead zone of 0.11 cost 2.2 dB). The stream is None (and the bytes the smallest reached) when neither
        knob fits.
        """
        import torch

        from ..quantize import fake_quant

        def quality(deadzone: float, step: float) -> float:
            with torch.no_grad():
                params = {n: fake_quant(p, self.weight_bits) for n, p in model.stepped_decoder_state(step).items()}
                grids = model.grids_from_symbols([q.cpu().numpy() for q in model.symbols(deadzone, step)], device)
                return loss.psnr(model.synthesize(grids, params, model.skip_step * step))

        def rounded(step: float, data: bytes):  # a candidate with no dead zone
            return quality(0.0, step), len(data), (0.0, step), data

        plain = stream(0.0, 1.0)
        if len(plain) <= target.max_bytes:
            if step_gain <= 1.0 or len(plain) >= SPEND_TO * target.max_bytes:
                return rounded(1.0, plain)
            in_range = len(plain) >= target.min_bytes  # then spend the rest, where it measures better
            aim = target.max_bytes if in_range else (target.min_bytes + target.max_bytes) // 2
            knob, data = fit_bytes(lambda k: stream(0.0, 2.0**-k), 0.0, math.log2(step_gain), aim,
                                   close_enough=SPEND_TO if in_range else 0.98)
            finer = rounded(2.0**-knob, data)
            return max(rounded(1.0, plain), finer, key=lambda c: c[0]) if in_range else finer  # ties: plain
        # (setting of a knob in [0, end], end): more knob, more bytes, as fit_bytes wants
        knobs = [(lambda k: (DEADZONE_MAX - k, 1.0), DEADZONE_MAX)]
        if step_gain > 1.0:
            coarsest = math.log2(STEP_COARSE_MAX)
            knobs.append((lambda k: (0.0, 2.0 ** (coarsest - k)), coarsest))
        found, smallest = [], len(plain)
        for setting, end in knobs:
            try:
                knob, data = fit_bytes(lambda k: stream(*setting(k)), 0.0, end, target.max_bytes,
                                       close_enough=0.995, iterations=12)
            except RateError as err:
                smallest = min(smallest, err.smallest)
                continue
            found.append((quality(*setting(knob)), len(data), setting(knob), data))
        if not found:
            return -math.inf, smallest, (DEADZONE_MAX, 1.0), None
        return max(found, key=lambda c: c[0])

    # ------------------------------------------------------------------ decode
    @classmethod
    def renderer(cls, stream: bitstream.Stream, device=None):
        from ..scene_header import decode_scene_header

        return _read(stream, decode_scene_header(stream)["shape"], device)

    def _decode(self, stream: bitstream.Stream, shape, *, device) -> np.ndarray:
        if device is None or str(device) == "cpu":  # numpy alone: no torch to import
            if "net" in stream.sections:
                from .latent_grid_network import decode_chunk_values

                return decode_chunk_values(stream, shape)
            from .latent_grid_read import decode_values

            return decode_values(stream, shape)
        return super()._decode(stream, shape, device=device)

    def _decode_on(self, stream: bitstream.Stream, shape, device) -> np.ndarray:
        return _read(stream, shape, device).render().cpu().numpy()

    # ------------------------------------------------------------------ archive network
    shares_network = True

    def fit_network(self, tiles, *, bpppb: float, shape, chunks: int, device=None, progress: bool = True,
                    steps: int | None = None) -> bytes:
        """One synthesis, basis and latent entropy model for an array (``shape``, ``chunks`` of them) fitted on
        ``tiles`` (scenes): see :func:`torchgeo_inr.codecs.latent_grid_shared.fit_network`."""
        from ..device import resolve_device, torch_threads
        from .latent_grid_shared import fit_network

        with torch_threads(self.threads):
            return fit_network(self, tiles, bpppb=bpppb, shape=shape, chunks=chunks,
                               device=resolve_device(device), progress=progress, steps=steps)


def _read(stream: bitstream.Stream, shape, device):
    """The renderer of a whole-scene stream, or of a chunk written against an archive network."""
    if "net" in stream.sections:
        from .latent_grid_shared import read_chunk

        return read_chunk(stream, shape, device)
    from .latent_grid_stream import read_renderer

    return read_renderer(stream, shape, device)


def _in_range(candidate, target: Target) -> bool:
    return candidate[3] is not None and candidate[1] >= target.min_bytes
