"""``jpeg2000``: every band coded on its own with OpenJPEG, the papers' classical baseline.

Each band is mapped to uint16 over its own range (as HINER's public code
normalises bands), so one OpenJPEG quality (PSNR) setting for all bands gives
every band the same PSNR; that setting is searched until the real stream fits
the budget. The bands' identical JPEG2000 main headers are stored once.
"""

from __future__ import annotations

import numpy as np

from .. import bitstream
from ..codec import Codec, Finish
from ..packing import pack_array, unpack_array
from ..ratecontrol import Target, fit_bytes
from ..scene import Scene
from . import j2k

_U16 = 65535.0


class JPEG2000Codec(Codec):
    """Per-band JPEG2000 (irreversible 9/7 wavelet, OpenJPEG's rate-distortion optimisation)."""

    name = "jpeg2000"
    version = 1

    def _encode(self, scene: Scene, target: Target, finish: Finish, *, device, progress) -> bytes:
        flat = scene.data.reshape(scene.bands, -1)
        lo = flat.min(axis=1).astype(np.float32)
        span = (flat.max(axis=1) - lo).astype(np.float32)
        span[span <= 0] = 1.0
        planes = np.rint((scene.data - lo[:, None, None]) / span[:, None, None] * _U16)
        planes = planes.clip(0, _U16).astype(np.uint16)
        ranges = {"lo": pack_array(lo, "f4"), "span": pack_array(span, "f4")}

        def make(quality: float) -> bytes:
            mains, tiles = zip(*(j2k.split(j2k.encode(band, quality)) for band in planes))
            if len(set(mains)) != 1:
                raise RuntimeError("OpenJPEG wrote different main headers for bands of one shape")
            return finish(
                {"quality": round(quality, 4)},
                {**ranges, "j2k_main": mains[0], "j2k_tiles": b"".join(tiles)},
            )

        return fit_bytes(make, j2k.MIN_QUALITY, j2k.MAX_QUALITY, target.max_bytes)[1]

    def _decode(self, stream: bitstream.Stream, shape, *, device) -> np.ndarray:
        bands, height, width = shape
        lo = unpack_array(stream.section("lo"), "f4", bands, "lo")
        span = unpack_array(stream.section("span"), "f4", bands, "span")
        codestreams = j2k.join_tile_parts(stream.section("j2k_main"), stream.section("j2k_tiles"), bands)
        out = np.empty(shape, dtype=np.float32)
        for b, cs in enumerate(codestreams):
            out[b] = j2k.decode(cs, (height, width)) * (span[b] / _U16) + lo[b]
        return out
