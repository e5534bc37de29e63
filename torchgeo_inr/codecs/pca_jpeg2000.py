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
log-PSNR rather than plain MSE). The number of components is chosen per rate
from a few candidates by measured quality.
"""

from __future__ import annotations

import numpy as np

from .. import bitstream
from ..codec import Codec, Finish
from ..errors import BitstreamError
from ..metrics import psnr_per_band
from ..packing import header_number, lzma_pack, lzma_unpack, pack_array, unpack_array
from ..ratecontrol import Target, fit_bytes
from ..scene import Scene
from . import j2k

_U16 = 65535.0
#: How far (in octaves) re-weighting may move a band's scale from its peak: keeps
#: constant or saturated bands (error ~0) from driving a scale to float16's limits.
_MAX_REWEIGHT_OCTAVES = 6.0


class PCAJPEG2000Codec(Codec):
    """PCA across bands + multi-component JPEG2000; the bar the neural codecs must clear."""

    name = "pca-jpeg2000"
    version = 1

    def __init__(self, components: int | None = None, basis_bits: int = 8, reweight_iterations: int = 3):
        if not 2 <= basis_bits <= 8:
            raise ValueError("basis_bits must be 2..8")
        self.components = components
        self.basis_bits = basis_bits
        self.reweight_iterations = reweight_iterations

    # -- encoding -----------------------------------------------------------
    def _candidate_components(self, scene: Scene, bpppb: float) -> list[int]:
        limit = min(scene.bands, scene.height * scene.width)
        if self.components is not None:
            return [max(1, min(limit, self.components))]
        guess = 96.0 * bpppb**0.6  # fitted on AVIRIS scenes: 0.05 -> 16, 1.0 -> 96 components
        return sorted({max(1, min(limit, round(guess * f))) for f in (0.7, 1.0, 1.4)})

    def _streams(self, scene: Scene, log2_scale: np.ndarray, k: int, finish: Finish):
        """A ``make(quality) -> bytes`` for one band weighting and component count."""
        bands, height, width = scene.shape
        log2_scale = log2_scale.astype(np.float16)
        scale = np.exp2(log2_scale.astype(np.float64))
        x = scene.data.reshape(bands, -1).astype(np.float64) / scale[:, None]
        mean = x.mean(axis=1).astype(np.float16)
        xc = x - mean.astype(np.float64)[:, None]
        eigval, eigvec = np.linalg.eigh(xc @ xc.T)
        basis = eigvec[:, np.argsort(eigval)[::-1][:k]]
        top = 2 ** (self.basis_bits - 1) - 1
        basis_scale = (np.abs(basis).max(axis=0) / top).astype(np.float32)
        basis_scale[basis_scale == 0] = 1.0
        basis_q = np.rint(basis / basis_scale).astype(np.int8)
        basis_hat = basis_q * basis_scale.astype(np.float64)
        comps = np.linalg.lstsq(basis_hat, xc, rcond=None)[0]
        offset = comps.min(axis=1).astype(np.float32)
        step = float(np.float32(max((comps.max(axis=1) - offset).max() / _U16, 1e-12)))
        planes = np.rint((comps - offset[:, None]) / step).clip(0, _U16).astype(np.uint16)
        planes = planes.reshape(k, height, width).transpose(1, 2, 0)
        if k == 1:
            planes = planes[..., 0]
        sections = {
            "scale": pack_array(log2_scale, "f2"),
            "mean": pack_array(mean, "f2"),
            "basis": lzma_pack(pack_array(basis_q, "i1")),
            "basis_scale": pack_array(basis_scale, "f4"),
            "offset": pack_array(offset, "f4"),
        }

        def make(quality: float) -> bytes:
            header = {"components": k, "bits": self.basis_bits, "step": step, "quality": round(quality, 4)}
            return finish(header, {**sections, "j2k": j2k.encode(planes, quality)})

        return make

    def _encode(self, scene: Scene, target: Target, finish: Finish, *, device, progress) -> bytes:
        return self._encode_rate(scene, target, finish)

    def _quality(self, scene: Scene):
        return lambda stream: psnr_per_band(scene.data, self.decode(stream).data, scene.mask)

    def _encode_rate(self, scene: Scene, target: Target, finish: Finish) -> bytes:
        peak = np.abs(scene.data).reshape(scene.bands, -1).max(axis=1).astype(np.float64)
        # An all-zero band borrows the cube's peak (its scale is stored as a float16 log2).
        peak = np.where(peak > 0, peak, max(peak.max(), 1e-30))
        log2_peak = np.log2(peak)
        quality = self._quality(scene)

        def fit(log2_scale, k):
            stream = fit_bytes(self._streams(scene, log2_scale, k, finish), j2k.MIN_QUALITY, j2k.MAX_QUALITY,
                               target.max_bytes, iterations=14)[1]
            return quality(stream), stream

        scored = [(*fit(log2_peak, k), k) for k in self._candidate_components(scene, target.bpppb)]
        best_psnr, best, k = max(scored, key=lambda t: t[0])
        log2_scale = log2_peak
        for _ in range(self.reweight_iterations):
            # Give each band a share of the error in proportion to how small its error already is:
            # the mean of 10 log10(peak^2 / MSE_b) rises fastest there.
            decoded = self.decode(best).data
            err = (decoded - scene.data) ** 2
            if scene.mask is not None:
                err = np.where(scene.mask, np.nan, err)
            mse = np.nanmean(err.reshape(scene.bands, -1), axis=1) / np.exp2(2 * log2_peak)
            mse = np.maximum(mse, 1e-12)
            log2_scale = log2_scale + 0.25 * np.log2(mse / np.exp(np.mean(np.log(mse))))
            log2_scale = np.clip(log2_scale, log2_peak - _MAX_REWEIGHT_OCTAVES, log2_peak + _MAX_REWEIGHT_OCTAVES)
            psnr, stream = fit(log2_scale, k)
            if psnr > best_psnr:
                best_psnr, best = psnr, stream
        return best

    # -- decoding -----------------------------------------------------------
    def _decode(self, stream: bitstream.Stream, shape, *, device) -> np.ndarray:
        bands, height, width = shape
        head = stream.header
        k = header_number(head, "components", int, low=1, high=min(bands, height * width))
        bits = header_number(head, "bits", int, low=2, high=8)
        step = header_number(head, "step", float, low=0)
        scale = np.exp2(unpack_array(stream.section("scale"), "f2", bands, "scale").astype(np.float64))
        mean = unpack_array(stream.section("mean"), "f2", bands, "mean").astype(np.float64)
        raw = lzma_unpack(stream.section("basis"), bands * k, "basis")
        basis_q = unpack_array(raw, "i1", bands * k, "basis").reshape(bands, k)
        if np.abs(basis_q.astype(np.int16)).max() > 2 ** (bits - 1) - 1:
            raise BitstreamError("basis holds values beyond its bit depth")
        basis_scale = unpack_array(stream.section("basis_scale"), "f4", k, "basis_scale").astype(np.float64)
        offset = unpack_array(stream.section("offset"), "f4", k, "offset").astype(np.float64)
        expected = (height, width, k) if k > 1 else (height, width)
        planes = j2k.decode(stream.section("j2k"), expected).reshape(height * width, k).T
        comps = planes * step + offset[:, None]
        x = (basis_q * basis_scale) @ comps + mean[:, None]
        with np.errstate(over="ignore", invalid="ignore"):
            return (x * scale[:, None]).reshape(shape)
