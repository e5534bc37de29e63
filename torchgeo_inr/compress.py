"""The package's front door: ``encode(scene, codec=..., bpppb=...)`` and ``decode(data)``.

``decode`` needs no codec name: the stream says which codec wrote it.
"""

from __future__ import annotations

from . import bitstream
from .codecs.base import as_scene
from .metrics import bpppb as bits_per_sample
from .registry import get_codec
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
    **options,
) -> bytes:
    """Compress a Scene or (B, H, W) array with the named codec; ``options`` configure the codec."""
    return get_codec(codec, **options).encode(
        as_scene(scene), bpppb=bpppb, psnr=psnr, device=device, progress=progress
    )


def decode(data, *, device=None) -> Scene:
    """Rebuild the scene from a stream written by any registered codec."""
    stream = bitstream.unpack(data)
    return get_codec(stream.codec).decode(stream, device=device)


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
