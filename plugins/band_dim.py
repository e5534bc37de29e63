"""Which dimension of an xarray object holds the bands, and what wavelengths they have.

Shared by every xarray-facing adapter (the ``.inr`` accessor, the Zarr codec):

- :func:`find_band_dim`: the band dimension, by name (band, bands, wavelength,
  wavelengths, spectral), by a 1-D ``wavelength`` coordinate, or as given; a
  missing or ambiguous one is a :class:`~torchgeo_inr.SceneError` that says
  what to pass.
- :func:`wavelengths_of`: band centres in nm from a ``wavelength`` coordinate,
  a numeric band coordinate in nm, or a ``wavelength`` attribute. What is
  guessed (a unit from the value range) gives a
  :class:`~torchgeo_inr.errors.GuessWarning`.
- :func:`cube_dims`: (band, row, column) dims of a 3-D cube.
"""

from __future__ import annotations

import numpy as np

from torchgeo_inr.errors import SceneError, warn_guess

#: Dimension names taken to hold bands (compared in lower case).
BAND_DIM_NAMES = ("band", "bands", "wavelength", "wavelengths", "spectral")
#: Coordinate and attribute names taken to hold band wavelengths (lower case).
WAVELENGTH_NAMES = ("wavelength", "wavelengths")
#: A numeric band coordinate counts as wavelengths (nm) when all its values lie here.
NM_RANGE = (250.0, 16000.0)
_MICRO_UNITS = {"um", "µm", "μm", "micron", "microns", "micrometer", "micrometers", "micrometre", "micrometres"}


def _dims(obj) -> list:
    return list(obj.sizes)


def find_band_dim(obj, band_dim=None) -> str:
    """The name of the band dimension of a DataArray or Dataset.

    ``band_dim`` wins when given (it must exist). Otherwise the candidates are
    the dims named like a band dimension and the dims that carry a 1-D
    ``wavelength``/``wavelengths`` coordinate; exactly one must remain.
    """
    dims = _dims(obj)
    if band_dim is not None:
        if band_dim not in dims:
            raise SceneError(f"band_dim={band_dim!r} is not a dimension of this object; its dims are {dims}")
        return band_dim
    candidates: list = [d for d in dims if isinstance(d, str) and d.lower() in BAND_DIM_NAMES]
    for name, coord in obj.coords.items():
        if isinstance(name, str) and name.lower() in WAVELENGTH_NAMES and coord.ndim == 1:
            if coord.dims[0] not in candidates:
                candidates.append(coord.dims[0])
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise SceneError(
            f"cannot find the band dimension among dims {dims}: none is named "
            f"{'/'.join(BAND_DIM_NAMES)} or carries a 'wavelength' coordinate; pass band_dim='<name>'"
        )
    raise SceneError(
        f"the band dimension is ambiguous: {candidates} all look like one; pass band_dim='<name>'"
    )


def cube_dims(array, band_dim) -> tuple:
    """(band, row, column) dims of a 3-D DataArray; row and column keep their order in ``array``."""
    dims = _dims(array)
    if band_dim not in dims:
        raise SceneError(f"{_label(array)} has no band dimension {band_dim!r}; its dims are {dims}")
    others = [d for d in dims if d != band_dim]
    if len(others) != 2:
        raise SceneError(
            f"{_label(array)} has dims {dims}: a scene needs the band dimension {band_dim!r} and exactly "
            f"two spatial ones; select or stack the others first (e.g. .isel(time=0))"
        )
    return (band_dim, others[0], others[1])


def _label(array) -> str:
    name = getattr(array, "name", None)
    return f"variable {name!r}" if name is not None else "the array"


def _to_nm(values, units, where: str = "wavelengths") -> np.ndarray:
    wl = np.asarray(values, dtype=np.float64).reshape(-1)
    units = str(units or "").strip().lower()
    if units in _MICRO_UNITS:
        return wl * 1000.0
    if not units and wl.size and np.nanmax(np.abs(wl)) < 30:
        warn_guess(
            f"{where}: no units and every value below 30, so taken as micrometres and converted to nm; "
            f"give a 'units' attribute ('nm' or 'um') to say so"
        )
        return wl * 1000.0
    return wl


