"""Reading ``latent-grid`` chunks written against an archive network, with numpy alone.

The network (its layout: :mod:`~torchgeo_inr.codecs.latent_grid_shared`, which fits and writes it) is
decoded once per process; a chunk is checked against it, its latents entropy-decoded and, on the CPU,
synthesised in numpy (:func:`decode_chunk_values`), so that Zarr readers and Dask workers need no torch.
A GPU decode batches chunks through the torch model instead
(:func:`~torchgeo_inr.codecs.latent_grid_shared.synthesise`).
"""

from __future__ import annotations

import numpy as np

from .. import archive_network, bitstream, entropy
from ..errors import BitstreamError
from ..latent_grid.config import decoder_shapes
from ..packing import unpack_array
from ..quantize import unpack_state
from .latent_grid_read import config_from_header, render_values, stacked_levels, unpack_basis

#: Layout version of latent-grid archive networks.
NETWORK_VERSION = 1


class Network:
    """An archive network decoded once per process: what chunk encodes and decodes read."""

    def __init__(self, net: archive_network.SharedNetwork, bands: int):
        head, sec = net.header, net.sections
        self.cfg = config_from_header(head.get("arch"), bands, 1 << 16, 1 << 16)
        if self.cfg.skip:
            raise BitstreamError("latent-grid archive network declares a skip, which archive networks never have")
        self.decoder = unpack_state(head.get("q"), sec, decoder_shapes(self.cfg))
        self.basis = unpack_basis(head.get("qb"), {"bstep": _sec(sec, "bstep"), "bdata": _sec(sec, "bdata")},
                                  self.cfg.components, bands)
        self.log2_scale = unpack_array(_sec(sec, "scale"), "f2", bands, "scale").astype(np.float64)
        self.mean = unpack_array(_sec(sec, "mean"), "f2", bands, "mean").astype(np.float64)
        n = sum(self.cfg.channels)
        self.lscale = unpack_array(_sec(sec, "lscale"), "<f4", n, "lscale").astype(np.float64)
        self.lrange = unpack_array(_sec(sec, "lrange"), "<u2", n, "lrange").astype(np.int64)
        if not (np.isfinite(self.lscale).all() and (self.lscale > 0).all() and (self.lrange >= 1).all()):
            raise BitstreamError("latent-grid archive network has invalid latent models")
        self.sha = bytes.fromhex(net.sha256)
        lam = head.get("lam", 1.0)
        self.lam = float(lam) if isinstance(lam, (int, float)) and 1e-6 <= lam <= 1e6 else 1.0

    def models(self) -> list[list]:
        return [[0, 0.0, float(np.float32(s)), -int(r), int(r)] for s, r in zip(self.lscale, self.lrange)]


def _sec(sections: dict, name: str) -> bytes:
    if name not in sections:
        raise BitstreamError(f"latent-grid archive network has no section {name!r}")
    return sections[name]


def network(sha256: str, bands: int) -> Network:
    net = archive_network.get(sha256, "latent-grid", NETWORK_VERSION)
    return net.build(("latent-grid", bands), lambda: Network(net, bands))


class ChunkLatents:
    """A chunk's first half of a read, on the CPU: its network, its shape and its entropy-decoded latents."""

    __slots__ = ("net", "shape", "symbols")

    def __init__(self, net: Network, shape: tuple[int, int, int], symbols: list[np.ndarray]):
        self.net, self.shape, self.symbols = net, shape, symbols


def chunk_latents(stream: bitstream.Stream, shape) -> ChunkLatents:
    """Check a chunk against its network (which must be loaded in this process) and entropy-decode its latents."""
    bands, height, width = (int(s) for s in shape)
    sha = stream.section("net")
    if len(sha) != 32:
        raise BitstreamError(f"latent-grid chunk names its network with {len(sha)} bytes, not a sha256")
    net = network(sha.hex(), bands)
    cfg = net.cfg
    if 2 ** (len(cfg.channels) - 1) > 2 * max(height, width):
        raise BitstreamError("the archive network has more latent levels than this chunk has pixels")
    sizes = cfg.grid_sizes(height, width)
    counts = [h * w for c, (h, w) in zip(cfg.channels, sizes) for _ in range(c)]
    symbols = entropy.decode_tensors(stream.section("latents"), net.models(), counts)
    return ChunkLatents(net, (bands, height, width), symbols)


def decode_chunk_values(stream: bitstream.Stream, shape) -> np.ndarray:
    """The tile (B, H, W) float32 a chunk holds, on the CPU, with numpy alone."""
    chunk = chunk_latents(stream, shape)
    net, (_, height, width) = chunk.net, chunk.shape
    grids = stacked_levels(chunk.symbols, net.cfg.channels, net.cfg.grid_sizes(height, width))
    return render_values(net.decoder, net.cfg, grids, net.basis, net.mean, net.log2_scale, chunk.shape)
