"""torchgeo-inr: hyperspectral scenes compressed into small neural networks, for the geospatial stack.

The front door::

    import torchgeo_inr as tgi
    scene = tgi.read_scene("Indian_pines_corrected.mat")
    data = tgi.encode(scene, "pca-jpeg2000", bpppb=0.1)
    back = tgi.decode(data)
"""

from .compress import decode, encode, info
from .errors import BitstreamError, InrError, RateError, SceneError, UnknownCodecError
from .io import read_scene, write_scene
from .registry import available_codecs, get_codec, register_codec
from .scene import Scene

__version__ = "0.1.0"

__all__ = [
    "BitstreamError",
    "InrError",
    "RateError",
    "Scene",
    "SceneError",
    "UnknownCodecError",
    "available_codecs",
    "decode",
    "encode",
    "get_codec",
    "info",
    "read_scene",
    "register_codec",
    "write_scene",
]
