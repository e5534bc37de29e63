"""The one way a hyperspectral scene is held in torchgeo-inr.

A scene is float32 (bands, height, width) in its original value scale, with
what is needed to give back exactly what came in: the original dtype, an
element-wise nodata mask, the fill value for nodata, band wavelengths in nm,
and the CRS and affine transform where the source had them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import SceneError

#: Largest scene (elements) a stream may describe; guards decode against absurd headers.
MAX_ELEMENTS = 2**34


@dataclass(eq=False)
class Scene:
    """A hyperspectral scene: ``data`` is float32 (B, H, W), NaN-free.

    Build one with :meth:`Scene.from_array`, which validates and cleans the
    input; the constructor trusts its arguments.
    """

    data: np.ndarray
    wavelengths: np.ndarray | None = None
    mask: np.ndarray | None = None  # bool (B, H, W): True where there is no data
    dtype: np.dtype = field(default_factory=lambda: np.dtype("float32"))
    nodata: float | None = None  # the value written for masked elements (NaN for floats)
    crs: str | None = None  # WKT, or "EPSG:nnnn"
    transform: tuple[float, ...] | None = None  # affine (a, b, c, d, e, f), rasterio order

    # -- construction -------------------------------------------------------
    @classmethod
    def from_array(
        cls,
        array,
        *,
        wavelengths=None,
        nodata: float | None = None,
        band_axis: int = 0,
        crs: str | None = None,
        transform=None,
    ) -> Scene:
        """Validate ``array`` and hold it as a scene.

        ``band_axis`` says which axis holds the bands (0 for (B, H, W), -1 for
        (H, W, B)); a 2-D array is one band. NaN and elements equal to
        ``nodata`` become the nodata mask; infinities are refused.
        """
        if hasattr(array, "detach"):  # torch tensor
            array = array.detach().cpu().numpy()
        array = np.asarray(array)
        if array.dtype == object or not (
            np.issubdtype(array.dtype, np.integer)
            or np.issubdtype(array.dtype, np.floating)
            or array.dtype == bool
        ):
            raise SceneError(f"scene values must be integers or floats, got dtype {array.dtype}")
        if array.ndim == 2:
            array = array[None]
            band_axis = 0
        if array.ndim != 3:
            raise SceneError(
                f"a scene must be 3-D (bands, height, width) or 2-D (one band); got shape {array.shape}"
            )
        try:
            array = np.moveaxis(array, band_axis, 0)
        except np.exceptions.AxisError as err:
            raise SceneError(f"band_axis={band_axis} does not exist in shape {array.shape}") from err
        if 0 in array.shape:
            raise SceneError(f"scene has an empty axis: shape (B, H, W) = {array.shape}")
        if array.size > MAX_ELEMENTS:
            raise SceneError(f"scene of {array.size} elements is larger than supported ({MAX_ELEMENTS})")
        dtype = np.dtype(array.dtype)
        if dtype == bool:
            dtype = np.dtype("uint8")
        if dtype.itemsize > 4 and np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            if array.size and (array.max() > 2**24 or array.min() < -(2**24)):
                raise SceneError(
                    f"{dtype} values beyond +-2**24 cannot be held exactly in float32 (range {info.min}..{info.max})"
                )
        mask = None
        if np.issubdtype(array.dtype, np.floating):
            if np.isinf(array).any():
                raise SceneError("scene contains infinite values; replace them by NaN or a nodata value")
            _check_float32_range(array)
        data = array.astype(np.float32, copy=True)
        if np.issubdtype(array.dtype, np.floating):
            nan = np.isnan(data)
            if nan.any():
                mask = nan
        if nodata is not None and not np.isnan(nodata):
            hit = array == nodata
            if hit.any():
                mask = hit if mask is None else (mask | hit)
        if mask is not None:
            if mask.all():
                raise SceneError("every element of the scene is NaN or nodata; there is nothing to compress")
            data = fill_masked(data, mask)
        if nodata is None and np.issubdtype(dtype, np.floating):
            nodata = float("nan")
        elif nodata is None and mask is not None:
            nodata = 0.0
        wl = None
        if wavelengths is not None:
            wl = np.asarray(wavelengths, dtype=np.float64).reshape(-1)
            if wl.shape[0] != data.shape[0]:
                raise SceneError(
                    f"{wl.shape[0]} wavelengths given for {data.shape[0]} bands (band axis {band_axis})"
                )
            if not np.isfinite(wl).all():
                raise SceneError("wavelengths must be finite numbers (nm)")
        if transform is not None:
            transform = tuple(float(v) for v in tuple(transform)[:6])
            if len(transform) != 6:
                raise SceneError("transform must have the six affine coefficients (a, b, c, d, e, f)")
        return cls(
            data=data,
            wavelengths=wl,
            mask=mask,
            dtype=dtype,
            nodata=None if nodata is None else float(nodata),
            crs=crs,
            transform=transform,
        )

    # -- views -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape)  # type: ignore[return-value]

    @property
    def bands(self) -> int:
        return self.data.shape[0]

    @property
    def height(self) -> int:
        return self.data.shape[1]

    @property
    def width(self) -> int:
        return self.data.shape[2]

    def valid_range(self) -> tuple[float, float]:
        """(min, max) over valid elements, in the original value scale."""
        values = self.data if self.mask is None else self.data[~self.mask]
        return float(values.min()), float(values.max())

    def to_numpy(self) -> np.ndarray:
        """The scene as it came in: original dtype (rounded and clipped), nodata filled."""
        return restore_dtype(self.data, self.dtype, self.mask, self.nodata)

    def to_tensor(self):
        """float32 torch tensor (B, H, W) of the NaN-free data."""
        import torch

        return torch.from_numpy(np.ascontiguousarray(self.data))

    def with_data(self, data: np.ndarray) -> Scene:
        """The same scene metadata around new (B, H, W) values."""
        return replace(self, data=np.asarray(data, dtype=np.float32))

    def __repr__(self) -> str:
        b, h, w = self.shape
        extra = []
        if self.wavelengths is not None:
            extra.append(f"wavelengths {self.wavelengths[0]:.1f}..{self.wavelengths[-1]:.1f} nm")
        if self.mask is not None:
            extra.append(f"{int(self.mask.sum())} nodata")
        if self.crs:
            extra.append("crs")
        return f"Scene({b} bands x {h} x {w}, {self.dtype}{', ' if extra else ''}{', '.join(extra)})"


def _check_float32_range(array: np.ndarray) -> None:
    """Refuse values a float32 scene cannot hold (they would become infinities, and break every codec)."""
    if array.dtype.itemsize <= 4:
        return
    with np.errstate(invalid="ignore"):
        peak = np.nanmax(np.abs(array)) if not np.isnan(array).all() else 0.0
    if peak > np.finfo(np.float32).max:
        raise SceneError(
            f"scene has values up to {peak:.3g}, beyond float32's range (+-{np.finfo(np.float32).max:.3g}) "
            "in which scenes are held; rescale the data, or mark such values as nodata"
        )


def fill_masked(data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Replace masked elements by their band's mean of valid values, so codecs waste no bits on them."""
    data = data.copy()
    for b in range(data.shape[0]):
        band_mask = mask[b]
        if band_mask.any():
            valid = data[b][~band_mask]
            data[b][band_mask] = valid.mean() if valid.size else 0.0
    data[~np.isfinite(data)] = 0.0
    return data


def restore_dtype(data: np.ndarray, dtype, mask=None, nodata=None) -> np.ndarray:
    """Cast float data back to ``dtype``: integers rounded and clipped to the dtype's range.

    The clip runs in float64: in float32 the top of the int32 or uint32 range
    (2**31 - 1, 2**32 - 1) rounds up past it, and the cast would wrap around.
    """
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        wide = np.rint(np.asarray(data, dtype=np.float64))
        # Largest float64 not above the dtype's maximum (int64/uint64 maxima are not floats).
        top = float(info.max) if info.bits < 53 else np.nextafter(float(info.max), 0.0)
        out = np.clip(wide, float(info.min), top).astype(dtype)
    else:
        out = data.astype(dtype)
    if mask is not None:
        fill = nodata if nodata is not None else (np.nan if np.issubdtype(dtype, np.floating) else 0)
        out[mask] = fill
    return out
