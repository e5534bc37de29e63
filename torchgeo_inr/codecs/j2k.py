"""JPEG2000 (OpenJPEG through imagecodecs) on uint16 planes, as the classical codecs use it.

Besides thin encode/decode wrappers, this splits a codestream into its main
header and its single tile-part, so that many bands of one shape can share
one main header: the header is about 130 bytes, which at low rates is most
of a band's budget. The image size a codestream declares (its SIZ marker)
is checked before OpenJPEG decodes it.
"""

from __future__ import annotations

import struct

import imagecodecs
import numpy as np

from .. import limits
from ..errors import BitstreamError, LimitError

SOC, SIZ, SOT, EOC = b"\xff\x4f", b"\xff\x51", b"\xff\x90", b"\xff\xd9"
#: The PSNR knob of OpenJPEG's fixed-quality mode, in dB: the search range.
MIN_QUALITY, MAX_QUALITY = 1.0, 160.0


def encode(planes: np.ndarray, quality_db: float, threads: int = 1) -> bytes:
    """Code (H, W) or (H, W, C) uint16 at OpenJPEG's fixed-quality ``quality_db`` (irreversible 9/7)."""
    return bytes(
        imagecodecs.jpeg2k_encode(
            np.ascontiguousarray(planes, dtype=np.uint16),
            level=float(quality_db),
            codecformat="j2k",
            reversible=False,
            mct=False,
            numthreads=threads,
        )
    )


def declared_shape(codestream: bytes) -> tuple[int, ...]:
    """(height, width) or (height, width, components) from the SIZ marker, without decoding.

    Read before the decoder runs, so that a codestream declaring a huge image
    is refused before OpenJPEG allocates it.
    """
    if not codestream.startswith(SOC + SIZ) or len(codestream) < 42:
        raise BitstreamError("JPEG2000 codestream does not start with SOC and SIZ markers: it is damaged")
    xsiz, ysiz, x0, y0 = struct.unpack(">IIII", codestream[8:24])
    (components,) = struct.unpack(">H", codestream[40:42])
    height, width = ysiz - y0, xsiz - x0
    if height <= 0 or width <= 0 or components == 0:
        raise BitstreamError(f"JPEG2000 codestream declares an empty image ({ysiz - y0} x {xsiz - x0})")
    if height * width * components > limits.MAX_J2K_PIXELS:
        raise LimitError(
            f"JPEG2000 codestream declares {height} x {width} x {components}, more than "
            f"limits.MAX_J2K_PIXELS = {limits.MAX_J2K_PIXELS}"
        )
    return (height, width) if components == 1 else (height, width, components)


def decode(codestream: bytes, shape: tuple[int, ...], threads: int = 1) -> np.ndarray:
    """Decode and check that the planes have the expected shape (declared shape checked first)."""
    declared = declared_shape(codestream)
    if declared != tuple(shape):
        raise BitstreamError(f"JPEG2000 codestream declares {declared}, expected {tuple(shape)}")
    try:
        out = imagecodecs.jpeg2k_decode(codestream, numthreads=threads)
    except Exception as err:
        raise BitstreamError(f"JPEG2000 codestream is damaged: {err}") from None
    if out.shape != tuple(shape) or out.dtype != np.uint16:
        raise BitstreamError(f"JPEG2000 codestream holds {out.shape} {out.dtype}, expected {tuple(shape)} uint16")
    return out


def split(codestream: bytes) -> tuple[bytes, bytes]:
    """(main header, tile-part without EOC) of a single-tile codestream."""
    if not codestream.startswith(SOC):
        raise ValueError("not a JPEG2000 codestream")
    pos = 2
    while codestream[pos : pos + 2] != SOT:
        (length,) = struct.unpack(">H", codestream[pos + 2 : pos + 4])
        pos += 2 + length
    (psot,) = struct.unpack(">I", codestream[pos + 6 : pos + 10])
    if psot == 0 or codestream[pos + psot :] != EOC:
        raise ValueError("expected exactly one tile-part followed by EOC")
    return codestream[:pos], codestream[pos : pos + psot]


def join_tile_parts(main_header: bytes, tile_parts: bytes, count: int) -> list[bytes]:
    """Rebuild ``count`` codestreams from a shared main header and concatenated tile-parts."""
    streams, pos = [], 0
    for i in range(count):
        if tile_parts[pos : pos + 2] != SOT or pos + 10 > len(tile_parts):
            raise BitstreamError(f"JPEG2000 tile-part {i} is missing or damaged at offset {pos}")
        (psot,) = struct.unpack(">I", tile_parts[pos + 6 : pos + 10])
        if psot < 14 or pos + psot > len(tile_parts):
            raise BitstreamError(f"JPEG2000 tile-part {i} claims {psot} bytes; the stream is damaged")
        streams.append(main_header + tile_parts[pos : pos + psot] + EOC)
        pos += psot
    if pos != len(tile_parts):
        raise BitstreamError(f"{len(tile_parts) - pos} stray bytes after the last JPEG2000 tile-part")
    return streams
