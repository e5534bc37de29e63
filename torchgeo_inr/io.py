"""Readers and writers of hyperspectral scenes: MATLAB .mat (v5 and v7.3), .npy, GeoTIFF and ENVI.

Every reader returns a :class:`~torchgeo_inr.scene.Scene` in (bands, height,
width) order. Nothing here unpickles: .npy is read with ``allow_pickle=False``
and .mat with scipy/h5py, which only read numeric arrays.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from . import limits
from .errors import LimitError, SceneError, warn_guess
from .scene import Scene

MAT_SUFFIXES = {".mat"}
NPY_SUFFIXES = {".npy"}
TIFF_SUFFIXES = {".tif", ".tiff"}
ENVI_SUFFIXES = {".hdr", ".img", ".dat", ".bsq", ".bil", ".bip", ".raw"}
WAVELENGTH_NAMES = ("wavelengths", "wavelength", "wl", "lambda")


class WavelengthWarning(UserWarning):
    """A file's wavelength list does not match its bands, so the scene has no wavelengths."""


# -- MATLAB -------------------------------------------------------------------
def load_mat_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """All numeric arrays of a .mat file, v5 (scipy) or v7.3 (HDF5, h5py), in MATLAB axis order."""
    path = Path(path)
    import h5py
    import scipy.io

    if h5py.is_hdf5(path):  # v7.3
        return _load_mat_hdf5(path)
    try:
        raw = scipy.io.loadmat(path)
        return {
            k: v
            for k, v in raw.items()
            if not k.startswith("__") and isinstance(v, np.ndarray) and v.dtype.kind in "biuf"
        }
    except (ValueError, NotImplementedError) as err:
        raise SceneError(f"{path} is not a readable MATLAB file: {err}") from err


def _load_mat_hdf5(path: Path) -> dict[str, np.ndarray]:
    import h5py

    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        for name, item in f.items():
            if isinstance(item, h5py.Dataset) and item.dtype.kind in "biuf":
                # HDF5 stores MATLAB's column-major arrays with the axes reversed.
                out[name] = np.asarray(item[()]).transpose(tuple(range(item.ndim))[::-1])
    return out


def read_mat(path: str | Path, variable: str | None = None, *, band_axis: int = -1) -> Scene:
    """Read a scene from a .mat file; the data variable is the one 3-D array unless named.

    Hyperspectral .mat files store (H, W, B), hence ``band_axis=-1``. A 1-D
    variable named like ``wavelengths`` with one value per band becomes the
    wavelengths.
    """
    arrays = load_mat_arrays(path)
    if variable is None:
        cubes = [k for k, v in arrays.items() if v.ndim == 3]
        if len(cubes) != 1:
            raise SceneError(
                f"{path}: expected exactly one 3-D array, found {cubes or 'none'}; name one with variable="
            )
        variable = cubes[0]
    if variable not in arrays:
        raise SceneError(f"{path} has no numeric variable {variable!r}; it has {sorted(arrays)}")
    data = arrays[variable]
    n_bands = data.shape[band_axis] if data.ndim == 3 else 1
    wavelengths = None
    for name in WAVELENGTH_NAMES:
        if name in arrays and arrays[name].size == n_bands:
            wavelengths = arrays[name].reshape(-1)
            break
    for name in WAVELENGTH_NAMES:
        if wavelengths is None and name in arrays:
            _wavelength_mismatch(path, arrays[name].size, n_bands)
    nodata = None
    if "nodata" in arrays and arrays["nodata"].size == 1:
        nodata = float(arrays["nodata"].reshape(-1)[0])
    return Scene.from_array(data, wavelengths=wavelengths, band_axis=band_axis, nodata=nodata)


def write_mat(scene: Scene, path: str | Path, variable: str = "data") -> None:
    """Write (H, W, B) in the original dtype, plus ``wavelengths`` and ``nodata`` when known."""
    import scipy.io

    contents: dict[str, np.ndarray] = {variable: np.moveaxis(scene.to_numpy(), 0, -1)}
    if scene.wavelengths is not None:
        contents["wavelengths"] = scene.wavelengths
    if scene.nodata is not None and scene.mask is not None:
        contents["nodata"] = np.array(scene.nodata)
    scipy.io.savemat(path, contents, do_compression=True)


