"""``siren``: one SIREN per scene, (x, y) -> the pixel's spectrum, quantised and entropy-coded.

The scene is normalised per band (mean and a peak-proportional scale, both
float16 in the stream), a SIREN of ``depth`` sine layers of ``width`` (then
a linear layer to the B bands) is fitted to all pixels, and its weights are
quantised per output channel and ANS-coded (:mod:`torchgeo_inr.quantize`).

Fitting: :func:`torchgeo_inr.siren.fit.fit_image` on the one training loop
(a step budget, so encodes are reproducible; ``max_seconds`` an optional cap).
Rate by the real bytes: the network's size comes from the byte budget with a
parameter-count model (``bits`` nominal bits per weight, the entropy coder
saving a little of that); after fitting, the bit widths are set on the real
stream (:func:`~torchgeo_inr.ratecontrol.fit_bytes`, never below
``MIN_BITS``), then raised tensor by tensor (largest first, up to 16 bits)
while it still fits, which fills the budget to within a few percent. If
nothing fits, a smaller network is fitted; if none can be,
:class:`RateError` reports the smallest stream.
"""

from __future__ import annotations

import time

import numpy as np

from .. import bitstream
from ..codec import Finish
from ..errors import BitstreamError, RateError
from ..packing import header_number
from ..ratecontrol import Target, fit_bytes
from ..scene import Scene
from .torch_codec import TorchCodec

MIN_BITS, MAX_BITS = 6, 16
#: Steps of a fit (in place of the former 240 s CPU budget; its time on Indian Pines is not yet re-measured).
STEPS = 5000
#: Bytes the entropy models and steps add per stored tensor (JSON) and per channel (float16 step).
_PER_TENSOR, _PER_CHANNEL = 48, 2.3
_MAX_PARAMS = 1 << 24  # 16 M weights: far beyond any budget here, small enough to refuse hostile headers


def auto_depth(params: float) -> int:
    """Number of sine layers for a parameter budget (deeper as the budget grows)."""
    return 2 if params < 6_000 else 3 if params < 30_000 else 4 if params < 150_000 else 5


def width_for(params: float, depth: int, bands: int) -> int:
    """Largest width whose SIREN has at most ``params`` parameters (at least 1)."""
    from ..siren.network import Siren

    lo, hi = 1, 4096
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if Siren.param_count(mid, depth, bands) <= params:
            lo = mid
        else:
            hi = mid - 1
    return lo


