"""Implicit Spectral Interpolation (ISI): new training scenes from the HINER stream itself.

A HINER stream is a function of the band coordinate. Asking it for every
band shifted by U(-eta, eta) of one band spacing (eta = 0.1, as the public
HINER code's 0.1 / B on a normalised band index) gives a plausible scene that
was never stored. During training, at the start of each epoch, the scene is
re-rendered that way with probability ``probability`` (else the plain decode
is used), and the batch's patches are cut from it at the batch's pixel
positions. The task stops shifting for the last part of training (as the
public code trains its last 90 of 300 epochs on the plain decode), so the
final weights and normalisation statistics settle on the scene that is
tested. In evaluation the batch passes through untouched.

The unshifted decode is rendered once and cached; so are the normalisation
constants, taken from it exactly as the datamodule takes them from the
decoded scene, so shifted and plain patches share one value scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .. import bitstream
from ..errors import SceneError
from ..scene_header import decode_scene_header
from .normalise import band_range


def cut_patches(scene: Tensor, positions: Tensor, size: int) -> Tensor:
    """(B, H, W) scene, (N, 2) row/col centres -> (N, B, size, size), reflect-padded at the borders."""
    from ..datasets.hyperspectral import reflect_indices

    radius = size // 2
    _, height, width = scene.shape
    offsets = torch.arange(-radius, radius + 1, device=positions.device)
    rows = positions[:, :1] + offsets  # (N, size)
    cols = positions[:, 1:] + offsets
    rows = torch.as_tensor(reflect_indices(rows.cpu().numpy(), height), device=scene.device)
    cols = torch.as_tensor(reflect_indices(cols.cpu().numpy(), width), device=scene.device)
    return scene[:, rows[:, :, None], cols[:, None, :]].permute(1, 0, 2, 3)


class ImplicitSpectralInterpolation(nn.Module):
    """Re-renders a stream at shifted band positions for training batches.

    The stream's codec is asked for a renderer (:meth:`~torchgeo_inr.codec.Codec.renderer`); codecs
    whose model cannot render shifted bands (``renders_shifted_bands`` false, e.g. the classical ones) refuse.

    Args:
        stream: path to a stream (or its bytes) of a codec that renders shifted bands, e.g. ``hiner``
        probability: chance that an epoch trains on a shifted scene
        eta: largest shift, in band spacings
        seed: seed of the shifts and of the coin
    """

    def __init__(self, stream: str | Path | bytes, probability: float = 0.5, eta: float = 0.1, seed: int = 0):
        super().__init__()
        from ..registry import codec_class

        if not 0 <= probability <= 1:
            raise ValueError(f"probability must be in [0, 1], not {probability}")
        data = stream if isinstance(stream, bytes) else Path(stream).read_bytes()
        parsed = bitstream.unpack(data)
        self._codec = codec_class(parsed.codec)
        if not self._codec.renders_shifted_bands:
            raise SceneError(f"ISI needs a stream that can render shifted bands; {parsed.codec!r} streams cannot")
        meta = decode_scene_header(parsed)
        self._stream = parsed
        self._shape = meta["shape"]
        self.probability, self.eta = float(probability), float(eta)
        self._generator = torch.Generator().manual_seed(seed)
        self._dtype = np.dtype(meta["dtype"])
        self._renderer = self._codec.renderer(parsed, "cpu")
        plain = self._render()
        lo, span = band_range(plain)
        self.register_buffer("lo", lo, persistent=False)
        self.register_buffer("span", span, persistent=False)
        self.register_buffer("plain", self._normalise(plain), persistent=False)
        self.register_buffer("current", self.plain.clone(), persistent=False)
        self.shifted = False

    @property
    def bands(self) -> int:
        return self._shape[0]

    def _render(self, shift: Tensor | None = None) -> Tensor:
        """The scene as ``decode`` gives it: integer scenes rounded and clipped to their dtype."""
        scene = self._renderer.render(shift)
        if np.issubdtype(self._dtype, np.integer):
            info = np.iinfo(self._dtype)
            scene = scene.round().clamp(float(info.min), float(info.max))
        return scene

    def _normalise(self, scene: Tensor) -> Tensor:
        return (scene - self.lo[:, None, None]) / self.span[:, None, None]

    def _apply(self, fn, recurse=True):
        """Follow the module to a device: the renderer's tensors move with the buffers."""
        out = super()._apply(fn, recurse)
        device = self.plain.device
        if self._renderer.device != device:
            self._renderer = self._codec.renderer(self._stream, device)
        return out

    def new_epoch(self, active: bool = True) -> bool:
        """Draw this epoch's scene: shifted with probability ``probability`` (never when not ``active``)."""
        self.shifted = active and bool(torch.rand((), generator=self._generator) < self.probability)
        if self.shifted:
            shift = (torch.rand(self.bands, generator=self._generator, dtype=torch.float64) * 2 - 1) * self.eta
            self.current = self._normalise(self._render(shift))
        else:
            self.current = self.plain
        return self.shifted

    def forward(self, batch: dict) -> dict:
        """In training, the batch's ``image`` re-cut from this epoch's scene; in evaluation, unchanged."""
        if not self.training:
            return batch
        image = batch["image"]
        if image.shape[1] != self.bands:
            raise ValueError(f"batch has {image.shape[1]} bands, the ISI stream {self.bands}")
        patches = cut_patches(self.current, batch["position"].long(), image.shape[-1])
        return {**batch, "image": patches.to(image.dtype)}

