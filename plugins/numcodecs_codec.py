"""The same chunk codec for Zarr v2 stores, as a numcodecs codec (id ``torchgeo_inr.inr``).

Zarr v2 has no array-to-bytes codecs: the codec is the array's *compressor*
and receives each chunk as an array. numcodecs passes no shape to
``decode``, so each chunk's stream carries its own: the stream's header gets
``"chunk": {"shape": [...], "band_axis": b}`` beside the scene (those bytes
are kept free of the ``bpppb`` budget, so the rate still holds). The chunk
is one torchgeo-inr stream; ``torchgeo_inr.decode`` reads it as is.

numcodecs finds the class through the ``numcodecs.codecs`` entry point
named like the codec id, so reading needs no import by hand::

    import zarr
    from torchgeo_inr.plugins.numcodecs_codec import InrNumcodec

    arr = zarr.create_array(store, shape=cube.shape, chunks=cube.shape, dtype=cube.dtype,
                            zarr_format=2, filters=None,
                            compressors=InrNumcodec(codec="pca-jpeg2000", bpppb=0.1, band_axis=0))
    arr[:] = cube

Zarr v2 goes through zarr's generic chunk path, which tells a codec neither
the chunk key nor the part of the chunk being written: a damaged chunk
raises :class:`~torchgeo_inr.plugins.zarr_codec.ChunkDecodeError` naming the
chunk's shape, not its key (use ``zarr_store.verify`` for the keys), and a
partial write into a stored chunk is recognised from the decoded values it
starts from and refused with
:class:`~torchgeo_inr.plugins.zarr_codec.PartialChunkWriteError`. Edge
chunks are encoded with their padding (the fill value), as zarr v2 stores them.
"""

from __future__ import annotations

import json
import math

import numpy as np
from numcodecs.abc import Codec

from torchgeo_inr import bitstream
from torchgeo_inr.errors import SceneError

from .zarr_codec import (
    _NO_KEY_HINT,
    CODEC_NAME,
    ChunkDecodeError,
    ChunkEncodeError,
    InrCodec,
    PartialChunkWriteError,
    _band_axis,
    _DecodedChunk,
    chunk_from_stream,
    chunk_to_stream,
)

__all__ = ["CODEC_ID", "InrNumcodec"]

#: numcodecs codec id, equal to the ``numcodecs.codecs`` entry point's name.
CODEC_ID = CODEC_NAME
_HEADER_KEY = "chunk"


class InrNumcodec(Codec):
    """numcodecs codec: a chunk array <-> one torchgeo-inr stream that records the chunk's shape.

    The parameters are those of :class:`~torchgeo_inr.plugins.zarr_codec.InrCodec`.
    """

    codec_id = CODEC_ID

    def __init__(
        self,
        codec: str | None = None,
        bpppb: float | None = None,
        psnr: float | None = None,
        band_axis: int = 0,
        options: dict | None = None,
        wavelengths=None,
        max_error=None,
        relative_error=None,
    ):
        kwargs = {} if codec is None else {"codec": codec}
        # One place validates the configuration: the v3 codec.
        self._v3 = InrCodec(
            **kwargs, bpppb=bpppb, psnr=psnr, band_axis=band_axis, options=options, wavelengths=wavelengths,
            max_error=max_error, relative_error=relative_error,
        )
        cfg = self._v3.to_dict()["configuration"]
        self.codec = cfg["codec"]
        self.bpppb = cfg.get("bpppb")
        self.psnr = cfg.get("psnr")
        self.band_axis = cfg["band_axis"]
        self.options = cfg.get("options", {})
        self.wavelengths = cfg.get("wavelengths")

    @classmethod
    def from_config(cls, config: dict) -> InrNumcodec:
        config = {k: v for k, v in dict(config).items() if k != "id"}
        return cls(**InrCodec.from_dict({"name": CODEC_NAME, "configuration": config}).to_dict()["configuration"])

    def get_config(self) -> dict:
        config = {"id": self.codec_id, **self._v3.to_dict()["configuration"]}
        return config

    def __repr__(self) -> str:
        target = f"psnr={self.psnr}" if self.psnr is not None else f"bpppb={self.bpppb}"
        return f"{type(self).__name__}(codec={self.codec!r}, {target}, band_axis={self.band_axis})"

    def __eq__(self, other) -> bool:
        return isinstance(other, InrNumcodec) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash(json.dumps(self.get_config(), sort_keys=True))

    # -- encode -----------------------------------------------------------------
    def _stream(self, array: np.ndarray, reserve: int) -> bytes:
        return chunk_to_stream(
            array,
            codec=self.codec,
            bpppb=self.bpppb,
            psnr=self.psnr,
            band_axis=self.band_axis,
            options={**self.options, **self._v3.bounds},
            wavelengths=self.wavelengths,
            reserve_bytes=reserve,
        )

    def encode(self, buf) -> bytes:
        if isinstance(buf, _DecodedChunk):
            raise PartialChunkWriteError(
                f"{CODEC_ID}: refusing a partial write into a stored lossy chunk of shape {buf.shape}: zarr "
                "would decode it, merge the new values and encode it again, losing quality at every "
                "write. Write whole chunks."
            )
        array = np.asarray(buf)
        if array.ndim < 2:
            raise ChunkEncodeError(
                f"{CODEC_ID} needs the chunk as an array of 2 or more axes (bands and pixels), got shape "
                f"{array.shape}: use it as the array's compressor, with no filters before it"
            )
        try:
            b = _band_axis(self.band_axis, array.ndim)
            extra = {_HEADER_KEY: {"shape": list(array.shape), "band_axis": b}}
            reserve = len(json.dumps(extra, separators=(",", ":"))) + 1
            budget = None if self.bpppb is None else math.floor(self.bpppb * array.size / 8)
            for _ in range(3):
                data = self._with_header(self._stream(array, reserve), extra)
                if budget is None or len(data) <= budget:
                    return data
                reserve += len(data) - budget
            return data
        except Exception as err:
            raise ChunkEncodeError(
                f"{CODEC_ID}: cannot encode a chunk of shape {array.shape} with {self.codec!r}: "
                f"{type(err).__name__}: {err}"
            ) from err

    @staticmethod
    def _with_header(data: bytes, extra: dict) -> bytes:
        stream = bitstream.unpack(data)
        header = {**stream.header, **extra}
        return bitstream.pack(stream.codec, stream.codec_version, header, stream.sections)

    # -- decode -----------------------------------------------------------------
    def decode(self, buf, out=None):
        try:
            raw = bytes(memoryview(buf)) if not isinstance(buf, bytes) else buf
            stream = bitstream.unpack(raw)
            layout = stream.header.get(_HEADER_KEY)
            if not isinstance(layout, dict):
                raise SceneError(f"stream has no {_HEADER_KEY!r} header: it was not written by {CODEC_ID}")
            shape, b = layout.get("shape"), layout.get("band_axis")
            if (
                not isinstance(shape, list)
                or not all(isinstance(v, int) and v > 0 for v in shape)
                or not isinstance(b, int)
            ):
                raise SceneError(f"stream's chunk layout {layout!r} is not valid")
            values = chunk_from_stream(raw, tuple(shape), b)
        except Exception as err:
            raise ChunkDecodeError(
                f"{CODEC_ID}: cannot decode a chunk: {type(err).__name__}: {err}{_NO_KEY_HINT}"
            ) from err
        if out is not None:
            target = np.asarray(out)
            target.reshape(-1)[...] = values.reshape(-1).astype(target.dtype, copy=False)
            return out
        return values.view(_DecodedChunk)