class SirenCodec(TorchCodec):
    """A SIREN fitted to the scene; weights quantised (``bits`` nominal, 6..16) and ANS-coded."""

    name = "siren"
    libraries = ("torch",)
    version = 1
    trains = True

    def __init__(
        self,
        *,
        width: int | None = None,
        depth: int | None = None,
        w0: float = 30.0,
        w0_hidden: float = 30.0,
        bits: int = 10,
        max_seconds: float | None = None,
        steps: int = STEPS,
        lr: float = 1e-3,
        batch: int = 8192,
        seed: int = 0,
        threads: int | None = 1,
    ):
        """``threads``: torch CPU threads while coding; 1 by default, which on a shared CPU is several times
        faster for networks this small than competing threads (None leaves torch's setting)."""
        if not MIN_BITS <= bits <= MAX_BITS:
            raise ValueError(f"bits must be {MIN_BITS}..{MAX_BITS}")
        self.width, self.depth = width, depth
        self.w0, self.w0_hidden = float(w0), float(w0_hidden)
        self.bits = int(bits)
        self.max_seconds = max_seconds
        self.steps, self.lr, self.batch, self.seed = int(steps), float(lr), int(batch), int(seed)
        self.threads = threads

    # ------------------------------------------------------------------ encode
    def _arch(self, params: float, bands: int) -> tuple[int, int]:
        depth = self.depth or auto_depth(params)
        width = self.width or width_for(params, depth, bands)
        return width, depth

    def _encode_on(self, scene: Scene, target: Target, finish: Finish, device, progress: bool):
        import torch

        from ..siren.fit import fit_image
        from ..siren.network import Siren
        from ..siren.tiles import BandNorm, grid_coords
        from .band_norm_sections import band_norm_sections

        t0 = time.perf_counter()
        bands, height, width = scene.shape
        flat = scene.data.reshape(bands, -1)
        norm = BandNorm.fit(flat)
        side = band_norm_sections(norm)
        coords = torch.from_numpy(grid_coords(height, width)).to(device)
        values = torch.from_numpy(norm.normalise(flat).T.copy()).to(device)

        def stub_overhead(w: int, d: int) -> int:
            head = {"arch": self._arch_header(w, d), "q": {"names": [], "shapes": [], "bits": [], "models": [],
                                                       "step": "f2"}}
            channels = w + (d - 1) * w + bands + 2 + d
            n_tensors = 2 * (d + 1)
            return len(finish(head, {**side, "qstep": b"", "qdata": b""})) + int(
                _PER_TENSOR * n_tensors * 2 + _PER_CHANNEL * channels + 16 * n_tensors
            )

        networks: list[dict] = []
        total_steps = 0
        bits_eff = self.bits - 0.5  # what the entropy coder leaves of the nominal bits (conservative)
        shrink, smallest = 1.0, None
        for attempt in range(3):
            w, d = 16, 3
            for _ in range(3):  # the overhead depends a little on the architecture
                params = shrink * max(0.0, target.max_bytes - stub_overhead(w, d)) * 8 / bits_eff
                w, d = self._arch(params, bands)
            if Siren.param_count(w, d, bands) > _MAX_PARAMS:
                raise RateError(f"siren: {Siren.param_count(w, d, bands)} parameters is more than supported")
            if params < Siren.param_count(1, 1, bands):
                tiny = Siren(1, 1, bands, self.w0, self.w0_hidden)
                _, _, size = self._fit_rate(tiny, Target(None, None, target.n_elements), finish, side, floor=True)
                raise RateError(f"siren could not fit {target.max_bytes} bytes", smallest=int(size))
            torch.manual_seed(self.seed + attempt)
            model = Siren(w, d, bands, self.w0, self.w0_hidden).to(device)
            fit = fit_image(
                model, coords, values, steps=self.steps, max_seconds=self.max_seconds, lr=self.lr,
                batch=self.batch, seed=self.seed + attempt, progress=progress, desc=f"siren {w}x{d}",
            )
            total_steps += fit.steps
            stream, bits, size = self._fit_rate(model, target, finish, side)
            entry = {"width": w, "depth": d, "params": Siren.param_count(w, d, bands), "fit_mse": -fit.best_score,
                     "steps": fit.steps, "stopped": fit.stopped}
            networks.append(entry)
            if stream is not None:
                entry.update(bytes=len(stream), bits=sorted(set(bits.values())))
                return stream, {"steps": total_steps, "stopped": fit.stopped, "width": w, "depth": d,
                                "device": str(device), "networks": networks,
                                "fit_seconds": round(time.perf_counter() - t0, 2)}
            smallest = size if smallest is None else min(smallest, size)
            if (self.width and self.depth) or fit.stopped == "interrupted":
                break
            shrink *= 0.9 * target.max_bytes / size
        raise RateError(f"siren could not fit {target.max_bytes} bytes", smallest=int(smallest))

    @staticmethod
    def _arch_header(w: int, d: int, w0: float = 30.0, w0h: float = 30.0) -> dict:
        return {"width": int(w), "depth": int(d), "w0": float(w0), "w0h": float(w0h)}

    def _fit_rate(self, model, target: Target, finish: Finish, side: dict, floor: bool = False):
        """(stream, bits, size): the stream with the most bits that fits, or (None, None, smallest size).

        ``floor``: only the size at ``MIN_BITS`` (for the smallest-stream report).
        """
        from ..quantize import pack_state

        state = {k: v.detach().float().cpu().numpy() for k, v in model.stored_state().items()}
        arch = self._arch_header(model.width, model.depth, model.w0, model.w0_hidden)
        names = sorted(state, key=lambda n: -state[n].size)

        def make(bits):
            qhead, qsections = pack_state(state, bits)
            return finish({"arch": arch, "q": qhead}, {**side, **qsections})

        if floor:
            return None, None, len(make({n: MIN_BITS for n in state}))
        try:
            knob, stream = fit_bytes(lambda b: make({n: int(round(b)) for n in state}), MIN_BITS, self.bits,
                                     target.max_bytes, close_enough=1.0, iterations=4)
        except RateError as err:
            return None, None, err.smallest
        bits = {n: int(round(knob)) for n in state}
        for _ in range(MAX_BITS - MIN_BITS):  # spend what is left: one more bit, largest tensors first
            grew = False
            for name in names:
                if bits[name] >= MAX_BITS:
                    continue
                trial = {**bits, name: bits[name] + 1}
                s = make(trial)
                if len(s) <= target.max_bytes:
                    stream, bits, grew = s, trial, True
            if not grew:
                break
        return stream, bits, len(stream)

    # ------------------------------------------------------------------ decode
    def _decode_on(self, stream: bitstream.Stream, shape, device) -> np.ndarray:
        import torch

        from ..quantize import unpack_state
        from ..siren.network import Siren
        from ..siren.tiles import grid_coords
        from .band_norm_sections import read_band_norm

        bands, height, width = shape
        arch = stream.header.get("arch")
        if not isinstance(arch, dict):
            raise BitstreamError("siren header has no architecture")
        w = header_number(arch, "width", int, low=1, high=4096)
        d = header_number(arch, "depth", int, low=1, high=64)
        w0 = header_number(arch, "w0", float, low=1e-3, high=1e4)
        w0h = header_number(arch, "w0h", float, low=1e-3, high=1e4)
        if Siren.param_count(w, d, bands) > _MAX_PARAMS:
            raise BitstreamError("siren header describes a network larger than supported")
        norm = read_band_norm(stream, bands)
        model = Siren(w, d, bands, w0, w0h)
        state = unpack_state(stream.header.get("q"), stream.sections, model.stored_shapes())
        model.load_stored(state)
        model.to(device).train(False)
        coords = torch.from_numpy(grid_coords(height, width)).to(device)
        out = np.empty((height * width, bands), dtype=np.float32)
        with torch.inference_mode():
            for s in range(0, coords.shape[0], 16384):
                out[s : s + 16384] = model(coords[s : s + 16384]).cpu().numpy()
        with np.errstate(over="ignore", invalid="ignore"):
            return norm.denormalise(out.T).reshape(shape)
