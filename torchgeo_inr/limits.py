"""Ceilings on what a stream, an archive or a file may make torchgeo-inr allocate or read.

A stream of a few hundred bytes can *declare* a scene of billions of
elements; every declared size is checked against these limits (and against
what the bytes can physically hold) before anything is allocated, and a
size beyond them raises :class:`~torchgeo_inr.errors.LimitError`.

They are plain module attributes, read at each check, so a user who means
it raises one for the whole process::

    import torchgeo_inr.limits
    torchgeo_inr.limits.MAX_DECODED_ELEMENTS = 2**32
"""

from __future__ import annotations

#: Most elements (bands x height x width) a decoded scene may have: 2**30 elements is 4 GiB of float32.
MAX_DECODED_ELEMENTS = 2**30

#: Most declared scene elements per byte of stream, i.e. the lowest rate decode believes
#: (2048 elements per byte = 0.004 bpppb, 12x below the lowest rate this package is measured at),
#: checked for scenes of more than MIN_ELEMENTS_FOR_RATE_CHECK elements: a 700-byte stream
#: may describe at most 2**22 elements (16 MiB of float32), not 8 x 2048 x 2048, and a
#: 33 KB one at most 68 million.
MAX_ELEMENTS_PER_STREAM_BYTE = 2**11
#: Scenes up to this many elements decode whatever their stream's length (a chunk that
#: stores only a latent vector against a shared network may be a hundred bytes).
MIN_ELEMENTS_FOR_RATE_CHECK = 2**22

#: Most bytes a stream, or a file read as a stream (``torchgeo-inr info``), may have.
MAX_STREAM_BYTES = 2**31

#: Most bytes a zlib-compressed section (nodata mask, wavelengths) may inflate to.
MAX_INFLATED_SECTION_BYTES = 2**28

#: Most bytes one member of an ``.inrx`` archive may inflate to, and all its members together.
MAX_ARCHIVE_MEMBER_BYTES = 2**28
MAX_ARCHIVE_TOTAL_BYTES = 2**32

#: Most bytes of an ``.inrx`` archive's JSON index.
MAX_ARCHIVE_INDEX_BYTES = 2**26

#: Deepest nesting of lists and objects in any JSON torchgeo-inr reads (stream headers, archive index).
MAX_JSON_DEPTH = 64

#: Most pixels (height x width) a JPEG2000 codestream inside a stream may declare.
MAX_J2K_PIXELS = 2**28

#: Highest rate a caller may ask for: no sample type has more than 64 bits.
MAX_BPPPB = 64.0
