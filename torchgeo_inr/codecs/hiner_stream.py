"""The ``hiner`` stream: what it holds, written and read in this one module.

Version 2 (what :class:`~torchgeo_inr.codecs.hiner.HINERCodec` writes, HINER
as published): header ``arch`` (the :class:`~torchgeo_inr.hiner.config.HinerConfig`
numbers) and ``q`` (the quantisation of the embedding table ``embed`` and
the decoder's weights ``dec.*``, :mod:`torchgeo_inr.quantize`); sections
``lo`` and ``span`` (each band's min-max normalisation, float16) and
``qstep``/``qdata``.

Version 1 streams still decode. They carry ``"mode"``: ``"plain"`` (the
layout above), ``"basis"`` (one frame decoded into k component images of a
spectral basis, with ``scale``/``mean``/``clo``/``cspan`` sections; no longer
written: it trailed the latent-grid codec at every rate) or ``"latent"``
(what is now the ``latent-grid`` codec, read by
:func:`torchgeo_inr.codecs.latent_grid_stream.read_renderer`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from .. import bitstream
from ..band_shift import lerp_rows
from ..codec import Finish
from ..errors import BitstreamError
from ..hiner.config import MAX_EMBED_CH, MAX_EMBED_HW, MAX_FRAMES, MAX_PARAMS, MAX_WIDTH, HinerConfig
from ..hiner.network import Decoder, build_decoder, decoder_names
from ..packing import header_number, pack_array, unpack_array
from ..quantize import pack_state, unpack_state

#: The stream version :func:`write_stream` writes.
VERSION = 2
#: Version 1's modes, all still read.
V1_MODES = ("plain", "basis", "latent")


def config_to_header(cfg: HinerConfig) -> dict:
    d = asdict(cfg)
    d["strides"] = list(cfg.strides)
    return d


def config_from_header(head) -> HinerConfig:
    """The architecture a header describes, range-checked: a damaged header never means a huge allocation."""
    if not isinstance(head, dict):
        raise BitstreamError("HINER architecture is missing from the header")
    strides = head.get("strides")
    if not (isinstance(strides, list) and 1 <= len(strides) <= 8) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 8 for s in strides
    ):
        raise BitstreamError(f"header field 'strides' = {strides!r} is invalid")
    cfg = HinerConfig(
        frames=header_number(head, "frames", int, 1, MAX_FRAMES),
        out_channels=header_number(head, "out_channels", int, 1, MAX_FRAMES),
        embed_ch=header_number(head, "embed_ch", int, 1, MAX_EMBED_CH),
        embed_h=header_number(head, "embed_h", int, 1, MAX_EMBED_HW),
        embed_w=header_number(head, "embed_w", int, 1, MAX_EMBED_HW),
        strides=tuple(strides),
        fc_dim=header_number(head, "fc_dim", int, 1, MAX_WIDTH),
        reduce=header_number(head, "reduce", float, 0.25, 8.0),
        lower_width=header_number(head, "lower_width", int, 1, MAX_WIDTH),
        ks_first=header_number(head, "ks_first", int, 1, 9),
        ks_last=header_number(head, "ks_last", int, 1, 9),
        head_ks=header_number(head, "head_ks", int, 1, 9),
    )
    if cfg.decoder_params() + cfg.embed_values() > MAX_PARAMS:
        raise BitstreamError("header describes a network larger than supported")
    if cfg.out_height * cfg.out_width > 2**26:
        raise BitstreamError("header describes an output larger than supported")
    return cfg


def band_sections(lo16: np.ndarray, span16: np.ndarray) -> dict[str, bytes]:
    return {"lo": pack_array(lo16, "f2"), "span": pack_array(span16, "f2")}


def write_stream(cfg: HinerConfig, state: dict[str, np.ndarray], bits: dict[str, int], bands: dict[str, bytes],
                 finish: Finish) -> bytes:
    """A version-2 stream: the architecture, the quantised table and decoder, the band ranges."""
    qhead, qsections = pack_state(state, bits)
    return finish({"arch": config_to_header(cfg), "q": qhead}, {**bands, **qsections})


@dataclass
class HinerRenderer:
    """Everything a hiner stream decodes to, on one device, ready to render.

    ISI asks a renderer for bands a fraction of a band away from where they
    were fitted: the decoder's per-band input (the embedding; in version 1's
    basis mode the basis row) is interpolated between neighbouring bands and
    the result is put on band ``b``'s own value scale. That is the public
    HINER code's perturbation, which shifts the positions of bands that were
    normalised band by band. The stream holds embeddings, not the
    positional-encoding MLP (it would cost more than the table), hence
    interpolation in the embedding space the MLP spans.
    """

    mode: str  # "plain" or "basis" (version 1 only)
    decoder: Decoder
    table: torch.Tensor  # plain: (B, C, h, w) embeddings; basis: (1, C, h, w)
    shape: tuple[int, int, int]
    per_band: dict[str, torch.Tensor]  # float64 (B, ...) rows: normalisation (and the basis, transposed)
    components: dict[str, torch.Tensor]  # basis mode: clo, cspan (k,)

    @property
    def device(self) -> torch.device:
        return self.table.device

    @torch.inference_mode()
    def render(self, shift: torch.Tensor | None = None) -> torch.Tensor:
        """The scene (B, H, W) float32 on the renderer's device; ``shift`` (B,) in bands moves each band."""
        bands, height, width = self.shape
        if shift is not None and tuple(shift.shape) != (bands,):
            raise ValueError(f"shift must have one value per band ({bands}), not shape {tuple(shift.shape)}")
        out = torch.empty(self.shape, dtype=torch.float32, device=self.device)
        if self.mode == "plain":
            table = lerp_rows(self.table, shift)
            lo, span = self.per_band["lo"], self.per_band["span"]
            pixels = self.decoder.cfg.out_height * self.decoder.cfg.out_width * max(self.decoder.cfg.widths()[-1], 1)
            chunk = max(1, int(2**22 // pixels))
            for s in range(0, bands, chunk):
                y = self.decoder(table[s : s + chunk])[:, 0, :height, :width].double()
                out[s : s + chunk] = (lo[s : s + chunk, None, None] + span[s : s + chunk, None, None] * y).float()
            return out
        y = self.decoder(self.table)[0, :, :height, :width].double().reshape(-1, height * width)
        comps = self.components["clo"][:, None] + self.components["cspan"][:, None] * y
        basis = lerp_rows(self.per_band["basis"], shift)
        mean, scale = self.per_band["mean"], torch.exp2(self.per_band["log2_scale"])
        x = (basis @ comps + mean[:, None]) * scale[:, None]
        out[:] = x.reshape(self.shape).float()
        return out


def read_renderer(stream: bitstream.Stream, shape, device=None):
    """Parse and check a hiner stream (either version); any inconsistency raises :class:`BitstreamError`.

    A version-1 latent-mode stream gives a latent-grid renderer, which renders and shifts the same way.
    """
    head = stream.header
    if stream.codec_version >= 2:
        if "mode" in head:
            raise BitstreamError("hiner version 2 streams have no mode; this header names one")
        mode = "plain"
    else:
        mode = head.get("mode")
        if mode not in V1_MODES:
            raise BitstreamError(f"unknown hiner mode {mode!r}")
    if mode == "latent":
        from .latent_grid_stream import read_renderer as read_latent

        return read_latent(stream, shape, device)
    return _read_network(stream, head, mode, shape, device)


def _read_network(stream: bitstream.Stream, head: dict, mode: str, shape, device) -> HinerRenderer:
    bands, height, width = shape
    cfg = config_from_header(head.get("arch"))
    if cfg.out_height < height or cfg.out_width < width:
        raise BitstreamError("hiner network output is smaller than the scene")
    expected = decoder_names(cfg)
    k = 0
    if mode == "plain":
        if cfg.frames != bands or cfg.out_channels != 1:
            raise BitstreamError("plain hiner needs one frame per band")
    else:
        k = cfg.out_channels
        if cfg.frames != 1 or k > bands:
            raise BitstreamError("hiner basis mode needs one frame of at most B components")
        expected["basis"] = (k, bands)
    state = unpack_state(head.get("q"), stream.sections, expected)
    device = torch.device("cpu") if device is None else torch.device(device)
    decoder, table = build_decoder(cfg, state, device)

    def rows(name: str, dtype: str, count: int) -> torch.Tensor:
        values = unpack_array(stream.section(name), dtype, count, name).astype(np.float64)
        return torch.from_numpy(values).to(device)

    components = {}
    if mode == "plain":
        per_band = {"lo": rows("lo", "f2", bands), "span": rows("span", "f2", bands)}
    else:
        per_band = {
            "log2_scale": rows("scale", "f2", bands),
            "mean": rows("mean", "f2", bands),
            "basis": torch.from_numpy(state["basis"].astype(np.float64).T.copy()).to(device),  # (B, k)
        }
        components = {"clo": rows("clo", "f4", k), "cspan": rows("cspan", "f4", k)}
    return HinerRenderer(mode, decoder, table, (bands, height, width), per_band, components)
