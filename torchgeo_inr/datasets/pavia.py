"""Pavia University and Pavia Centre: the two ROSIS urban scenes of Pavia, Italy."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..errors import warn_guess
from ..plotting import RGB_NM
from .hyperspectral import EHU_URL, HyperspectralSceneDataset
from .splits import PAVIA_CENTRE_TRAIN_COUNTS, PAVIA_UNIVERSITY_TRAIN_COUNTS
from .wavelengths import ROSIS_RANGE_NM, band_names, nearest_bands, rosis_wavelengths


class _Rosis(HyperspectralSceneDataset):
    """A ROSIS scene: the files carry no wavelengths, so they are guessed from the band count (with a warning)."""

    def _wavelengths(self, bands: int) -> np.ndarray:
        """ROSIS' nominal range, evenly spaced: the files carry no wavelengths."""
        low, high = ROSIS_RANGE_NM
        warn_guess(
            f"{type(self).__name__}: the files carry no wavelengths; the {bands} bands are taken as evenly "
            f"spread over ROSIS' nominal {low:g}-{high:g} nm"
        )
        return rosis_wavelengths(bands)


class PaviaUniversity(_Rosis):
    """Pavia University dataset.

    The `Pavia University <https://www.ehu.eus/ccwintco/index.php/Hyperspectral_Remote_Sensing_Scenes>`__
    scene was recorded by the ROSIS sensor over the University of Pavia:
    610 x 340 pixels of 1.3 m, 103 bands, and 9 urban classes on 42776
    labelled pixels. The files carry no wavelengths; the bands are taken as
    evenly spread over ROSIS' nominal 430-860 nm (with a
    :class:`~torchgeo_inr.errors.GuessWarning`).

    Standard split: the fixed per-class training counts of the literature
    (Asphalt 548, Meadows 540, Gravel 392, Trees 524, Painted metal sheets 265,
    Bare Soil 532, Bitumen 375, Self-Blocking Bricks 514, Shadows 231; 3921 in
    all), drawn at random; every other labelled pixel is a test pixel. That
    gives 38855 test pixels, not the 40002 that papers quote, which does not
    add up with the distributed ground truth.
    """

    image_file = "PaviaU.mat"
    image_variable = "paviaU"
    mask_file = "PaviaU_gt.mat"
    mask_variable = "paviaU_gt"
    urls: ClassVar[dict[str, str]] = {
        image_file: EHU_URL + "e/ee/PaviaU.mat",
        mask_file: EHU_URL + "5/50/PaviaU_gt.mat",
    }
    md5s: ClassVar[dict[str, str]] = {
        image_file: "165a3c7488995f54a19add47c7eed4cd",
        mask_file: "b8c3ba44b077c26e24220463aa855bd3",
    }

    classes = (
        "Asphalt",
        "Meadows",
        "Gravel",
        "Trees",
        "Painted metal sheets",
        "Bare Soil",
        "Bitumen",
        "Self-Blocking Bricks",
        "Shadows",
    )
    train_counts = PAVIA_UNIVERSITY_TRAIN_COUNTS

    all_bands = band_names(range(1, 104))
    rgb_bands = nearest_bands(all_bands, rosis_wavelengths(103), RGB_NM)


class PaviaCentre(_Rosis):
    """Pavia Centre dataset.

    The `Pavia Centre <https://www.ehu.eus/ccwintco/index.php/Hyperspectral_Remote_Sensing_Scenes>`__
    scene was recorded by the ROSIS sensor over the centre of Pavia: 1096 x 715
    pixels of 1.3 m, 102 bands, and 9 urban classes. The files carry no
    wavelengths; the bands are taken as evenly spread over ROSIS' nominal
    430-860 nm (with a :class:`~torchgeo_inr.errors.GuessWarning`).

    No published training set matches the distributed ground truth, so the
    split is a documented rule: 100 random training pixels per class (900 in
    all); every other labelled pixel is a test pixel.
    """

    image_file = "Pavia.mat"
    image_variable = "pavia"
    mask_file = "Pavia_gt.mat"
    mask_variable = "pavia_gt"
    urls: ClassVar[dict[str, str]] = {
        image_file: EHU_URL + "e/e3/Pavia.mat",
        mask_file: EHU_URL + "5/53/Pavia_gt.mat",
    }
    # No checksum of Pavia_gt.mat is known, so that file is never verified.
    sha256s: ClassVar[dict[str, str]] = {
        image_file: "b60341da323fd271cd97dd6d7a69514d385ccd7fdfc5a60c4ff5994b047f152e",
    }

    classes = (
        "Water",
        "Trees",
        "Asphalt",
        "Self-Blocking Bricks",
        "Bitumen",
        "Tiles",
        "Shadows",
        "Meadows",
        "Bare Soil",
    )
    train_counts = PAVIA_CENTRE_TRAIN_COUNTS

    all_bands = band_names(range(1, 103))
    rgb_bands = nearest_bands(all_bands, rosis_wavelengths(102), RGB_NM)
