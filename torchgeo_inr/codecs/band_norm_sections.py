"""The per-band normalisation of the SIREN codecs as stream sections: ``mean``, ``scale`` (float16), ``exponent``.

Shared by ``siren`` and ``meta-siren``, whose streams both carry a
:class:`~torchgeo_inr.siren.tiles.BandNorm`.
"""

from __future__ import annotations

import numpy as np

from .. import bitstream
from ..packing import unpack_array
from ..siren.tiles import BandNorm


def band_norm_sections(norm: BandNorm) -> dict[str, bytes]:
    """The sections; ``exponent`` only when it is not 0 (one signed byte)."""
    out = {"mean": norm.mean.astype("<f2").tobytes(), "scale": norm.scale.astype("<f2").tobytes()}
    if norm.exponent:
        out["exponent"] = np.int8(norm.exponent).tobytes()
    return out


def read_band_norm(stream: bitstream.Stream, bands: int) -> BandNorm:
    """The normalisation a stream holds; damage raises BitstreamError."""
    mean = unpack_array(stream.section("mean"), "f2", bands, "mean")
    scale = unpack_array(stream.section("scale"), "f2", bands, "scale")
    exponent = 0
    if "exponent" in stream.sections:
        exponent = int(unpack_array(stream.sections["exponent"], "i1", 1, "exponent")[0])
    return BandNorm(mean, scale, exponent)
