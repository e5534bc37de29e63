"""The one container every codec writes: versioned, self-describing, checksummed.

Layout (little-endian)::

    magic      5 bytes  b"TGINR"
    format     u8       FORMAT_VERSION
    codec      u8 n + n bytes ASCII name, u16 codec version
    header     u32 n + n bytes of compact JSON (an object)
    sections   u8 count, then per section: u8 n + n bytes ASCII name, u32 length
    payload    the sections' bytes, in table order
    checksum   u32 CRC-32 of everything before it

The container knows nothing of scenes or networks: it holds a JSON header
and named byte sections. Parsing reads only JSON and raw bytes (no pickle,
no eval), checks every length against what is there, refuses a codec version
below 1 and JSON that is malformed, non-finite or nested deeper than
:data:`torchgeo_inr.limits.MAX_JSON_DEPTH`, and raises
:class:`BitstreamError` saying what is wrong.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field

from . import limits, strict_json
from .errors import BitstreamError, LimitError

MAGIC = b"TGINR"
FORMAT_VERSION = 1
_MAX_NAME = 64


@dataclass
class Stream:
    """A parsed container: which codec wrote it, its header and its byte sections."""

    codec: str
    codec_version: int
    header: dict
    sections: dict[str, bytes] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    #: Length of the whole byte string it was parsed from (None for a stream built in memory).
    nbytes: int | None = None

    @property
    def size(self) -> int:
        """Bytes the stream takes: as parsed, or as :func:`pack` would write it."""
        if self.nbytes is not None:
            return self.nbytes
        head = json.dumps(self.header, separators=(",", ":"))
        return len(head) + sum(len(blob) + len(name) + 5 for name, blob in self.sections.items()) + 32

    def section(self, name: str) -> bytes:
        """A section the codec needs; a clear error when a damaged stream lacks it."""
        try:
            return self.sections[name]
        except KeyError:
            raise BitstreamError(
                f"{self.codec} stream has no section {name!r} (it has {sorted(self.sections)})"
            ) from None


def _ascii(name: str, what: str) -> bytes:
    raw = name.encode("ascii")
    if not 0 < len(raw) <= _MAX_NAME:
        raise ValueError(f"{what} {name!r} must be 1..{_MAX_NAME} ASCII characters")
    return raw


def pack(codec: str, codec_version: int, header: dict, sections: dict[str, bytes] | None = None) -> bytes:
    """Serialise a stream; the result is exactly what :func:`unpack` reads."""
    sections = sections or {}
    if len(sections) > 255:
        raise ValueError("at most 255 sections")
    name = _ascii(codec, "codec name")
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    parts = [MAGIC, struct.pack("<BB", FORMAT_VERSION, len(name)), name]
    parts.append(struct.pack("<HI", codec_version, len(head)))
    parts.append(head)
    parts.append(struct.pack("<B", len(sections)))
    for key, blob in sections.items():
        raw = _ascii(key, "section name")
        parts += [struct.pack("<B", len(raw)), raw, struct.pack("<I", len(blob))]
    parts += [bytes(b) for b in sections.values()]
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BitstreamError(
                f"stream is truncated: {what} needs {n} bytes at offset {self.pos}, "
                f"only {len(self.data) - self.pos} left"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))


def _decode_name(raw: bytes, what: str) -> str:
    try:
        name = raw.decode("ascii")
    except UnicodeDecodeError:
        raise BitstreamError(f"{what} is not ASCII: the stream is damaged") from None
    if not name.isprintable():
        raise BitstreamError(f"{what} has unprintable characters: the stream is damaged")
    return name


def is_stream(data) -> bool:
    """True if ``data`` starts like a torchgeo-inr stream (cheap; no validation)."""
    return bytes(data[: len(MAGIC)]) == MAGIC


def unpack(data) -> Stream:
    """Parse and verify a stream; raise :class:`BitstreamError` for anything foreign or damaged."""
    try:
        data = bytes(memoryview(data))
    except TypeError:
        raise BitstreamError(f"expected bytes, got {type(data).__name__}") from None
    if len(data) > limits.MAX_STREAM_BYTES:
        raise LimitError(f"stream of {len(data)} bytes is longer than limits.MAX_STREAM_BYTES = {limits.MAX_STREAM_BYTES}")
    if len(data) < len(MAGIC) + 4:
        raise BitstreamError(f"{len(data)} bytes is too short to be a torchgeo-inr stream")
    if not data.startswith(MAGIC):
        raise BitstreamError(
            f"not a torchgeo-inr stream: it starts with {data[:8]!r}, expected {MAGIC!r}"
        )
    body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
    reader = _Reader(body)
    reader.take(len(MAGIC), "magic")
    (version,) = reader.unpack("<B", "format version")
    newer = (
        f"stream format version {version} is newer than this torchgeo-inr reads "
        f"({FORMAT_VERSION}); upgrade torchgeo-inr"
    )
    if zlib.crc32(body) != crc:
        damaged = (
            "checksum mismatch: the stream is damaged or truncated "
            f"({len(data)} bytes, CRC-32 {zlib.crc32(body):08x} != stored {crc:08x})"
        )
        raise BitstreamError(f"{newer}, or {damaged}" if version > FORMAT_VERSION else damaged)
    if version > FORMAT_VERSION:
        raise BitstreamError(newer)
    if version < 1:
        raise BitstreamError(f"stream format version {version} is not valid")
    (n,) = reader.unpack("<B", "codec name length")
    codec = _decode_name(reader.take(n, "codec name"), "codec name")
    codec_version, head_len = reader.unpack("<HI", "codec version and header length")
    if codec_version < 1:
        raise BitstreamError(f"{codec} stream declares codec version {codec_version}; versions start at 1")
    head_raw = reader.take(head_len, "header")
    header = strict_json.loads(head_raw, "header")
    if not isinstance(header, dict):
        raise BitstreamError("header must be a JSON object")
    (count,) = reader.unpack("<B", "section count")
    table = []
    for i in range(count):
        (n,) = reader.unpack("<B", f"section {i} name length")
        name = _decode_name(reader.take(n, f"section {i} name"), f"section {i} name")
        (length,) = reader.unpack("<I", f"section {name!r} length")
        table.append((name, length))
    sections: dict[str, bytes] = {}
    for name, length in table:
        if name in sections:
            raise BitstreamError(f"section {name!r} appears twice")
        sections[name] = reader.take(length, f"section {name!r}")
    if reader.pos != len(body):
        raise BitstreamError(f"{len(body) - reader.pos} unexpected bytes after the last section")
    return Stream(codec, codec_version, header, sections, version, nbytes=len(data))