# -- NumPy ---------------------------------------------------------------------
def read_npy(path: str | Path, *, band_axis: int = 0, nodata: float | None = None) -> Scene:
    """Read a (B, H, W) .npy file (``band_axis`` for other orders); pickled arrays are refused."""
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise SceneError(f"{path} is not a plain numeric .npy array: {err}") from err
    return Scene.from_array(data, band_axis=band_axis, nodata=nodata)


def write_npy(scene: Scene, path: str | Path) -> None:
    """Write (B, H, W) in the original dtype (NaN or the nodata value where masked)."""
    np.save(path, scene.to_numpy(), allow_pickle=False)


# -- GeoTIFF and ENVI (rasterio) ---------------------------------------------
def _parse_envi_list(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", text)]


def _to_nm(values: list[float], units: str | None) -> np.ndarray:
    wl = np.asarray(values, dtype=np.float64)
    units = (units or "").strip().lower()
    if units.startswith("micro") or units in {"um", "µm"}:
        wl = wl * 1000.0
    elif not units and wl.max() < 30:
        warn_guess("the file's wavelengths have no units and are all below 30: taken as micrometres (x 1000 -> nm)")
        wl = wl * 1000.0
    return wl


def _wavelength_mismatch(path, found: int, bands: int) -> None:
    """A wavelength list that does not fit the bands is not used, and the user is told so."""
    warnings.warn(
        f"{path}: {found} wavelengths for {bands} bands; the wavelengths are not used",
        WavelengthWarning,
        stacklevel=3,
    )


def _rasterio_wavelengths(src) -> np.ndarray | None:
    envi = src.tags(ns="ENVI")
    if "wavelength" in envi:
        values = _parse_envi_list(envi["wavelength"])
        if len(values) == src.count:
            return _to_nm(values, envi.get("wavelength_units"))
        _wavelength_mismatch(src.name, len(values), src.count)
        return None
    per_band = [src.tags(b) for b in range(1, src.count + 1)]
    if all("wavelength" in t for t in per_band):
        try:
            values = [float(t["wavelength"]) for t in per_band]
        except ValueError as err:
            raise SceneError(f"{src.name}: a band's wavelength tag is not a number: {err}") from None
        return _to_nm(values, per_band[0].get("wavelength_units"))
    return None


def _check_envi_length(src) -> None:
    """GDAL reads past the end of a short ENVI data file as zeros; refuse it instead."""
    if src.driver != "ENVI":
        return
    try:
        offset = int(src.tags(ns="ENVI").get("header_offset", "0") or 0)
    except ValueError:
        raise SceneError(f"{src.name}: ENVI 'header offset' is not an integer") from None
    itemsize = np.dtype(src.dtypes[0]).itemsize
    expected = offset + src.count * src.height * src.width * itemsize
    actual = Path(src.name).stat().st_size
    if actual < expected:
        raise SceneError(
            f"{src.name} holds {actual} bytes, but its ENVI header describes {src.count} bands x "
            f"{src.height} x {src.width} {src.dtypes[0]} = {expected} bytes: the data file is truncated"
        )


def read_raster(path: str | Path) -> Scene:
    """Read GeoTIFF or ENVI through rasterio, keeping CRS, transform, nodata and wavelengths."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    try:
        with warnings.catch_warnings():  # a plain (non-geo) scene is fine
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path)
        with src:
            _check_envi_length(src)
            if src.count * src.height * src.width > limits.MAX_DECODED_ELEMENTS:
                raise LimitError(
                    f"{path} holds {src.count} x {src.height} x {src.width} values, more than "
                    f"limits.MAX_DECODED_ELEMENTS = {limits.MAX_DECODED_ELEMENTS}"
                )
            data = src.read()
            crs = src.crs.to_wkt() if src.crs else None
            transform = tuple(src.transform)[:6] if not src.transform.is_identity else None
            wavelengths = _rasterio_wavelengths(src)
            nodata = src.nodata
    except RasterioIOError as err:
        raise SceneError(f"cannot read {path} as a raster: {err}") from err
    return Scene.from_array(data, wavelengths=wavelengths, nodata=nodata, crs=crs, transform=transform)


def write_raster(scene: Scene, path: str | Path, driver: str | None = None) -> None:
    """Write GeoTIFF (default for .tif) or ENVI, with per-band wavelength tags, CRS and transform."""
    import rasterio
    from rasterio.transform import Affine

    path = Path(path)
    if driver is None:
        driver = "GTiff" if path.suffix.lower() in TIFF_SUFFIXES else "ENVI"
    if driver == "ENVI" and path.suffix.lower() == ".hdr":
        path = path.with_suffix(".img")
    data = scene.to_numpy()
    profile = dict(
        driver=driver,
        width=scene.width,
        height=scene.height,
        count=scene.bands,
        dtype=data.dtype.name,
    )
    if scene.crs:
        profile["crs"] = scene.crs
    if scene.transform:
        profile["transform"] = Affine(*scene.transform)
    if scene.mask is not None and scene.nodata is not None:
        profile["nodata"] = scene.nodata
    if driver == "GTiff":
        profile.update(compress="deflate")
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        dst = rasterio.open(path, "w", **profile)
    with dst:
        dst.write(data)
        if scene.wavelengths is not None:
            for b, wl in enumerate(scene.wavelengths, start=1):
                dst.update_tags(b, wavelength=repr(float(wl)), wavelength_units="Nanometers")
            if driver == "ENVI":
                values = ", ".join(repr(float(v)) for v in scene.wavelengths)
                dst.update_tags(ns="ENVI", wavelength="{" + values + "}", wavelength_units="Nanometers")


def _envi_data_file(header: Path) -> Path:
    for suffix in ("", *sorted(ENVI_SUFFIXES - {".hdr"})):
        candidate = header.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    raise SceneError(f"{header} is an ENVI header, but no data file (.img, .dat, .raw...) is beside it")


# -- dispatch -----------------------------------------------------------------
def _regular_file(path: str | Path) -> Path:
    """``path`` if it is a regular file; a directory, a device or a pipe is refused (it may never end)."""
    path = Path(path)
    if not path.exists():
        raise SceneError(f"no such file: {path}")
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file (a device, pipe or socket)"
        raise SceneError(f"{path} is {kind}: give a file")
    return path


def read_stream_file(path: str | Path) -> bytes:
    """The bytes of a stream file, read only if it is a regular file within limits.MAX_STREAM_BYTES.

    A missing file is the operating system's FileNotFoundError, as for any file a user names.
    """
    path = Path(path)
    if path.exists():
        _regular_file(path)
    with path.open("rb") as f:
        data = f.read(limits.MAX_STREAM_BYTES + 1)
    if len(data) > limits.MAX_STREAM_BYTES:
        raise LimitError(f"{path} is longer than limits.MAX_STREAM_BYTES = {limits.MAX_STREAM_BYTES} bytes")
    return data


def read_scene(path: str | Path, **kwargs) -> Scene:
    """Read any supported file; the format follows from the extension."""
    path = _regular_file(path)
    suffix = path.suffix.lower()
    if suffix in MAT_SUFFIXES:
        return read_mat(path, **kwargs)
    if suffix in NPY_SUFFIXES:
        return read_npy(path, **kwargs)
    if suffix == ".hdr":  # GDAL opens ENVI through the data file beside the header
        path = _envi_data_file(path)
    if suffix in TIFF_SUFFIXES or suffix in ENVI_SUFFIXES:
        return read_raster(path)
    raise SceneError(
        f"cannot tell the format of {path.name}: use .mat, .npy, .tif or an ENVI .hdr/.img"
    )


def write_scene(scene: Scene, path: str | Path) -> None:
    """Write a scene; the format follows from the extension (.npy, .mat, .tif, ENVI .hdr/.img)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in NPY_SUFFIXES:
        write_npy(scene, path)
    elif suffix in MAT_SUFFIXES:
        write_mat(scene, path)
    elif suffix in TIFF_SUFFIXES:
        write_raster(scene, path, driver="GTiff")
    elif suffix in ENVI_SUFFIXES:
        write_raster(scene, path, driver="ENVI")
    else:
        raise SceneError(f"cannot write {path.name}: use .npy, .mat, .tif or .hdr/.img")
