"""CRS and geotransform of xarray objects, through rioxarray (the ``.rio`` accessor).

A georeferenced object carries a scalar grid-mapping coordinate (by
convention ``spatial_ref``) with the CRS and GDAL's ``GeoTransform``, as
rioxarray and CF write it; the adapters keep that coordinate as it is, so
the CRS travels untouched. Reading and writing it is rioxarray's job: these
helpers only say "none" where rioxarray has nothing to say.
"""

from __future__ import annotations

import rioxarray  # noqa: F401 - registers the .rio accessor
import xarray as xr
from affine import Affine
from rioxarray.exceptions import MissingSpatialDimensionError
from rioxarray.rioxarray import affine_to_coords

#: The grid-mapping coordinate name rioxarray and GDAL use.
SPATIAL_REF = "spatial_ref"


def crs_of(obj) -> str | None:
    """The CRS as WKT, or None (``obj.rio.crs``: the grid mapping, or a ``crs`` attribute)."""
    crs = obj.rio.crs
    return crs.to_wkt() if crs is not None else None


def transform_of(obj) -> tuple[float, ...] | None:
    """Affine (a, b, c, d, e, f) in rasterio order, or None when the object has none.

    ``obj.rio.transform()``: the grid mapping's ``GeoTransform``, or one
    derived from evenly spaced x/y coordinates. None without spatial
    dimensions, or when all rioxarray finds is the identity (no coordinates).
    """
    try:
        transform = obj.rio.transform()
    except MissingSpatialDimensionError:
        return None
    return None if transform.is_identity else tuple(transform)[:6]


def georeference(ds: xr.Dataset, crs: str | None, transform=None) -> xr.Dataset:
    """``ds`` with pixel-centre x/y coordinates (north-up transforms), the transform and the CRS written by rioxarray."""
    if transform is not None:
        affine = Affine(*tuple(transform)[:6])
        if affine.b == 0.0 and affine.d == 0.0:  # rotated grids get no 1-D coordinates
            ds = ds.assign_coords(affine_to_coords(affine, ds.sizes["x"], ds.sizes["y"]))
        ds = ds.rio.write_transform(affine)
    if crs is not None:
        ds = ds.rio.write_crs(crs)
    return ds
