"""Reading a whole-scene ``latent-grid`` stream with numpy alone: parse, check, entropy-decode, synthesise.

Why apart from :mod:`~torchgeo_inr.codecs.latent_grid_stream` (which writes
streams and builds the torch renderer): nothing here imports torch, so a
CPU decode (``tgi.decode``, ``xr.open_zarr`` through the codec, a Dask
worker) needs neither torch installed nor its seconds of import. The torch
renderer parses through :func:`read_payload` too, so both read one format
with the same checks. The stream's layout: :mod:`~torchgeo_inr.codecs.latent_grid_stream`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import bitstream, entropy
from ..errors import BitstreamError
from ..latent_grid import side_coding, wavelet
from ..latent_grid.coded_planes import coded_planes, join
from ..latent_grid.config import MAX_CHANNELS, MAX_HIDDEN, MAX_LEVELS, MAX_SYMBOL, LatentConfig, decoder_shapes
from ..latent_grid.context_coding import decode_levels
from ..latent_grid.numpy_synthesis import synthesize
from ..latent_grid.scale_index import FEATURES, UNITS
from ..packing import header_number, unpack_array
from ..quantize import unpack_state


def config_from_header(head, bands: int, height: int, width: int) -> LatentConfig:
    """The architecture a header describes, checked against the scene and the model's limits."""
    if not isinstance(head, dict):
        raise BitstreamError("latent architecture is missing from the header")
    channels = head.get("channels")
    if not (isinstance(channels, list) and 1 <= len(channels) <= MAX_LEVELS) or not all(
        isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= MAX_CHANNELS for c in channels
    ):
        raise BitstreamError(f"header field 'channels' = {channels!r} is invalid")
    if 2 ** (len(channels) - 1) > 2 * max(height, width):
        raise BitstreamError("header describes more latent levels than the scene has")
    components = header_number(head, "components", int, 1, min(bands, height * width))
    skip = header_number(head, "skip", int, 0, min(channels[0], components)) if "skip" in head else 0
    levels = header_number(head, "wavelet", int, 1, wavelet.MAX_LEVELS) if "wavelet" in head else 0
    if levels and not (skip and wavelet.valid_levels(height, width, levels)):
        raise BitstreamError(f"header field 'wavelet' = {levels} does not fit the skip or the scene")
    return LatentConfig(components=components, channels=tuple(channels),
                        hidden=header_number(head, "hidden", int, 1, MAX_HIDDEN), skip=skip, wavelet=levels)


def stacked_levels(planes, channels, sizes) -> list[np.ndarray]:
    """Per-channel planes (flat or (h, w); finest level first) as one (C, h, w) array per level."""
    planes = iter(planes)
    return [np.stack([np.reshape(next(planes), (h, w)) for _ in range(c)]) for c, (h, w) in zip(channels, sizes)]


def unpack_basis(head, sections: dict[str, bytes], components: int, bands: int) -> np.ndarray:
    """The basis (k, B) as versions 1 to 5 and archive networks store it (version 6:
    :func:`~torchgeo_inr.latent_grid.side_coding.unpack_basis`)."""
    quantised = {"qstep": sections["bstep"], "qdata": sections["bdata"]}
    return unpack_state(head, quantised, {"basis": (components, bands)})["basis"]


@dataclass
class LatentPayload:
    """A parsed and checked whole-scene stream: everything the synthesis and the basis need, as numpy arrays."""

    cfg: LatentConfig
    shape: tuple[int, int, int]
    decoder: dict[str, np.ndarray]  # the synthesis weights by name (config.decoder_shapes)
    skip_step: float
    basis: np.ndarray  # (k, B)
    grids: list[np.ndarray]  # integer latents (c_l, H_l, W_l), finest first
    log2_scale: np.ndarray  # (B,) float64
    mean: np.ndarray  # (B,) float64


