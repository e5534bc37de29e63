"""Cuprite: the AVIRIS mineral scene of Nevada, used for unmixing (no class ground truth)."""

from __future__ import annotations

import os
from typing import ClassVar

import numpy as np

from ..errors import SceneError
from ..io import WAVELENGTH_NAMES, load_mat_arrays
from .hyperspectral import EHU_URL, HyperspectralSceneDataset
from .wavelengths import AVIRIS_BANDS, AVIRIS_RANGE_NM, aviris_nominal_wavelengths

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
    ``SlectBands``, or, without it, evenly spread over that range: approximate.
    """

    image_file = "Cuprite_f970619t01p02_r02_sc03.a.rfl.mat"
    urls: ClassVar[dict[str, str]] = {image_file: EHU_URL + "7/7d/" + image_file}
    sha256s: ClassVar[dict[str, str]] = {
        image_file: "2c9fa8b09a7587e5ae9680ea0cb5763b214e9042c9950cdbadbdfeee6cff5086",
    }

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
        return cube, cube_wavelengths(arrays, cube.shape[0])


def pixel_matrix_to_cube(matrix: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(B, H, W) cube from a (B, H * W) matrix whose pixels are in MATLAB column-major order."""
    if matrix.ndim != 2 or matrix.shape[1] != rows * cols:
        raise SceneError(f"pixel matrix is {matrix.shape}, expected (bands, {rows} x {cols} = {rows * cols})")
    return matrix.reshape((matrix.shape[0], rows, cols), order="F")


def cube_wavelengths(arrays: dict[str, np.ndarray], bands: int) -> np.ndarray:
    """Band centres in nm: the file's own, else nominal AVIRIS ones (see :class:`Cuprite`)."""
    for name in WAVELENGTH_NAMES:
        if name in arrays and arrays[name].size == bands:
            wavelengths = arrays[name].reshape(-1).astype(np.float32)
            return wavelengths * 1000 if wavelengths.max() < 30 else wavelengths  # µm -> nm
    selected = arrays.get("SlectBands")
    if selected is not None and selected.size == bands:
        return aviris_nominal_wavelengths(selected)
    if bands == AVIRIS_BANDS:
        return aviris_nominal_wavelengths()
    return np.linspace(*AVIRIS_RANGE_NM, bands, dtype=np.float32)
