"""A decoded ``hiner`` stream as a renderer: the scene, or the scene at shifted band positions.

Decoding (:meth:`HinerRenderer.render` with no shift) is what
``decode(stream)`` returns. Implicit Spectral Interpolation asks the same
network for bands a fraction of a band away from where they were fitted: the
decoder's per-band input (the embedding in plain mode, the spectral basis
column in basis mode) is interpolated linearly between neighbouring bands,
and the result is put on band ``b``'s own value scale (its stored min-max or
mean and scale). That is the public HINER code's perturbation, which shifts
the positions of bands that were normalised band by band: a shifted band
keeps its range, so low-contrast bands next to bright ones are not dragged
out of it. The stream holds embeddings, not the positional-encoding MLP (it
would cost more than the table), hence interpolation in the embedding space
the MLP spans.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import bitstream
from ..packing import unpack_array
from ..errors import BitstreamError
from .config import HinerConfig
from .network import Decoder, build_decoder, decoder_names


def lerp_rows(values: torch.Tensor, shift: torch.Tensor | None) -> torch.Tensor:
    """``values`` (B, ...) at fractional band positions ``b + shift[b]`` (clamped to the band range)."""
    if shift is None:
        return values
    bands = values.shape[0]
    pos = (torch.arange(bands, device=values.device, dtype=torch.float64) + shift.to(values.device, torch.float64))
    pos = pos.clamp(0, bands - 1)
    low = pos.floor().long().clamp(max=bands - 1)
    high = (low + 1).clamp(max=bands - 1)
    w = (pos - low).to(values.dtype).reshape(-1, *([1] * (values.ndim - 1)))
    return values[low] * (1 - w) + values[high] * w


@dataclass
class HinerRenderer:
    """Everything a hiner stream decodes to, on one device, ready to render."""

    mode: str  # "plain" or "basis"
    decoder: Decoder
    table: torch.Tensor  # plain: (B, C, h, w) embeddings; basis: (1, C, h, w)
    shape: tuple[int, int, int]
    per_band: dict[str, torch.Tensor]  # float64 (B, ...) rows: normalisation (and the basis, transposed)
    components: dict[str, torch.Tensor]  # basis mode: clo, cspan (k,)

    @classmethod
    def from_stream(cls, stream: bitstream.Stream, shape, device=None) -> HinerRenderer:
        """Parse and check a hiner stream; any inconsistency raises :class:`BitstreamError`.

        A latent-mode stream gives a :class:`~torchgeo_inr.codecs.hiner_latent.LatentRenderer`,
        which renders and shifts the same way.
        """
        from ..quantize import unpack_state

        bands, height, width = shape
        head = stream.header
        mode = head.get("mode")
        if mode == "latent":
            from ..codecs.hiner_latent import LatentRenderer

            return LatentRenderer.from_stream(stream, shape, device)
        if mode not in ("plain", "basis"):
            raise BitstreamError(f"unknown hiner mode {mode!r}")
        cfg = HinerConfig.from_header(head.get("arch"))
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
        return cls(mode, decoder, table, (bands, height, width), per_band, components)

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
