"""``pca-jpeg2000-shared``: PCA + JPEG2000 chunks over one spectral basis stored once for the array.

Why: ``pca-jpeg2000`` puts its basis, band scales and means in every
stream; on 29 x 29 tiles that side information is much of each tile's
budget. Written with ``shared=True`` (``codec="pca-jpeg2000"``, which
:mod:`torchgeo_inr.plugins.shared_network` maps to this codec), one basis is
fitted on the array's tiles and kept in an archive network
(:mod:`torchgeo_inr.archive_network`); each chunk holds the network's
sha256 (``net``), its components' offsets and quantisation step (``off``,
float32) and one multi-component JPEG2000 codestream of its coefficient
images (``j2k``), whose quality knob is searched on the real bytes.

The network (``for: pca-jpeg2000-shared``, ``v: 1``): header ``k`` and ``qb``
(the basis's 8-bit quantisation, :mod:`torchgeo_inr.quantize`); sections
``scale`` and ``mean`` (per band, float16) and ``qstep``/``qdata`` (the
basis). The band weighting is the latent codec's
(:func:`~torchgeo_inr.latent_grid.spectral.truncation_tilt`), which raises
the mean per-band PSNR of the truncation. This codec does not change
``pca-jpeg2000`` (its stream layout is its own); it uses only the
JPEG2000 wrapper both share.
"""

from __future__ import annotations

import numpy as np

from .. import archive_network, bitstream
from ..codec import Codec, Finish
from ..errors import BitstreamError, RateError
from ..latent_grid.config import component_rule
from ..packing import header_number, pack_array, unpack_array
from ..quantize import pack_state, unpack_state
from ..ratecontrol import Target, fit_bytes
from ..scene import Scene
from . import j2k

NETWORK_VERSION = 1
_U16 = 65535.0


class _Network:
    """A loaded network, decoded once per process: basis (k, B), band log2 scales and means."""

    def __init__(self, net: archive_network.SharedNetwork, bands: int):
        head, sec = net.header, net.sections
        self.k = header_number(head, "k", int, 1, bands)
        missing = {"scale", "mean", "qstep", "qdata"} - set(sec)
        if missing:
            raise BitstreamError(f"pca-jpeg2000-shared network lacks sections {sorted(missing)}")
        self.basis = unpack_state(head.get("qb"), sec, {"basis": (self.k, bands)})["basis"].astype(np.float64)
        self.log2_scale = unpack_array(sec["scale"], "f2", bands, "scale").astype(np.float64)
        self.mean = unpack_array(sec["mean"], "f2", bands, "mean").astype(np.float64)
        self.sha = bytes.fromhex(net.sha256)


def _network(sha256: str, bands: int) -> _Network:
    net = archive_network.get(sha256, "pca-jpeg2000-shared", NETWORK_VERSION)
    return net.build(("pca-jpeg2000-shared", bands), lambda: _Network(net, bands))


