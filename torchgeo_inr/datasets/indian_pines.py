"""Indian Pines: the AVIRIS agricultural scene with 16 land-cover classes."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..plotting import RGB_NM
from .hyperspectral import EHU_URL, HyperspectralSceneDataset
from .splits import INDIAN_PINES_TRAIN_COUNTS
from .wavelengths import INDIAN_PINES_KEPT_BANDS, band_names, indian_pines_wavelengths, nearest_bands


class IndianPines(HyperspectralSceneDataset):
    """Indian Pines dataset.

    The `Indian Pines <https://www.ehu.eus/ccwintco/index.php/Hyperspectral_Remote_Sensing_Scenes>`__
    scene was recorded by AVIRIS over north-western Indiana in 1992: 145 x 145
    pixels of 20 m, 200 bands between 400 and 2500 nm (the 220 recorded ones
    without the water-absorption bands 104-108, 150-163 and 220), and 16
    crop and land-cover classes on 10249 labelled pixels.

    Standard split: 50 training pixels per class, 15 for Alfalfa,
    Grass-pasture-mowed and Oats (695 in all); every other labelled pixel is a
    test pixel. That gives 9554 test pixels, not the 9671 that papers quote:
    they used another version of the ground truth.

    If you use this dataset in your research, please cite:

    * https://doi.org/10.4231/R7RX991C
    """

    image_file = "Indian_pines_corrected.mat"
    image_variable = "indian_pines_corrected"
    mask_file = "Indian_pines_gt.mat"
    mask_variable = "indian_pines_gt"
    urls: ClassVar[dict[str, str]] = {
        image_file: EHU_URL + "6/67/Indian_pines_corrected.mat",
        mask_file: EHU_URL + "c/c4/Indian_pines_gt.mat",
    }
    md5s: ClassVar[dict[str, str]] = {
        image_file: "66dbc9f4a9b7c9b1445f60a87b505101",
        mask_file: "9414943dac1d80faaa9165c8b460510c",
    }

    classes = (
        "Alfalfa",
        "Corn-notill",
        "Corn-mintill",
        "Corn",
        "Grass-pasture",
        "Grass-trees",
        "Grass-pasture-mowed",
        "Hay-windrowed",
        "Oats",
        "Soybean-notill",
        "Soybean-mintill",
        "Soybean-clean",
        "Wheat",
        "Woods",
        "Buildings-Grass-Trees-Drives",
        "Stone-Steel-Towers",
    )
    train_counts = INDIAN_PINES_TRAIN_COUNTS

    #: AVIRIS band numbers of the 220 recorded: B1 ... B103, B109 ... B149, B164 ... B219.
    all_bands = band_names(INDIAN_PINES_KEPT_BANDS)
    rgb_bands = nearest_bands(all_bands, indian_pines_wavelengths(), RGB_NM)

    def _wavelengths(self, bands: int) -> np.ndarray:
        """The 200 AVIRIS band centres of the corrected cube."""
        return indian_pines_wavelengths()