def read_payload(stream: bitstream.Stream, shape) -> LatentPayload:
    """Parse and check a whole-scene stream and decode its latents; any inconsistency raises :class:`BitstreamError`."""
    bands, height, width = shape
    head = stream.header
    cfg = config_from_header(head.get("arch"), bands, height, width)
    skip_step = header_number(head, "skip_step", float, 2.0**-60, 2.0**32) if cfg.skip else 1.0
    if stream.codec_version >= 6:  # the side information coded compactly
        decoder = side_coding.unpack_weights(head.get("q"), stream.sections, decoder_shapes(cfg))
        basis = side_coding.unpack_basis(head.get("qb"), stream.sections, cfg.components, bands)
        log2_scale, mean = side_coding.unpack_bands(stream.sections, bands)
    else:
        decoder = unpack_state(head.get("q"), stream.sections, decoder_shapes(cfg))
        basis = unpack_basis(head.get("qb"), {"bstep": stream.section("bstep"), "bdata": stream.section("bdata")},
                             cfg.components, bands)
        log2_scale, mean = (unpack_array(stream.section(name), "f2", bands, name).astype(np.float64)
                            for name in ("scale", "mean"))
    sizes = cfg.grid_sizes(height, width)
    if cfg.wavelet and (stream.codec_version < 8 or "lctx" not in stream.sections):
        raise BitstreamError(f"a version {stream.codec_version} stream declares wavelet subbands")
    if "lctx" in stream.sections:  # version 3 on: the context model (5 on: and prediction weights per channel)
        version = stream.codec_version
        planes = coded_planes(cfg, height, width)  # each level, or (version 8) also each subband
        predicted = 2 if version >= 7 else 1 if version >= 5 else 0  # weights per channel: (diagonal,) edge
        # a residual (latent minus a prediction of at most the largest latent) is within twice the latents' range
        bound = header_number(head, "lbound", int, 1, MAX_SYMBOL * (2 if predicted else 1))
        columns = 1 + FEATURES + predicted
        rows = [p.channels for p in planes]
        if version >= 8:  # coded column by column
            table = side_coding.unpack_rows(stream.section("lctx"), columns, sum(rows), 2**15, "lctx").T
        else:
            table = unpack_array(stream.section("lctx"), "i2", sum(rows) * columns, "lctx").reshape(-1, columns)
        table = np.split(table.astype(np.int64), np.cumsum(rows)[:-1])
        predict = None
        if predicted:  # as (C, 2): (diagonal, edge); a checkerboard has no diagonal pass
            predict = [np.pad(t[:, 1 + FEATURES:], ((0, 0), (2 - predicted, 0))) for t in table]
            if any(((p < 0) | (p > UNITS)).any() for p in predict):
                raise BitstreamError("latent prediction weights are out of range")
        coded = decode_levels(stream.section("latents"), [t[:, :1 + FEATURES] for t in table],
                              [p.size for p in planes], bound, predict, lattice=version >= 7,
                              parents=[p.parent for p in planes])
        grids = join(coded, planes, cfg, height, width)
    else:
        counts = [h * w for c, (h, w) in zip(cfg.channels, sizes) for _ in range(c)]
        models = side_coding.unpack_models(stream.section("lmodels"), len(counts))
        grids = stacked_levels(entropy.decode_tensors(stream.section("latents"), models, counts), cfg.channels, sizes)
    if any(np.abs(g).max(initial=0) > MAX_SYMBOL for g in grids):
        raise BitstreamError("latent symbols are out of range")

    return LatentPayload(cfg, (bands, height, width), decoder, skip_step, basis, grids, log2_scale, mean)


def decode_values(stream: bitstream.Stream, shape) -> np.ndarray:
    """The scene (B, H, W) float32 a whole-scene stream holds, on the CPU, with numpy alone."""
    p = read_payload(stream, shape)
    return render_values(p.decoder, p.cfg, p.grids, p.basis, p.mean, p.log2_scale, p.shape, p.skip_step)


def render_values(decoder: dict[str, np.ndarray], cfg: LatentConfig, grids: list[np.ndarray], basis: np.ndarray,
                  mean: np.ndarray, log2_scale: np.ndarray, shape, skip_step: float = 1.0) -> np.ndarray:
    """(B, H, W) float32 from integer latent grids: the synthesis, then the basis (k, B) and the band mean and
    scale, as :class:`~torchgeo_inr.codecs.latent_grid_stream.LatentRenderer` renders them."""
    bands, height, width = shape
    coeffs = synthesize(decoder, cfg, grids, height, width, skip_step)
    if not np.isfinite(coeffs).all():
        raise BitstreamError("latent stream decodes to non-finite values")
    x = basis.astype(np.float64).T @ coeffs.reshape(cfg.components, -1).astype(np.float64)
    x += mean[:, None]
    x *= np.exp2(log2_scale)[:, None]
    return x.reshape(bands, height, width).astype(np.float32)
