"""Where an xarray object keeps its CRS and geotransform, the way rioxarray and CF write it.

A georeferenced object carries a scalar grid-mapping coordinate (by
convention ``spatial_ref``) whose attributes hold the CRS as WKT
(``crs_wkt``, and ``spatial_ref`` for GDAL) and the affine transform as
GDAL's ``GeoTransform`` text; data variables point at it with
``grid_mapping`` (in ``encoding`` after rioxarray, or in ``attrs``). The
adapters keep that coordinate as it is, so the CRS travels untouched; these
helpers read it and build it, without needing rioxarray itself.
"""

from __future__ import annotations

import numpy as np

#: The grid-mapping coordinate name rioxarray and GDAL use.
SPATIAL_REF = "spatial_ref"


def grid_mapping_name(obj) -> str | None:
    """Name of the grid-mapping coordinate of a DataArray or Dataset, if it has one."""
    holders = [obj] if not hasattr(obj, "data_vars") else [obj[v] for v in obj.data_vars]
    for holder in holders:
        for source in (holder.encoding, holder.attrs):
            name = source.get("grid_mapping")
            if isinstance(name, str) and name in obj.coords:
                return name
    return SPATIAL_REF if SPATIAL_REF in obj.coords else None


def crs_of(obj) -> str | None:
    """The CRS as WKT (or whatever text the object holds: "EPSG:4326"), or None."""
    name = grid_mapping_name(obj)
    if name is not None:
        attrs = obj.coords[name].attrs
        for key in ("crs_wkt", "spatial_ref"):
            if isinstance(attrs.get(key), str) and attrs[key]:
                return attrs[key]
    crs = obj.attrs.get("crs")
    return crs if isinstance(crs, str) and crs else None


def transform_of(obj) -> tuple[float, ...] | None:
    """Affine (a, b, c, d, e, f) in rasterio order from the grid mapping's ``GeoTransform``, or None."""
    name = grid_mapping_name(obj)
    if name is None:
        return None
    text = obj.coords[name].attrs.get("GeoTransform")
    if not isinstance(text, str):
        return None
    try:
        c, a, b, f, d, e = (float(v) for v in text.split())
    except ValueError:
        return None
    return (a, b, c, d, e, f)


def spatial_ref_attrs(crs: str | None, transform=None) -> dict:
    """Attributes of a CF/GDAL grid-mapping coordinate for ``crs`` (WKT or "EPSG:n") and ``transform``."""
    attrs: dict = {}
    if crs:
        wkt = crs
        try:  # normalise "EPSG:4326" and friends to WKT, as rioxarray does
            from pyproj import CRS

            wkt = CRS.from_user_input(crs).to_wkt()
        except Exception:  # noqa: BLE001 - keep the text as given when pyproj cannot read it
            pass
        attrs["crs_wkt"] = wkt
        attrs["spatial_ref"] = wkt
    if transform is not None:
        a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
        attrs["GeoTransform"] = " ".join(repr(v) for v in (c, a, b, f, d, e))
    return attrs


def pixel_centres(transform, height: int, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(y, x) coordinates of pixel centres for a north-up transform; None when it is rotated."""
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    if b != 0.0 or d != 0.0:
        return None
    x = c + a * (np.arange(width) + 0.5)
    y = f + e * (np.arange(height) + 0.5)
    return y, x
