"""What every codec is: ``encode(scene, *, bpppb, psnr, device, progress) -> bytes`` and ``decode``.

The base class does what all codecs share, so each codec only turns values
into sections and back: it validates the input, writes the scene's
description into the stream, wraps decode failures in the package's error,
and restores dtype and nodata on the way out.
"""

from __future__ import annotations

import importlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from . import bitstream
from .errors import BitstreamError, InrError, RateError, SceneError
from .ratecontrol import Target, meet_target
from .report import Encoded, EncodeReport
from .scene import Scene, restore_dtype
from .scene_header import decode_scene_header, encode_scene_header

#: Turns a codec's own (header, sections) into the final stream bytes.
Finish = Callable[[dict, dict[str, bytes]], bytes]


def as_scene(value) -> Scene:
    """Accept a Scene, or an array (B, H, W) / tensor, and return a Scene."""
    if isinstance(value, Scene):
        return value
    if isinstance(value, (np.ndarray, list)) or hasattr(value, "detach"):
        return Scene.from_array(value)
    raise SceneError(f"expected a Scene or a (bands, height, width) array, got {type(value).__name__}")


class Codec(ABC):
    """Base class of every codec in the registry."""

    #: Registry name, written into every stream.
    name: ClassVar[str]
    #: Bumped when the stream layout of this codec changes; decode refuses newer ones.
    version: ClassVar[int] = 1
    #: Modules decode imports on first use. :meth:`load_libraries` imports them ahead, so that a
    #: decode timing can leave out library start-up (torch alone takes seconds to import).
    libraries: ClassVar[tuple[str, ...]] = ()
    #: What a decode on a device other than the CPU imports besides (where the CPU decode needs no torch).
    device_libraries: ClassVar[tuple[str, ...]] = ()
    #: Whether the codec fits with the one training loop (takes a ``steps`` budget and ``max_seconds``).
    trains: ClassVar[bool] = False

    @classmethod
    def load_libraries(cls, device=None) -> None:
        """Import what a decode on ``device`` (None: the CPU) will."""
        on_device = device is not None and str(device) != "cpu"
        for module in cls.libraries + (cls.device_libraries if on_device else ()):
            importlib.import_module(module)

    def encode(
        self,
        scene,
        *,
        bpppb: float | None = None,
        psnr: float | None = None,
        device=None,
        progress: bool = True,
    ) -> bytes:
        """Compress ``scene`` to a stream of at most ``bpppb`` (or reaching per-band ``psnr`` dB)."""
        return self.encode_with_report(scene, bpppb=bpppb, psnr=psnr, device=device, progress=progress).data

    def encode_with_report(
        self,
        scene,
        *,
        bpppb: float | None = None,
        psnr: float | None = None,
        device=None,
        progress: bool = True,
    ) -> Encoded:
        """:meth:`encode`, and what it did: the real rate, the fit's steps and why it stopped, rate control.

        Every codec keeps the same promise through :func:`~torchgeo_inr.ratecontrol.meet_target`: a
        ``bpppb`` stream lies in [0.9 b, b]; a ``psnr`` stream decodes to [t, t + 1] dB per band; else
        :class:`RateError` says what the codec can reach.
        """
        from .metrics import psnr_per_band

        scene = as_scene(scene)
        target = Target.from_args(bpppb, psnr, scene.shape)
        finish = self._finisher(scene)
        start = time.perf_counter()

        details: dict[bytes, dict] = {}

        def encode_at(budget: Target) -> bytes:
            try:
                out = self._encode(scene, budget, finish, device=device, progress=progress)
            except RateError as err:
                if err.smallest is None:
                    raise
                raise RateError(
                    f"{self.name} cannot reach {budget.bpppb:g} bpppb on this {'x'.join(map(str, scene.shape))} "
                    f"scene: its smallest stream is {err.smallest} bytes = {budget.bpppb_of(err.smallest):.4g} bpppb",
                    smallest=err.smallest,
                ) from None
            stream, info = out if isinstance(out, tuple) else (out, {})
            details[stream] = info
            return stream

        def quality(stream: bytes) -> float:
            back = self.decode(stream)
            return psnr_per_band(scene.data, back.data, scene.mask)

        data, attempts = meet_target(target, encode_at, quality, name=self.name)
        info = details.get(data, {})
        psnr_seen = next((a.psnr for a in reversed(attempts) if a.bytes == len(data) and a.psnr is not None), None)
        report = EncodeReport(
            codec=self.name,
            bytes=len(data),
            bpppb=target.bpppb_of(len(data)),
            seconds=round(time.perf_counter() - start, 3),
            target_bpppb=target.bpppb,
            target_psnr=target.psnr,
            steps=info.get("steps"),
            stopped=info.get("stopped"),
            psnr_estimate=psnr_seen if psnr_seen is not None else info.get("psnr_estimate"),
            attempts=[a.as_dict() for a in attempts],
            details={k: v for k, v in info.items() if k not in ("steps", "stopped", "psnr_estimate")},
        )
        if attempts[-1].note and attempts[-1].note.startswith("saturated"):
            report.details["saturated"] = True  # under 0.9 b: a larger budget gives these very bytes
        return Encoded(data, report)

    def _finisher(self, scene: Scene) -> Finish:
        """Turns this codec's (header, sections) into the whole stream, with the scene's description in it."""
        scene_head, scene_sections = encode_scene_header(scene)

        def finish(header: dict, sections: dict[str, bytes]) -> bytes:
            clash = scene_sections.keys() & sections.keys()
            if clash or "scene" in header:
                raise RuntimeError(f"codec {self.name} reuses reserved names {clash or 'scene'}")
            return bitstream.pack(
                self.name, self._written_version(), {"scene": scene_head, **header}, {**scene_sections, **sections}
            )

        return finish

    def _written_version(self) -> int:
        """The stream version this codec object writes: the newest, unless a layout older readers know will do."""
        return self.version

    # ------------------------------------------------------------------ archive networks
    #: Whether :meth:`fit_network` can fit one network for a whole array (see :mod:`torchgeo_inr.archive_network`).
    shares_network: ClassVar[bool] = False

    def fit_network(self, tiles, *, bpppb: float, shape, chunks: int, device=None, progress: bool = True,
                    steps: int | None = None) -> bytes:
        """The bytes of one network for an array of ``shape`` cut into ``chunks`` chunks, fitted on ``tiles``
        (scenes); the codec built with ``network=<its sha256>`` then encodes each chunk against it."""
        raise InrError(f"{self.name} cannot share a network across chunks (codecs that can: latent-grid, meta-siren, "
                       "pca-jpeg2000-shared)")

    # ------------------------------------------------------------------ rendering (ISI)
    #: Whether :meth:`renderer` can render a stream's bands at shifted spectral positions (what ISI asks).
    renders_shifted_bands: ClassVar[bool] = False

    @classmethod
    def renderer(cls, stream: bitstream.Stream, device=None):
        """An object whose ``render(shift=None)`` gives the scene (B, H, W) as a torch tensor, with each
        band moved by ``shift[b]`` bands; codecs that cannot (classical ones) refuse."""
        raise InrError(f"a {cls.name} stream cannot render bands at shifted positions (ISI needs a codec that "
                       f"can: {cls.name} has no spectral model to ask)")

    def decode(self, data, *, device=None) -> Scene:
        """Rebuild the scene from a stream; any damage raises :class:`BitstreamError`."""
        stream = data if isinstance(data, bitstream.Stream) else bitstream.unpack(data)
        if stream.codec != self.name:
            raise BitstreamError(f"stream was written by codec {stream.codec!r}, not {self.name!r}")
        if stream.codec_version > self.version:
            raise BitstreamError(
                f"{self.name} stream version {stream.codec_version} is newer than this "
                f"torchgeo-inr decodes ({self.version}); upgrade torchgeo-inr"
            )
        meta = decode_scene_header(stream)
        try:
            values = self._decode(stream, meta["shape"], device=device)
        except InrError:
            raise
        except Exception as err:  # a damaged payload must never surface as a library crash
            raise BitstreamError(f"{self.name} payload could not be decoded: {type(err).__name__}: {err}") from err
        values = np.asarray(values, dtype=np.float32)
        if values.shape != meta["shape"]:
            raise BitstreamError(f"{self.name} payload decoded to {values.shape}, header says {meta['shape']}")
        if not np.isfinite(values).all():
            raise BitstreamError(f"{self.name} payload decoded to non-finite values")
        if np.issubdtype(meta["dtype"], np.integer):
            values = restore_dtype(values, meta["dtype"]).astype(np.float32)
        return Scene(
            data=values,
            wavelengths=meta["wavelengths"],
            mask=meta["mask"],
            dtype=meta["dtype"],
            nodata=meta["nodata"] if meta["nodata"] is not None else (
                float("nan") if np.issubdtype(meta["dtype"], np.floating) else None
            ),
            crs=meta["crs"],
            transform=meta["transform"],
        )

    @abstractmethod
    def _encode(self, scene: Scene, target: Target, finish: Finish, *, device, progress: bool):
        """The codec's best stream for a byte budget (``target.bpppb``; rate control owns the promise).

        Returns ``finish(header, sections)``, or ``(stream, details)`` where ``details`` is the method's
        account (``steps``, ``stopped``, ``psnr_estimate`` are lifted into the report). Raise
        :class:`RateError` with ``smallest`` when even the smallest stream is over the budget.
        """

    @abstractmethod
    def _decode(self, stream: bitstream.Stream, shape: tuple[int, int, int], *, device) -> np.ndarray:
        """Values (B, H, W) in the original scale from the codec's own header and sections."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version})"