def _parse_list(value) -> np.ndarray | None:
    """Numbers from an attribute: a list, an array, or ENVI's text ``{400.0, 410.0, ...}``."""
    if isinstance(value, str):
        from torchgeo_inr.io import _parse_envi_list

        numbers = _parse_envi_list(value)
        return np.asarray(numbers, dtype=np.float64) if numbers else None
    try:
        array = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None
    return array


def wavelengths_of(obj, band_dim, *, more_attrs=None) -> np.ndarray | None:
    """Band centres in nm (float64, one per band) or None when the object does not say.

    Looked up, in order: a 1-D coordinate named wavelength/wavelengths along
    ``band_dim``; the band dimension's own coordinate when it is named like a
    wavelength, or is numeric with ``units="nm"`` or (a guess, with a
    :class:`~torchgeo_inr.errors.GuessWarning`) every value in 250..16000; an attribute
    ``wavelength``/``wavelengths`` on the object, then in ``more_attrs`` (a
    Dataset's attributes, for one of its variables). Values in micrometres
    (``units`` attribute, or, guessed with a warning, all below 30) are
    converted to nm. An attribute
    with the wrong number of values is an error, not silently ignored.
    """
    n_bands = obj.sizes[band_dim]
    for name, coord in obj.coords.items():
        if isinstance(name, str) and name.lower() in WAVELENGTH_NAMES and coord.dims == (band_dim,):
            if np.issubdtype(coord.dtype, np.number):
                where = f"coordinate {name!r}"
                return _checked(_to_nm(coord.values, coord.attrs.get("units"), where), n_bands, where)
    if band_dim in obj.coords:
        coord = obj.coords[band_dim]
        if np.issubdtype(coord.dtype, np.number) and coord.dtype != bool:
            values = np.asarray(coord.values, dtype=np.float64)
            named = isinstance(band_dim, str) and band_dim.lower() in WAVELENGTH_NAMES
            where = f"coordinate {band_dim!r}"
            if named:
                return _checked(_to_nm(values, coord.attrs.get("units"), where), n_bands, where)
            units = str(coord.attrs.get("units") or "").strip().lower()
            if units in ("nm", "nanometer", "nanometers", "nanometre", "nanometres"):
                return _checked(values, n_bands, where)
            if not units and np.all((values >= NM_RANGE[0]) & (values <= NM_RANGE[1])):
                warn_guess(
                    f"{where} has no units and every value lies in {NM_RANGE[0]:g}..{NM_RANGE[1]:g}: taken "
                    f"as band wavelengths in nm; give it units='nm' (or add a 'wavelength' coordinate) to say so"
                )
                return _checked(values, n_bands, where)
    for attrs in (obj.attrs, more_attrs or {}):
        found = _from_attrs(attrs, n_bands, band_dim)
        if found is not None:
            return found
    return None


def _from_attrs(attrs, n_bands: int, band_dim) -> np.ndarray | None:
    for key, value in attrs.items():
        if isinstance(key, str) and key.lower() in WAVELENGTH_NAMES:
            values = _parse_list(value)
            if values is None:
                raise SceneError(f"attribute {key!r} does not hold numbers: {value!r}")
            units = attrs.get("wavelength_units", attrs.get("units_wavelength"))
            if values.size != n_bands:
                raise SceneError(
                    f"attribute {key!r} has {values.size} wavelengths for {n_bands} bands along {band_dim!r}; "
                    f"fix or drop it"
                )
            where = f"attribute {key!r}"
            return _checked(_to_nm(values, units, where), n_bands, where)
    return None


def _checked(values: np.ndarray, n_bands: int, where: str) -> np.ndarray:
    if values.size != n_bands:
        raise SceneError(f"{where} has {values.size} wavelengths for {n_bands} bands")
    if not np.isfinite(values).all():
        raise SceneError(f"{where} holds wavelengths that are not finite numbers")
    return values
