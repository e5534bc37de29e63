"""What every stream carries about its scene, so decode gives back what came in.

Shape, original dtype, nodata value, CRS and transform go in the JSON header;
wavelengths (delta-coded milli-nm) and the nodata mask (packed bits) go in
zlib-compressed sections. All of it is counted in the rate. A chunk of a
Zarr array also records its array and grid position (``chunk``), so that a
chunk stored in another chunk's place is caught on decode.

Decoding refuses unknown fields and checks every declared size against
:mod:`torchgeo_inr.limits` and against what the stream's bytes can hold,
before anything is allocated.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from . import limits
from .bitstream import Stream
from .errors import BitstreamError, LimitError
from .scene import Scene

_DTYPES = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "int64", "uint64", "float16", "float32", "float64"}
#: Every field a scene description may have; any other is refused, not ignored.
FIELDS = frozenset({"shape", "dtype", "nodata", "crs", "transform", "chunk"})


def encode_scene_header(scene: Scene) -> tuple[dict, dict[str, bytes]]:
    """(header fields, sections) describing ``scene`` apart from its values."""
    header: dict = {"shape": list(scene.shape), "dtype": scene.dtype.name}
    if scene.nodata is not None and not math.isnan(scene.nodata):
        header["nodata"] = scene.nodata
    if scene.crs:
        header["crs"] = scene.crs
    if scene.transform:
        header["transform"] = list(scene.transform)
    sections: dict[str, bytes] = {}
    if scene.wavelengths is not None:
        milli = np.rint(scene.wavelengths * 1000).astype(np.int64)
        deltas = np.diff(milli, prepend=0).astype("<i8")
        sections["wavelengths"] = zlib.compress(deltas.tobytes(), 9)
    if scene.mask is not None:
        sections["mask"] = zlib.compress(np.packbits(scene.mask, axis=None).tobytes(), 9)
    return header, sections


#: zlib cannot shrink data by more than about 1032:1; a section claiming more is damaged or hostile.
_ZLIB_MAX_RATIO = 1032


def _inflate(blob: bytes, expected: int, what: str) -> bytes:
    """Inflate a section that must hold exactly ``expected`` bytes, never reading more than that."""
    if expected > limits.MAX_INFLATED_SECTION_BYTES:
        raise LimitError(
            f"{what} section would inflate to {expected} bytes, more than "
            f"limits.MAX_INFLATED_SECTION_BYTES = {limits.MAX_INFLATED_SECTION_BYTES}"
        )
    if expected > _ZLIB_MAX_RATIO * len(blob) + 64:
        raise BitstreamError(f"{what} section of {len(blob)} bytes cannot hold the {expected} bytes the header implies")
    try:
        d = zlib.decompressobj()
        raw = d.decompress(blob, expected + 1)
    except zlib.error as err:
        raise BitstreamError(f"{what} section is damaged: {err}") from None
    if len(raw) != expected or not d.eof:
        raise BitstreamError(f"{what} section holds {len(raw)} bytes, expected {expected}")
    return raw


def _check_size(shape: list[int], stream: Stream) -> None:
    """Refuse a declared scene larger than the limits, or than a stream of this length can describe."""
    n = math.prod(shape)
    if n > limits.MAX_DECODED_ELEMENTS:
        raise LimitError(
            f"scene shape {shape} has {n} elements, more than limits.MAX_DECODED_ELEMENTS = "
            f"{limits.MAX_DECODED_ELEMENTS}"
        )
    size = stream.size
    if n > limits.MIN_ELEMENTS_FOR_RATE_CHECK and n > limits.MAX_ELEMENTS_PER_STREAM_BYTE * size:
        raise LimitError(
            f"a {size}-byte stream declares a scene of shape {shape} ({n} elements, {8 * size / n:.2g} bpppb): "
            f"more than limits.MAX_ELEMENTS_PER_STREAM_BYTE = {limits.MAX_ELEMENTS_PER_STREAM_BYTE} per byte"
        )


def _check_chunk(chunk) -> dict | None:
    if chunk is None:
        return None
    if (
        not isinstance(chunk, dict)
        or set(chunk) - {"array", "index"}
        or not isinstance(chunk.get("array", ""), str)
        or not isinstance(chunk.get("index"), list)
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**31 for v in chunk["index"])
    ):
        raise BitstreamError(f"scene chunk identity {chunk!r} is not {{'array': name, 'index': [integers]}}")
    return {"array": chunk.get("array", ""), "index": tuple(chunk["index"])}


def decode_scene_header(stream: Stream) -> dict:
    """Validated scene description: shape, dtype, nodata, crs, transform, wavelengths, mask, chunk."""
    head = stream.header.get("scene")
    if not isinstance(head, dict):
        raise BitstreamError("header has no 'scene' description")
    unknown = sorted(set(head) - FIELDS)
    if unknown:
        raise BitstreamError(
            f"scene description has fields {unknown} that this torchgeo-inr does not know "
            f"(it reads {sorted(FIELDS)}): a damaged stream, or one from a newer torchgeo-inr"
        )
    shape = head.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**31 for v in shape)
    ):
        raise BitstreamError(f"scene shape {shape!r} is not three positive integers")
    _check_size(shape, stream)
    dtype = head.get("dtype")
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise BitstreamError(f"scene dtype {dtype!r} is not one torchgeo-inr writes")
    nodata = head.get("nodata")
    if nodata is not None and (
        isinstance(nodata, bool) or not isinstance(nodata, (int, float)) or not math.isfinite(float(nodata))
    ):
        raise BitstreamError("nodata must be a finite number")
    crs = head.get("crs")
    if crs is not None and not isinstance(crs, str):
        raise BitstreamError("crs must be a string")
    transform = head.get("transform")
    if transform is not None and (
        not isinstance(transform, list) or len(transform) != 6 or not all(isinstance(v, (int, float)) and math.isfinite(float(v)) for v in transform)
    ):
        raise BitstreamError("transform must be six numbers")
    bands, height, width = shape
    wavelengths = None
    if "wavelengths" in stream.sections:
        raw = _inflate(stream.sections["wavelengths"], 8 * bands, "wavelengths")
        wavelengths = np.cumsum(np.frombuffer(raw, "<i8")) / 1000.0
    mask = None
    if "mask" in stream.sections:
        n = bands * height * width
        raw = _inflate(stream.sections["mask"], (n + 7) // 8, "mask")
        mask = np.unpackbits(np.frombuffer(raw, np.uint8), count=n).view(bool).reshape(shape)
    return {
        "shape": (bands, height, width),
        "dtype": np.dtype(dtype),
        "nodata": None if nodata is None else float(nodata),
        "crs": crs,
        "transform": None if transform is None else tuple(float(v) for v in transform),
        "wavelengths": wavelengths,
        "mask": mask,
        "chunk": _check_chunk(head.get("chunk")),
    }
