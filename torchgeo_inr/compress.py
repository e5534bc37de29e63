"""The package's front door: ``encode(scene, codec=..., bpppb=...)`` and ``decode(data)``.

``decode`` needs no codec name: the stream says which codec wrote it.
"""

from __future__ import annotations

from . import bitstream
from .codec import as_scene
from .errors import BitstreamError, UnknownCodecError
from .metrics import bpppb as bits_per_sample
from .registry import get_codec
from .report import Encoded
from .scene import Scene
from .scene_header import decode_scene_header

DEFAULT_CODEC = "pca-jpeg2000"


def encode(
    scene,
    codec: str = DEFAULT_CODEC,
    *,
    bpppb: float | None = None,
    psnr: float | None = None,
    device=None,
    progress: bool = True,
    max_error=None,
    relative_error=None,
    **options,
) -> bytes:
    """Compress a Scene or (B, H, W) array with the named codec; ``options`` configure the codec.

    ``max_error=`` / ``relative_error=`` bound every value of the decode (see :func:`encode_with_report`).
    """
    return encode_with_report(scene, codec, bpppb=bpppb, psnr=psnr, device=device, progress=progress,
                              max_error=max_error, relative_error=relative_error, **options).data


def encode_with_report(
    scene,
    codec: str = DEFAULT_CODEC,
    *,
    bpppb: float | None = None,
    psnr: float | None = None,
    device=None,
    progress: bool = True,
    max_error=None,
    relative_error=None,
    **options,
) -> Encoded:
    """:func:`encode`, and what the encode did (:class:`~torchgeo_inr.report.EncodeReport`): real rate,
    seconds, training steps and why the fit stopped, every encode rate control asked for.

    ``max_error`` (absolute, in the scene's units; one number or one per band) or ``relative_error`` (a
    fraction of each band's range) bounds every valid value of the decode: the named codec becomes the
    lossy layer of the ``error-bound`` codec, which adds an entropy-coded residual and proves the bound
    before it returns; a rate or PSNR target is then reported on, not forced (the bound wins).
    """
    if max_error is None and relative_error is None:
        chosen = get_codec(codec, **options)
    elif codec == "error-bound":
        chosen = get_codec(codec, max_error=max_error, relative_error=relative_error, **options)
    else:
        chosen = get_codec("error-bound", max_error=max_error, relative_error=relative_error, lossy=codec,
                           lossy_options=options or None)
    return chosen.encode_with_report(as_scene(scene), bpppb=bpppb, psnr=psnr, device=device, progress=progress)


def decode(data, *, device=None) -> Scene:
    """Rebuild the scene from a stream written by any registered codec."""
    stream = bitstream.unpack(data)
    try:
        codec = get_codec(stream.codec)
    except UnknownCodecError as err:  # a stream from elsewhere, or a damaged name: the stream's problem
        raise BitstreamError(f"the stream was written by codec {stream.codec!r}, which is not installed: {err}") from None
    return codec.decode(stream, device=device)


def info(data) -> dict:
    """What a stream says about itself, without decoding the payload."""
    stream = bitstream.unpack(data)
    scene = decode_scene_header(stream)
    sections = {name: len(blob) for name, blob in stream.sections.items()}
    return {
        "codec": stream.codec,
        "codec_version": stream.codec_version,
        "format_version": stream.format_version,
        "bytes": len(data),
        "shape": scene["shape"],
        "dtype": scene["dtype"].name,
        "bpppb": bits_per_sample(len(data), scene["shape"]),
        "wavelengths": scene["wavelengths"] is not None,
        "nodata_elements": 0 if scene["mask"] is None else int(scene["mask"].sum()),
        "crs": scene["crs"],
        "header": {k: v for k, v in stream.header.items() if k != "scene"},
        "sections": sections,
    }
