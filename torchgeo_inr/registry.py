"""Name -> codec. Built-in codecs are listed here; third parties join through the
``torchgeo_inr.codecs`` entry-point group (name = codec name, value = a Codec class).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from .codec import Codec
from .errors import UnknownCodecError

ENTRY_POINT_GROUP = "torchgeo_inr.codecs"

_BUILTIN = {
    "jpeg2000": "torchgeo_inr.codecs.jpeg2000:JPEG2000Codec",
    "pca-jpeg2000": "torchgeo_inr.codecs.pca_jpeg2000:PCAJPEG2000Codec",
    "pca-jpeg2000-shared": "torchgeo_inr.codecs.pca_jpeg2000_shared:SharedPCAJPEG2000Codec",
    "hiner": "torchgeo_inr.codecs.hiner:HINERCodec",
    "latent-grid": "torchgeo_inr.codecs.latent_grid:LatentGridCodec",
    "siren": "torchgeo_inr.codecs.siren:SirenCodec",
    "meta-siren": "torchgeo_inr.codecs.meta_siren:MetaSirenCodec",
    "error-bound": "torchgeo_inr.codecs.error_bound:ErrorBoundCodec",
}
_REGISTERED: dict[str, type[Codec] | str] = {}


def register_codec(name: str, codec: type[Codec] | str, *, overwrite: bool = False) -> None:
    """Add a codec class (or a ``"module:Class"`` path, imported when first used)."""
    if not overwrite and name in available_codecs():
        raise ValueError(f"a codec named {name!r} is already registered")
    _REGISTERED[name] = codec


def _entry_points() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_codecs() -> list[str]:
    """Names of every codec: built-in, registered in this process, and from entry points."""
    return sorted({*_BUILTIN, *_REGISTERED, *_entry_points()})


def _load(target) -> type[Codec]:
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    elif hasattr(target, "load"):  # an entry point
        target = target.load()
    if not (isinstance(target, type) and issubclass(target, Codec)):
        raise TypeError(f"{target!r} is not a torchgeo_inr Codec class")
    return target


def codec_class(name: str) -> type[Codec]:
    """The class registered under ``name`` (entry points are scanned only for a name not built in or
    registered: the scan took about 20 ms, once per decoded tile)."""
    for table in (_REGISTERED, _BUILTIN):
        if name in table:
            return _load(table[name])
    if name in (found := _entry_points()):
        return _load(found[name])
    raise UnknownCodecError(f"no codec named {name!r}; available: {', '.join(available_codecs())}")


def get_codec(name: str, **options) -> Codec:
    """A codec instance; ``options`` go to its constructor."""
    return codec_class(name)(**options)
