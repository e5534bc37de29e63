"""TorchGeo datasets of the public hyperspectral benchmark scenes, with their standard splits.

The dataset classes are imported on first use, so that the sensor tables in
:mod:`.wavelengths` and the splits serve code that never builds a dataset
(benchmarks, decoders) without importing TorchGeo, which is an extra
(``pip install 'torchgeo-inr[torchgeo]'``).
"""

from importlib import import_module

_WHERE = {
    "UNLABELLED": ".hyperspectral",
    "HyperspectralSceneDataset": ".hyperspectral",
    "Cuprite": ".cuprite",
    "HyperspectralSceneDataModule": ".datamodule",
    "SceneTiles": ".tiles",
    "IndianPines": ".indian_pines",
    "PaviaCentre": ".pavia",
    "PaviaUniversity": ".pavia",
    "standard_split": ".splits",
}

__all__ = tuple(sorted(_WHERE))


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = import_module(_WHERE[name], __name__)
    except ModuleNotFoundError as err:
        if err.name != "torchgeo":
            raise
        raise ModuleNotFoundError(
            f"torchgeo_inr.datasets.{name} needs TorchGeo: pip install 'torchgeo-inr[torchgeo]'", name=err.name
        ) from err
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
