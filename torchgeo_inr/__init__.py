"""torchgeo-inr: hyperspectral scenes compressed into small neural networks, for the geospatial stack.

The front door::

    import torchgeo_inr as tgi
    scene = tgi.read_scene("Indian_pines_corrected.mat")
    data = tgi.encode(scene, "pca-jpeg2000", bpppb=0.1)
    back = tgi.decode(data)
    encoded = tgi.encode_with_report(scene, "latent-grid", bpppb=0.2)   # .data, .report (steps, stopped, ...)
"""

from .compress import decode, encode, encode_with_report, info
from .errors import BitstreamError, InrError, RateError, SceneError, TimeCapWarning, UnknownCodecError
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
    "TimeCapWarning",
    "UnknownCodecError",
    "available_codecs",
    "decode",
    "encode",
    "encode_with_report",
    "get_codec",
    "info",
    "read_scene",
    "register_codec",
    "write_scene",
]

# The xarray face (plugins/, installed as torchgeo_inr.plugins): importing it
# registers the ``.inr`` accessor on Datasets and DataArrays. xarray has no
# entry point for accessors, hence this import; Dask is imported only when used.
try:
    import xarray as _xarray  # noqa: F401
except ImportError:  # the engine works without xarray
    pass
else:
    from .plugins import xarray_accessor as _xarray_accessor  # noqa: F401
    from .plugins.archive import open_compressed
    from .plugins.open import open_scene

    __all__ += ["open_compressed", "open_scene"]