class SharedPCAJPEG2000Codec(Codec):
    """PCA + JPEG2000 chunks of an array whose spectral basis is stored once, beside it."""

    name = "pca-jpeg2000-shared"
    version = 1
    libraries = ("imagecodecs",)
    shares_network = True

    def __init__(self, *, network: str | None = None, components: int | None = None):
        """``network``: the sha256 of a loaded archive network (written by ``shared=True``); without one, each
        stream carries its own basis (a plain PCA + JPEG2000 stream). ``components``: the basis size when a
        network is fitted (default: by the rate)."""
        self.network = network
        self.components = components

    def fit_network(self, tiles, *, bpppb: float, shape, chunks: int, device=None, progress: bool = True,
                    steps: int | None = None) -> bytes:
        """One basis (and band scales, means) for the array, from its ``tiles``."""
        from ..latent_grid.spectral import peak_normalise, principal_basis, truncation_tilt

        bands = int(shape[0])
        flat = np.concatenate([t.data.reshape(bands, -1) for t in tiles], axis=1).astype(np.float64)
        k = int(self.components) if self.components else component_rule(bpppb, bands, int(np.prod(shape[1:])))
        k = max(1, min(k, bands, flat.shape[1]))
        log2_scale, mean16, xc = peak_normalise(flat, truncation_tilt(flat, k) if k < bands else None)
        basis = principal_basis(xc, k)
        qhead, qsec = pack_state({"basis": basis.astype(np.float32)}, {"basis": 8})
        sections = {"scale": pack_array(log2_scale, "f2"), "mean": pack_array(mean16, "f2"), **qsec}
        return archive_network.pack(self.name, NETWORK_VERSION, {"k": k, "qb": qhead}, sections)

    def _own_network(self, scene: Scene, target: Target) -> bytes:
        """Without an archive, a basis for this scene alone, fewer components until it takes at most half the budget."""
        bands = scene.bands
        k = int(self.components) if self.components else component_rule(target.bpppb, bands, scene.shape[1] * scene.shape[2])
        while True:
            blob = SharedPCAJPEG2000Codec(components=k).fit_network([scene], bpppb=target.bpppb, shape=scene.shape,
                                                                   chunks=1)
            if len(blob) <= target.max_bytes // 2 or k == 1:
                return blob
            k = max(1, int(k * 0.7))

    def _encode(self, scene: Scene, target: Target, finish: Finish, *, device, progress):
        bands, height, width = scene.shape
        own = None
        if self.network is None:  # a stream of its own: the basis travels in it (section "network")
            own = self._own_network(scene, target)
            sha = archive_network.load(own).sha256
        else:
            sha = self.network
        net = _network(sha, bands)
        name = {"network": own} if own is not None else {"net": net.sha}
        xc = scene.data.reshape(bands, -1).astype(np.float64) / np.exp2(net.log2_scale)[:, None] - net.mean[:, None]
        coeffs = np.linalg.lstsq(net.basis.T, xc, rcond=None)[0]  # (k, N) on the basis as decode sees it
        lo = coeffs.min(axis=1).astype(np.float32)
        step = np.float32(max(float((coeffs.max(axis=1) - lo).max()) / _U16, 1e-12))
        planes = np.clip(np.round((coeffs - lo[:, None]) / step), 0, _U16).astype(np.uint16)
        planes = planes.reshape(net.k, height, width).transpose(1, 2, 0)
        planes = planes[..., 0] if net.k == 1 else planes
        off = pack_array(np.concatenate([lo, [step]]), "<f4")

        def make(quality: float) -> bytes:
            return finish({}, {**name, "off": off, "j2k": j2k.encode(planes, quality)})

        try:
            knob, data = fit_bytes(make, j2k.MIN_QUALITY, j2k.MAX_QUALITY, target.max_bytes, close_enough=0.98,
                                   iterations=16)
        except RateError as err:
            raise RateError(f"pca-jpeg2000-shared could not fit {target.max_bytes} bytes", smallest=err.smallest) from None
        return data, {"components": net.k, "quality_db": round(knob, 3), "network": self.network,
                      "basis_bytes": len(own) if own is not None else 0}

    def _decode(self, stream: bitstream.Stream, shape, *, device) -> np.ndarray:
        bands, height, width = shape
        if "network" in stream.sections:  # a stream of its own
            net = _network(archive_network.load(stream.sections["network"], where="the stream's basis").sha256, bands)
        else:
            sha = stream.section("net")
            if len(sha) != 32:
                raise BitstreamError(f"pca-jpeg2000-shared chunk names its network with {len(sha)} bytes, not a sha256")
            net = _network(sha.hex(), bands)
        off = unpack_array(stream.section("off"), "<f4", net.k + 1, "off").astype(np.float64)
        planes = j2k.decode(stream.section("j2k"), (height, width) if net.k == 1 else (height, width, net.k))
        planes = planes.reshape(height * width, net.k).T.astype(np.float64)
        coeffs = planes * off[-1] + off[:-1, None]
        x = (net.basis.T @ coeffs + net.mean[:, None]) * np.exp2(net.log2_scale)[:, None]
        return x.reshape(shape)
