"""Cuprite: the AVIRIS mineral scene of Nevada, used for unmixing (no class ground truth)."""

from __future__ import annotations

import os
from typing import ClassVar

import numpy as np

from ..errors import SceneError, warn_guess
from ..io import WAVELENGTH_NAMES, load_mat_arrays
from ..plotting import RGB_NM
from .hyperspectral import EHU_URL, HyperspectralSceneDataset
from .wavelengths import AVIRIS_BANDS, AVIRIS_RANGE_NM, aviris_nominal_wavelengths, band_names, nearest_bands

#: Names of the (bands, pixels) matrix: X as commonly described, Y in the unmixing data sets of Zhu et al.
PIXEL_MATRIX_NAMES = ("X", "Y")


class Cuprite(HyperspectralSceneDataset):
    """Cuprite dataset.

    The `Cuprite <https://www.ehu.eus/ccwintco/index.php/Hyperspectral_Remote_Sensing_Scenes>`__
    scene is AVIRIS reflectance (1997) over the Cuprite mining district,
    Nevada. It has no class ground truth, so it has only the scene mode.

    The file layout is read in either of two forms:

    * a (bands, pixels) matrix ``X`` (or ``Y``) with ``nRow`` and ``nCol``,
      pixels in MATLAB column-major order, and optionally ``SlectBands``, the
      1-based indices of the kept AVIRIS bands;
    * a single 3-D (H, W, B) array.

    Wavelengths come from the file when it has them; otherwise they are the
    nominal AVIRIS centres (224 evenly spaced over 400-2500 nm) picked by
    ``SlectBands``, or, without it, guessed from the band count (all 224, or
    evenly spread over that range), with a
    :class:`~torchgeo_inr.errors.GuessWarning`. Bands are named by their
    AVIRIS number ("B1" ... "B224"); ``all_bands`` of an instance are the
    ones its file holds (``SlectBands``).
    """

    image_file = "Cuprite_f970619t01p02_r02_sc03.a.rfl.mat"
    urls: ClassVar[dict[str, str]] = {image_file: EHU_URL + "7/7d/" + image_file}
    sha256s: ClassVar[dict[str, str]] = {
        image_file: "2c9fa8b09a7587e5ae9680ea0cb5763b214e9042c9950cdbadbdfeee6cff5086",
    }

    #: Every AVIRIS band; an instance's ``all_bands`` are those of its file.
    all_bands = band_names(range(1, AVIRIS_BANDS + 1))
    rgb_bands = nearest_bands(all_bands, aviris_nominal_wavelengths(), RGB_NM)

    def _load_image(self) -> tuple[np.ndarray, np.ndarray]:
        """The cube as (B, H, W), from either layout, and its band centres in nm."""
        path = os.path.join(self.root, self.image_file)
        arrays = load_mat_arrays(path)
        matrix = next((name for name in PIXEL_MATRIX_NAMES if name in arrays), None)
        if matrix is not None and {"nRow", "nCol"} <= arrays.keys():
            rows, cols = int(arrays["nRow"].item()), int(arrays["nCol"].item())
            cube = pixel_matrix_to_cube(arrays[matrix], rows, cols)
        else:
            cubes = [name for name, array in arrays.items() if array.ndim == 3]
            if len(cubes) != 1:
                found = ", ".join(f"{name} {array.shape}" for name, array in arrays.items()) or "none"
                raise SceneError(
                    f"{path}: expected X (bands x pixels) with nRow and nCol, or one 3-D (H, W, B) array; "
                    f"found variables: {found}"
                )
            cube = np.moveaxis(arrays[cubes[0]], -1, 0)
        wavelengths, numbers = cube_wavelengths(arrays, cube.shape[0])
        self.all_bands = band_names(numbers)
        if not set(type(self).rgb_bands) <= set(self.all_bands):
            self.rgb_bands = nearest_bands(self.all_bands, wavelengths, RGB_NM)
        return cube, wavelengths


def pixel_matrix_to_cube(matrix: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(B, H, W) cube from a (B, H * W) matrix whose pixels are in MATLAB column-major order."""
    if matrix.ndim != 2 or matrix.shape[1] != rows * cols:
        raise SceneError(f"pixel matrix is {matrix.shape}, expected (bands, {rows} x {cols} = {rows * cols})")
    return matrix.reshape((matrix.shape[0], rows, cols), order="F")


def cube_wavelengths(arrays: dict[str, np.ndarray], bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Band centres in nm and 1-based AVIRIS band numbers: the file's own, else nominal ones (see :class:`Cuprite`)."""
    selected = arrays.get("SlectBands")
    numbers = np.arange(1, bands + 1)
    if selected is not None and selected.size == bands:
        numbers = np.asarray(selected, dtype=np.int64).reshape(-1)
    for name in WAVELENGTH_NAMES:
        if name in arrays and arrays[name].size == bands:
            wavelengths = arrays[name].reshape(-1).astype(np.float32)
            if wavelengths.max() < 30:
                warn_guess(f"Cuprite: the file's {name!r} has no units and is all below 30: taken as micrometres")
                wavelengths = wavelengths * 1000
            return wavelengths, numbers
    if selected is not None and selected.size == bands:
        return aviris_nominal_wavelengths(selected), numbers
    low, high = AVIRIS_RANGE_NM
    if bands == AVIRIS_BANDS:
        warn_guess(f"Cuprite: no wavelengths nor SlectBands in the file; its {bands} bands are taken as AVIRIS' "
                   f"224 nominal centres, evenly spaced over {low:g}-{high:g} nm")  # fmt: skip
        return aviris_nominal_wavelengths(), numbers
    warn_guess(f"Cuprite: no wavelengths nor SlectBands in the file; its {bands} bands are taken as evenly "
               f"spread over {low:g}-{high:g} nm and named B1 ... B{bands} by position")  # fmt: skip
    return np.linspace(low, high, bands, dtype=np.float32), numbers
