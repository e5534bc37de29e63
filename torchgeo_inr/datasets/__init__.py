"""TorchGeo datasets of the public hyperspectral benchmark scenes, with their standard splits."""

from .cuprite import Cuprite
from .hyperspectral import UNLABELLED, HyperspectralSceneDataset
from .indian_pines import IndianPines
from .pavia import PaviaCentre, PaviaUniversity
from .splits import standard_split

__all__ = (
    "UNLABELLED",
    "Cuprite",
    "HyperspectralSceneDataset",
    "IndianPines",
    "PaviaCentre",
    "PaviaUniversity",
    "standard_split",
)
