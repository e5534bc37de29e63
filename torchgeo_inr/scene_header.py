"""What every stream carries about its scene, so decode gives back what came in.

Shape, original dtype, nodata value, CRS and transform go in the JSON header;
wavelengths (delta-coded milli-nm) and the nodata mask (packed bits) go in
zlib-compressed sections. All of it is counted in the rate.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from .bitstream import Stream
from .errors import BitstreamError
from .scene import MAX_ELEMENTS, Scene

_DTYPES = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "int64", "uint64", "float16", "float32", "float64"}
_MAX_INFLATE = 2**31


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


def _inflate(blob: bytes, expected: int, what: str) -> bytes:
    try:
        d = zlib.decompressobj()
        raw = d.decompress(blob, expected + 1)
    except zlib.error as err:
        raise BitstreamError(f"{what} section is damaged: {err}") from None
    if len(raw) != expected or not d.eof:
        raise BitstreamError(f"{what} section holds {len(raw)} bytes, expected {expected}")
    return raw


def decode_scene_header(stream: Stream) -> dict:
    """Validated scene description: shape, dtype, nodata, crs, transform, wavelengths, mask."""
    head = stream.header.get("scene")
    if not isinstance(head, dict):
        raise BitstreamError("header has no 'scene' description")
    shape = head.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**31 for v in shape)
    ):
        raise BitstreamError(f"scene shape {shape!r} is not three positive integers")
    if math.prod(shape) > MAX_ELEMENTS:
        raise BitstreamError(f"scene shape {shape} is larger than supported")
    dtype = head.get("dtype")
    if dtype not in _DTYPES:
        raise BitstreamError(f"scene dtype {dtype!r} is not one torchgeo-inr writes")
    nodata = head.get("nodata")
    if nodata is not None and not isinstance(nodata, (int, float)):
        raise BitstreamError("nodata must be a number")
    crs = head.get("crs")
    if crs is not None and not isinstance(crs, str):
        raise BitstreamError("crs must be a string")
    transform = head.get("transform")
    if transform is not None and (
        not isinstance(transform, list) or len(transform) != 6 or not all(isinstance(v, (int, float)) for v in transform)
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
        mask = np.unpackbits(np.frombuffer(raw, np.uint8), count=n).astype(bool).reshape(shape)
    return {
        "shape": (bands, height, width),
        "dtype": np.dtype(dtype),
        "nodata": None if nodata is None else float(nodata),
        "crs": crs,
        "transform": None if transform is None else tuple(float(v) for v in transform),
        "wavelengths": wavelengths,
        "mask": mask,
    }
