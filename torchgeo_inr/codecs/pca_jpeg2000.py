"""``pca-jpeg2000``: spectral PCA, the component images in one multi-component JPEG2000 codestream.

Why it is strong: hyperspectral bands are highly correlated, so a few
principal components carry almost all of the signal, and OpenJPEG's
rate-distortion optimisation spreads the bits across all components at once
(they share one quantisation step, so its MSE is the scene's MSE).

What is in the stream, all counted in the rate: a per-band scale (log2,
float16), the band means (float16), the basis quantised to 8 bits (LZMA), the
components' offsets, and the codestream.

Quality is measured as per-band PSNR, so bands are first divided by a scale;
the scales start at each band's peak and are then re-weighted a few times so
that bands with small errors get more of them (this maximises the mean of
log-PSNR rather than plain MSE). The number of components is chosen from a
few candidates by measured quality, never more than the byte budget can
carry beside its basis (so small tiles reach their target too).

Where the time goes: OpenJPEG codes every bit-plane whatever the quality
asked, so one encode costs the same at every rate, and a bisection over the
quality knob took 10 to 14 encodes per choice tried. The choices (component
count, band scales) are therefore made on a mosaic of small windows spread
over the scene (:data:`PROBE_PIXELS` in all), and every knob search is a
secant in log-bytes that starts from where the last one ended: the whole
scene is coded only by the last search, two to four times. Component counts
are tried from the fewest up and the trial stops at the first that does worse
than the one before (quality over the count has one top), which spares the
largest, dearest encodes at the rates where the fewest components win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from threadpoolctl import threadpool_limits

from .. import bitstream
from ..codec import Codec, Finish
from ..errors import BitstreamError, RateError
from ..latent_grid.config import component_guess
from ..metrics import psnr_per_band
from ..packing import header_number, lzma_pack, lzma_unpack, pack_array, unpack_array
from ..ratecontrol import Target
from ..scene import Scene
from . import j2k

_U16 = 65535.0
#: How far (in octaves) re-weighting may move a band's scale from its peak: keeps
#: constant or saturated bands (error ~0) from driving a scale to float16's limits.
_MAX_REWEIGHT_OCTAVES = 6.0
#: Component count and band scales are chosen on a mosaic of windows of about this many pixels.
PROBE_PIXELS = 64 * 64
_PROBE_BLOCKS = 4
#: A knob search stops once its stream fills this share of the budget (on the window, where only choices are
#: made, sooner).
CLOSE_ENOUGH, _PROBE_CLOSE = 0.98, 0.95
#: Encodes one knob search may take.
MAX_PROBES = 10
#: Start of a knob search when nothing better is known: OpenJPEG's PSNR knob (dB) against log2
#: of the bits per scene sample, and its slope per e-fold of bytes. Where a search starts, not where it ends.
_START_DB, _START_DB_PER_OCTAVE = 62.0, 5.5
_DEFAULT_SLOPE = _START_DB_PER_OCTAVE / math.log(2)
#: Knob steps finer than this (dB) change the quality by less than anyone can see: a search stops there.
_KNOB_RESOLUTION = 0.05
#: Room left in the header for the knob's digits when the codestream's budget is worked out.
_HEADER_MARGIN = 16


@dataclass
class _Layout:
    """One band weighting and component count, ready to code at any quality (its numbers as stored)."""

    k: int
    step: float
    planes: np.ndarray  # (H, W, k) or (H, W) uint16
    basis_q: np.ndarray  # (bands, k) int8
    basis_scale: np.ndarray  # (k,) float32
    mean: np.ndarray  # (bands,) float16
    offset: np.ndarray  # (k,) float32
    log2_scale: np.ndarray  # (bands,) float16

    @cached_property
    def sections(self) -> dict[str, bytes]:
        """The stream's sections but the codestream (packed when first asked: the basis's LZMA takes time)."""
        return {
            "scale": pack_array(self.log2_scale, "f2"),
            "mean": pack_array(self.mean, "f2"),
            "basis": lzma_pack(pack_array(self.basis_q, "i1")),
            "basis_scale": pack_array(self.basis_scale, "f4"),
            "offset": pack_array(self.offset, "f4"),
        }

    def synthesize(self, planes: np.ndarray) -> np.ndarray:
        """(bands, pixels) from (k, pixels) uint16 planes: what decode does after the codestream."""
        comps = planes * self.step + self.offset.astype(np.float64)[:, None]
        basis = self.basis_q * self.basis_scale.astype(np.float64)
        x = basis @ comps + self.mean.astype(np.float64)[:, None]
        with np.errstate(over="ignore", invalid="ignore"):
            return x * np.exp2(self.log2_scale.astype(np.float64))[:, None]

    def reconstruct(self, codestream: bytes, threads: int = 1) -> np.ndarray:
        height, width = self.planes.shape[:2]
        planes = j2k.decode(codestream, self.planes.shape, threads).reshape(height * width, self.k).T
        return self.synthesize(planes).reshape(len(self.mean), height, width)


@dataclass
class _Knob:
    """Where a knob search ended, to start the next one on a similar layout near it."""

    knob: float
    step: float
    slope: float  # knob dB per e-fold of bytes, last measured
    drift: float = 0.0  # how far the search ended from where it started (dB): the next similar move drifts alike


def _mosaic(data: np.ndarray, mask: np.ndarray | None, pixels: int, blocks: int = _PROBE_BLOCKS):
    """``blocks`` x ``blocks`` windows spread evenly over the scene, side by side: about ``pixels`` pixels.

    One central window is not the scene: it holds fewer materials, so it
    asked for fewer components and other band scales than the whole scene
    (0.15 dB lost on Indian Pines at 0.5 bpppb); windows from everywhere do not.
    Small scenes are taken whole.
    """
    _, height, width = data.shape
    if height * width <= 2 * pixels:
        return data, mask
    side = max(8, math.isqrt(pixels) // blocks)
    ys = [round((height - side) * (i + 0.5) / blocks) for i in range(blocks)] if height > side else [0]
    xs = [round((width - side) * (i + 0.5) / blocks) for i in range(blocks)] if width > side else [0]

    def tile(array):
        rows = [np.concatenate([array[:, y : y + side, x : x + side] for x in xs], axis=2) for y in ys]
        return np.ascontiguousarray(np.concatenate(rows, axis=1))

    return tile(data), None if mask is None else tile(mask)


def _log2_peak(data: np.ndarray) -> np.ndarray:
    """log2 of each band's peak magnitude; an all-zero band borrows the cube's (scales are stored as float16
    log2)."""
    peak = np.abs(data).reshape(data.shape[0], -1).max(axis=1).astype(np.float64)
    return np.log2(np.where(peak > 0, peak, max(peak.max(), 1e-30)))


class PCAJPEG2000Codec(Codec):
    """PCA across bands + multi-component JPEG2000; the bar the neural codecs must clear."""

    name = "pca-jpeg2000"
    version = 1

    def __init__(
        self,
        components: int | None = None,
        basis_bits: int = 8,
        reweight_iterations: int = 3,
        threads: int = 2,
    ):
        if not 2 <= basis_bits <= 8:
            raise ValueError("basis_bits must be 2..8")
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.components = components
        self.basis_bits = basis_bits
        self.reweight_iterations = reweight_iterations
        self.threads = threads

    # -- encoding -----------------------------------------------------------
    def _layout(self, data: np.ndarray, log2_scale: np.ndarray, k: int) -> _Layout:
        bands, height, width = data.shape
        log2_scale = log2_scale.astype(np.float16)
        scale = np.exp2(log2_scale.astype(np.float64))
        # In place where the arrays are scene-sized: fresh pages cost more than the arithmetic here.
        x = np.empty((bands, height * width))
        x.reshape(data.shape)[...] = data
        x /= scale[:, None]
        mean = x.mean(axis=1).astype(np.float16)
        x -= mean.astype(np.float64)[:, None]
        eigval, eigvec = np.linalg.eigh(x @ x.T)
        basis = eigvec[:, np.argsort(eigval)[::-1][:k]]
        top = 2 ** (self.basis_bits - 1) - 1
        basis_scale = (np.abs(basis).max(axis=0) / top).astype(np.float32)
        basis_scale[basis_scale == 0] = 1.0
        basis_q = np.rint(basis / basis_scale).astype(np.int8)
        basis_hat = basis_q * basis_scale.astype(np.float64)
        # Least squares on the quantised basis (near-orthonormal, so the normal equations are well posed),
        # its k x bands pseudo-inverse first: one product with the data instead of a solve against it.
        comps = np.linalg.solve(basis_hat.T @ basis_hat, basis_hat.T) @ x
        offset = comps.min(axis=1).astype(np.float32)  # stored as float32: planes are coded against it
        step = float(np.float32(max((comps.max(axis=1) - offset).max() / _U16, 1e-12)))
        comps -= offset[:, None]
        comps /= step
        planes = np.rint(comps, out=comps).clip(0, _U16, out=comps).astype(np.uint16)
        planes = planes.reshape(k, height, width).transpose(1, 2, 0)
        planes = np.ascontiguousarray(planes[..., 0] if k == 1 else planes)
        return _Layout(k, step, planes, basis_q, basis_scale, mean, offset, log2_scale)

    def _header(self, layout: _Layout, quality: float) -> dict:
        return {"components": layout.k, "bits": self.basis_bits, "step": layout.step, "quality": round(quality, 4)}

    def _overhead(self, layout: _Layout, finish: Finish) -> int:
        """Bytes of the stream besides the codestream (the knob's digits allowed for)."""
        return len(finish(self._header(layout, 0.0), {**layout.sections, "j2k": b""})) + _HEADER_MARGIN

    def _fit_knob(
        self, layout: _Layout, budget: int, hint: _Knob | None, close: float, drifts: bool = False
    ) -> tuple[_Knob, bytes]:
        """The codestream of the highest quality knob found that fits ``budget`` bytes.

        A secant in (knob, log bytes), bracketed once a stream over and one under
        the budget are known, starting where ``hint`` (a search on a similar
        layout) ended (plus its drift when ``drifts``: a re-weighting moves the
        knob alike each time); raises :class:`RateError` (``smallest``: the smallest codestream's bytes)
        if even the lowest knob is over.
        """
        if hint is None:
            bpppb = 8.0 * budget / (layout.planes.shape[0] * layout.planes.shape[1] * len(layout.mean))
            knob, slope = _START_DB + _START_DB_PER_OCTAVE * math.log2(max(bpppb, 1e-6)), _DEFAULT_SLOPE
        else:
            # The knob is a PSNR against the planes' full range: the same error at another step moves it.
            knob, slope = hint.knob + 20.0 * math.log10(layout.step / hint.step), hint.slope
            knob += hint.drift if drifts else 0.0
        start = knob
        goal = math.log((1.0 + close) / 2.0 * max(budget, 1))
        under: tuple[float, float, bytes] | None = None  # (knob, log bytes, codestream)
        over: tuple[float, float, bytes] | None = None
        last: tuple[float, float] | None = None
        for _ in range(MAX_PROBES if budget > 0 else 0):
            knob = min(max(knob, j2k.MIN_QUALITY), j2k.MAX_QUALITY)
            codestream = j2k.encode(layout.planes, knob, threads=self.threads)
            log_bytes = math.log(len(codestream))
            if last is not None and log_bytes != last[1] and 1.0 < (knob - last[0]) / (log_bytes - last[1]) < 40.0:
                slope = (knob - last[0]) / (log_bytes - last[1])
            last = (knob, log_bytes)
            if len(codestream) <= budget:
                if under is None or knob > under[0]:
                    under = (knob, log_bytes, codestream)
                if len(codestream) >= close * budget or knob >= j2k.MAX_QUALITY:
                    break
            else:
                if over is None or knob < over[0]:
                    over = (knob, log_bytes, codestream)
                if knob <= j2k.MIN_QUALITY:
                    break
            if under is not None and over is not None:
                (q0, b0, _), (q1, b1, _) = under, over
                if q1 - q0 < _KNOB_RESOLUTION:
                    break
                t = (goal - b0) / (b1 - b0) if b1 > b0 else 0.5
                knob = q0 + min(max(t, 0.1), 0.9) * (q1 - q0)  # regula falsi, kept inside the bracket
            else:
                jump = slope * (goal - log_bytes)
                knob += math.copysign(min(max(abs(jump), 0.05), 30.0), jump)
        if under is None:
            under = self._bisect_under(layout, budget, close, over[0] if over is not None else j2k.MAX_QUALITY)
        return _Knob(under[0], layout.step, slope, under[0] - start), under[2]

    def _bisect_under(self, layout: _Layout, budget: int, close: float, upper: float) -> tuple[float, float, bytes]:
        """(knob, log bytes, codestream) under ``budget`` by bisection from the lowest knob, where the secant ran
        out of probes before it got under (bytes steeper in the knob than its slope allowed: tiny scenes at
        high rates); raises :class:`RateError` when even the lowest knob is over."""
        codestream = j2k.encode(layout.planes, j2k.MIN_QUALITY, threads=self.threads)
        if len(codestream) > budget:
            raise RateError(f"the smallest codestream is {len(codestream)} bytes, over {budget}",
                            smallest=len(codestream))
        under = (j2k.MIN_QUALITY, math.log(len(codestream)), codestream)
        for _ in range(MAX_PROBES):
            if upper - under[0] < _KNOB_RESOLUTION or len(under[2]) >= close * budget:
                break
            knob = (under[0] + upper) / 2
            codestream = j2k.encode(layout.planes, knob, threads=self.threads)
            if len(codestream) <= budget:
                under = (knob, math.log(len(codestream)), codestream)
            else:
                upper = knob
        return under

    def _candidate_components(self, data: np.ndarray, log2_scale: np.ndarray, bpppb: float, room: int) -> list[int]:
        bands, pixels = data.shape[0], data[0].size
        limit = min(bands, pixels)
        if self.components is not None:
            guesses = {max(1, min(limit, self.components))}
        else:
            guesses = {max(1, min(limit, round(component_guess(bpppb) * f))) for f in (0.7, 1.0, 1.4)}
        # Never so many that the basis and the side information leave the codestream under half the budget.
        most = max(guesses)
        if self._side_bytes(data, log2_scale, most) > room / 2:
            low, high = 1, most  # side bytes grow with k: the largest k that fits, by bisection
            while low < high:
                mid = (low + high + 1) // 2
                low, high = (mid, high) if self._side_bytes(data, log2_scale, mid) <= room / 2 else (low, mid - 1)
            most = low
        return sorted({min(k, most) for k in guesses})

    def _side_bytes(self, data: np.ndarray, log2_scale: np.ndarray, k: int) -> int:
        return sum(len(v) for v in self._layout(data, log2_scale, k).sections.values())

    def _encode(self, scene: Scene, target: Target, finish: Finish, *, device, progress) -> bytes:
        # Its matrices are small (bands x bands, bands x window): BLAS threads gain nothing there, and
        # beside other work OpenBLAS's spinning threads made one 200 x 200 eigh 50 times slower.
        with threadpool_limits(1, user_api="blas"):
            best, whole = self._choose(scene, target, finish)
            _, knob, _, layout, codestream = best
            if not whole:
                layout = self._layout(scene.data, layout.log2_scale, layout.k)
                overhead = self._overhead(layout, finish)
                try:
                    knob, codestream = self._fit_knob(layout, target.max_bytes - overhead, knob, close=CLOSE_ENOUGH)
                except RateError as err:
                    raise RateError(str(err), smallest=overhead + err.smallest) from None
            return finish(self._header(layout, knob.knob), {**layout.sections, "j2k": codestream})

    def band_weights(self, scene: Scene, bpppb: float) -> np.ndarray:
        """Per-band log2 weights (over each band's peak) that its re-weighting chooses for ``scene`` at
        ``bpppb``: what a transform coder of this scene measured to raise the mean per-band PSNR most.

        Other codecs weigh their bands for their own PCA with them
        (:func:`~torchgeo_inr.codecs.latent_grid_data.coding_weights`). Choices only: the window's probes, no
        whole-scene encode. Raises :class:`RateError` where no stream of this codec fits ``bpppb``.
        """
        target = Target.from_args(bpppb, None, scene.shape)
        with threadpool_limits(1, user_api="blas"):
            best, _ = self._choose(scene, target, self._finisher(scene))
        return _log2_peak(scene.data) - best[3].log2_scale.astype(np.float64)

    def _choose(self, scene: Scene, target: Target, finish: Finish) -> tuple[tuple, bool]:
        """The best probe (per-band PSNR, knob, decoded window, layout, codestream) after the component trial
        and the band re-weightings, and whether the window was the whole scene (its codestream is then the
        stream's)."""
        log2_peak = _log2_peak(scene.data)
        data, mask = _mosaic(scene.data, scene.mask, PROBE_PIXELS)
        whole = data is scene.data  # a small scene is its own window: its best probe is the stream
        share = data[0].size / scene.data[0].size
        overheads: dict[int, int] = {}

        def probe(log2_scale, k, hint, drifts=False):
            """(per-band PSNR, knob, decoded window, layout, codestream) at the target rate, on the window."""
            layout = self._layout(data, log2_scale, k)
            if whole or k not in overheads:  # on a window, the basis's packed size is an estimate anyway
                overheads[k] = self._overhead(layout, finish)
            budget = int((target.max_bytes - overheads[k]) * share)
            try:
                close = CLOSE_ENOUGH if whole else _PROBE_CLOSE
                knob, codestream = self._fit_knob(layout, budget, hint, close=close, drifts=drifts)
            except RateError as err:
                raise RateError(str(err), smallest=overheads[k] + math.ceil(err.smallest / share)) from None
            decoded = layout.reconstruct(codestream, self.threads)
            return psnr_per_band(data, decoded, mask), knob, decoded, layout, codestream

        room = target.max_bytes - len(finish({}, {}))
        scored, errors, knob = [], [], None
        for k in self._candidate_components(data, log2_peak, target.bpppb, room):
            try:
                scored.append(probe(log2_peak, k, knob))
            except RateError as err:
                errors.append(err)
                continue
            knob = scored[-1][1]
            if len(scored) > 1 and scored[-1][0] < scored[-2][0]:
                break  # quality over the count rises to one top and falls: past it, larger (dearer) counts lose
        if not scored:
            raise errors[0]
        best = max(scored, key=lambda t: t[0])
        log2_scale, decoded = log2_peak, best[2]
        last = replace(best[1], drift=0.0)  # the first re-weighting has no move before it to learn from
        for _ in range(self.reweight_iterations):
            # Give each band a share of the error in proportion to how small its error already is:
            # the mean of 10 log10(peak^2 / MSE_b) rises fastest there.
            err = (decoded - data) ** 2
            if mask is not None:
                err = np.where(mask, np.nan, err)
            mse = np.nanmean(err.reshape(scene.bands, -1), axis=1) / np.exp2(2 * log2_peak)
            mse = np.maximum(np.nan_to_num(mse, nan=1e-12), 1e-12)
            log2_scale = log2_scale + 0.25 * np.log2(mse / np.exp(np.mean(np.log(mse))))
            log2_scale = np.clip(log2_scale, log2_peak - _MAX_REWEIGHT_OCTAVES, log2_peak + _MAX_REWEIGHT_OCTAVES)
            try:
                tried = probe(log2_scale, best[3].k, last, drifts=True)
            except RateError:
                break
            decoded, last = tried[2], tried[1]
            if tried[0] > best[0]:
                best = tried
        return best, whole

    # -- decoding -----------------------------------------------------------
    def _decode(self, stream: bitstream.Stream, shape, *, device) -> np.ndarray:
        bands, height, width = shape
        head = stream.header
        k = header_number(head, "components", int, low=1, high=min(bands, height * width))
        bits = header_number(head, "bits", int, low=2, high=8)
        step = header_number(head, "step", float, low=0)
        log2_scale = unpack_array(stream.section("scale"), "f2", bands, "scale")
        mean = unpack_array(stream.section("mean"), "f2", bands, "mean")
        raw = lzma_unpack(stream.section("basis"), bands * k, "basis")
        basis_q = unpack_array(raw, "i1", bands * k, "basis").reshape(bands, k)
        if np.abs(basis_q.astype(np.int16)).max() > 2 ** (bits - 1) - 1:
            raise BitstreamError("basis holds values beyond its bit depth")
        basis_scale = unpack_array(stream.section("basis_scale"), "f4", k, "basis_scale")
        offset = unpack_array(stream.section("offset"), "f4", k, "offset")
        expected = (height, width, k) if k > 1 else (height, width)
        planes = j2k.decode(stream.section("j2k"), expected).reshape(height * width, k).T
        layout = _Layout(k, step, planes, basis_q, basis_scale, mean, offset, log2_scale)
        return layout.synthesize(planes).reshape(shape)
