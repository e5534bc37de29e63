"""``open_scene(path)``: a hyperspectral file as an xarray Dataset, ready for ``.inr.compress()``.

Reads .mat (v5 and v7.3), .npy, GeoTIFF and ENVI through the engine's
readers (``torchgeo_inr.io``), so wavelengths, nodata, CRS and transform are
found the same way everywhere, and lays the scene out as rioxarray does::

    <xarray.Dataset>
    Dimensions:                 (band: 200, y: 145, x: 145)
    Coordinates:
      * band                    (band) int64 1 2 ... 200
        wavelength              (band) float64 400.0 ... 2.5e+03   # when known, nm
      * y, x                    (y), (x) float64 ...               # pixel centres, when georeferenced
        spatial_ref             int64 0                            # CRS + GeoTransform, when known
    Data variables:
        indian_pines_corrected  (band, y, x) uint16 ...

The whole file is read into memory (``chunks=`` then splits it into Dask
tiles). For lazy reads of large GeoTIFFs use ``rioxarray.open_rasterio(path,
chunks=...)``: its output works with ``.inr.compress()`` as it is.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import xarray as xr

from torchgeo_inr.errors import SceneError
from torchgeo_inr.io import MAT_SUFFIXES, read_scene

#: Data variable name for files that do not name their array (rioxarray's choice).
DEFAULT_NAME = "band_data"


def open_scene(
    path,
    *,
    variable: str | None = None,
    name: str | None = None,
    wavelengths=None,
    chunks=None,
    **kwargs,
) -> xr.Dataset:
    """Open a scene file as a Dataset with dims (band, y, x) in its original dtype.

    ``variable`` picks the array of a .mat file (default: its one 3-D array),
    ``name`` the data variable's name (default: the .mat variable, else
    ``band_data``), ``wavelengths`` (nm, one per band) replaces what the file
    says, ``chunks`` (e.g. ``{"y": 73, "x": 73}``) makes it Dask-backed.
    Other keywords go to the reader (``band_axis=`` and ``nodata=`` for .npy).
    Nodata elements come back as the file's nodata value, declared in the
    variable's ``_FillValue`` attribute (NaN for floats).
    """
    path = Path(path)
    if path.suffix.lower() in MAT_SUFFIXES:
        variable = variable or _mat_cube_name(path)
        kwargs["variable"] = variable
    elif variable is not None:
        raise SceneError("variable= only applies to .mat files")
    scene = read_scene(path, **kwargs)
    name = name or variable or DEFAULT_NAME
    bands = scene.shape[0]
    coords: dict = {"band": ("band", np.arange(1, bands + 1))}
    wl = scene.wavelengths if wavelengths is None else np.asarray(wavelengths, dtype=np.float64).reshape(-1)
    if wl is not None:
        if wl.size != bands:
            raise SceneError(f"{wl.size} wavelengths given for {bands} bands")
        coords["wavelength"] = xr.Variable(("band",), wl, attrs={"units": "nm", "long_name": "band centre wavelength"})
    attrs: dict = {}
    if scene.nodata is not None and not math.isnan(scene.nodata):
        attrs["_FillValue"] = int(scene.nodata) if np.issubdtype(scene.dtype, np.integer) else float(scene.nodata)
    data = xr.Variable(("band", "y", "x"), scene.to_numpy(), attrs=attrs)
    ds = xr.Dataset({name: data}, coords=coords, attrs={"source": path.name})
    if scene.crs is not None or scene.transform is not None:
        from .georef import georeference  # rioxarray imports Dask: only for georeferenced scenes

        ds = georeference(ds, scene.crs, scene.transform)
    return ds.chunk(chunks) if chunks is not None else ds


def _mat_cube_name(path: Path) -> str | None:
    """Name of the one 3-D array in a .mat file, without loading it (None: let the reader complain)."""
    import h5py
    import scipy.io

    try:
        if h5py.is_hdf5(path):
            with h5py.File(path, "r") as f:
                names = [k for k, v in f.items() if isinstance(v, h5py.Dataset) and v.ndim == 3]
        else:
            names = [n for n, shape, _ in scipy.io.whosmat(path) if len(shape) == 3]
    except (OSError, ValueError, NotImplementedError):
        return None
    return names[0] if len(names) == 1 else None
