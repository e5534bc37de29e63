"""Small, checked conversions between arrays and stream sections.

Every reader states how many values it expects, so a damaged section gives a
clear :class:`BitstreamError` and never a huge allocation.
"""

from __future__ import annotations

import lzma

import numpy as np

from .errors import BitstreamError

_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": 64 << 20}]
_LZMA_MIN_DICT = 4096  # LZMA2's smallest dictionary


def pack_array(values: np.ndarray, dtype: str) -> bytes:
    """Raw little-endian bytes of ``values`` cast to ``dtype``."""
    return np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()


def unpack_array(blob: bytes, dtype: str, count: int, what: str) -> np.ndarray:
    """``count`` values of ``dtype`` from a section, or a clear error."""
    dt = np.dtype(dtype).newbyteorder("<")
    if len(blob) != count * dt.itemsize:
        raise BitstreamError(f"{what} section has {len(blob)} bytes, expected {count * dt.itemsize}")
    values = np.frombuffer(blob, dt).astype(dt.newbyteorder("="))
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise BitstreamError(f"{what} section holds non-finite numbers")
    return values


def lzma_pack(raw: bytes) -> bytes:
    """LZMA2 without container headers (they would cost ~60 bytes a section).

    The dictionary is cut to the data's size: the bytes are the same as with
    the preset's 64 MiB, but setting that up took 50 ms a call (the decoder,
    told the preset's size, reads both).
    """
    dict_size = min(max(len(raw), _LZMA_MIN_DICT), _LZMA_FILTERS[0]["dict_size"])
    return lzma.compress(raw, format=lzma.FORMAT_RAW, filters=[{**_LZMA_FILTERS[0], "dict_size": dict_size}])


def lzma_unpack(blob: bytes, expected: int, what: str) -> bytes:
    """Inverse of :func:`lzma_pack`, refusing anything but exactly ``expected`` bytes."""
    try:
        d = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
        raw = d.decompress(blob, max_length=expected + 1)
    except lzma.LZMAError as err:
        raise BitstreamError(f"{what} section is damaged: {err}") from None
    if len(raw) != expected:
        raise BitstreamError(f"{what} section unpacks to {len(raw)} bytes, expected {expected}")
    return raw


def header_number(header: dict, key: str, kind: type, low=None, high=None):
    """A number from the codec's header, type- and range-checked."""
    value = header.get(key)
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or (low is not None and value < low) or (high is not None and value > high):
        raise BitstreamError(f"header field {key!r} = {value!r} is invalid")
    return kind(value)
