"""The ``.inr`` accessor on xarray Datasets and DataArrays (registered by ``import torchgeo_inr``).

Thin by design: each method imports the module that does the work when it
is called, so importing torchgeo_inr does not import Dask::

    import torchgeo_inr
    import xarray as xr

    ds = torchgeo_inr.open_scene("Indian_pines_corrected.mat")      # (band, y, x) uint16
    form = ds.inr.compress(bpppb=0.05)        # a small Dataset: one stream per tile + ds's coords/attrs
    form.inr.bpppb, form.inr.nbytes           # the real rate: every byte decode reads
    form.inr.to_file("ip.inrx")               # one ZIP file, no pickle
    back = torchgeo_inr.open_compressed("ip.inrx").inr.decompress()   # same dims, coords, attrs, dtype

    tiled = ds.chunk({"y": 73, "x": 73}).inr.compress(bpppb=0.05)    # one Dask task per tile
    lazy = tiled.inr.decompress()             # Dask-backed: a tile is decoded when it is read
    lazy.isel(y=slice(0, 10)).compute()       # decodes the top tiles only
"""

from __future__ import annotations

import xarray as xr

from torchgeo_inr.compress import DEFAULT_CODEC


class _InrAccessor:
    def __init__(self, obj):
        self._obj = obj

    def compress(
        self,
        bpppb: float | None = None,
        psnr: float | None = None,
        codec: str = DEFAULT_CODEC,
        var=None,
        band_dim=None,
        device=None,
        progress: bool = True,
        compute: bool = True,
        max_error=None,
        relative_error=None,
        **options,
    ) -> xr.Dataset:
        """Compress into a compressed form (an xarray Dataset of codec streams, one per spatial tile).

        ``max_error`` (in the data's units; one number or one per band) or
        ``relative_error`` (a fraction of each band's range within a tile, so
        never looser than the same fraction of the whole array's range) bounds
        every valid value of the decode: ``codec`` becomes the lossy layer of
        ``error-bound``, and ``bpppb``/``psnr`` are then only reported on.

        ``bpppb`` (or ``psnr``, per-band dB) is met by every tile; ``codec`` is
        any registered codec; ``var`` picks Dataset variables; ``band_dim`` names
        the band dimension when it cannot be found; ``options`` configure the
        codec. Dask-backed input is compressed tile by tile (its spatial
        chunks) on the active Dask scheduler or ``distributed`` client, with a
        progress bar over the tiles (``progress``; the dashboard on a cluster).
        ``compute=False``, as in ``Dataset.to_zarr``, returns the form with
        Dask-backed streams: encoded when computed, alone or in a larger graph.
        """
        from torchgeo_inr.codecs.error_bound import bound_option

        from .compressed import compress

        for name, value in (("max_error", max_error), ("relative_error", relative_error)):
            if value is not None:
                options[name] = bound_option(name, value)  # a bad bound fails now, not in a Dask task
        return compress(
            self._obj,
            bpppb=bpppb,
            psnr=psnr,
            codec=codec,
            var=var,
            band_dim=band_dim,
            device=device,
            progress=progress,
            compute=compute,
            **options,
        )

    def to_zarr(self, store, *, bpppb=None, psnr=None, codec: str = DEFAULT_CODEC, var=None, band_dim=None, **kwargs):
        """Write to a Zarr store through the torchgeo-inr Zarr codec (``torchgeo_inr.plugins.zarr_store``).

        ``compute=False`` returns a Dask ``Delayed`` that writes the chunks when
        computed (as ``Dataset.to_zarr``); ``progress=False`` hides the bar over chunks.
        """
        try:
            from .zarr_store import to_zarr
        except ModuleNotFoundError as err:
            if err.name != f"{__package__}.zarr_store":
                raise
            raise NotImplementedError(
                f"writing to Zarr needs the module {__package__}.zarr_store, which this installation "
                f"does not have yet"
            ) from None
        return to_zarr(self._obj, store, bpppb=bpppb, psnr=psnr, codec=codec, var=var, band_dim=band_dim, **kwargs)

    @property
    def band_dim(self):
        """The band dimension's name (see ``torchgeo_inr.plugins.band_dim.find_band_dim``)."""
        from .band_dim import find_band_dim

        return find_band_dim(self._obj)

    @property
    def wavelengths(self):
        """Band centres in nm found in coordinates or attributes, or None."""
        from .band_dim import find_band_dim, wavelengths_of

        return wavelengths_of(self._obj, find_band_dim(self._obj))

    @property
    def crs(self) -> str | None:
        """The CRS (WKT) as rioxarray reads it (the ``spatial_ref`` grid mapping), or None."""
        from .georef import crs_of

        return crs_of(self._obj)

    @property
    def transform(self) -> tuple[float, ...] | None:
        """Affine (a, b, c, d, e, f): the ``GeoTransform``, or derived from x/y coordinates (rioxarray); or None."""
        from .georef import transform_of

        return transform_of(self._obj)


@xr.register_dataarray_accessor("inr")
class InrDataArrayAccessor(_InrAccessor):
    """``da.inr``: compress a (band, row, column) DataArray."""


@xr.register_dataset_accessor("inr")
class InrDatasetAccessor(_InrAccessor):
    """``ds.inr``: compress a Dataset; on a compressed form, its rate, decompress and to_file."""

    @property
    def is_lazy(self) -> bool:
        """True for a compressed form whose streams are still Dask tasks (``compress(compute=False)``)."""
        from .compressed import is_lazy

        return is_lazy(self._obj)

    @property
    def is_compressed(self) -> bool:
        """True when this Dataset is a compressed form made by ``.inr.compress()``."""
        from .compressed import is_compressed

        return is_compressed(self._obj)

    @property
    def nbytes(self) -> int:
        """Bytes of all codec streams (everything decode reads; coordinates and attrs not included)."""
        from .compressed import nbytes

        return nbytes(self._obj)

    @property
    def bpppb(self) -> float:
        """8 * stream bytes / (bands * rows * columns) of the input: the real rate."""
        from .compressed import bpppb

        return bpppb(self._obj)

    def info(self) -> dict:
        """Per variable: codec, dims, shape, dtype, tiles, bytes per tile, bpppb."""
        from .compressed import summary

        return summary(self._obj)

    def decompress(self, *, lazy: bool | None = None, device=None, tiles_per_task: int | None = None):
        """The original DataArray or Dataset: same dims, coords, attrs, dtype (values decoded).

        Lazy (Dask, a tile decoded when read) when the input was chunked or the
        form is lazy, eager otherwise; ``lazy=True``/``False`` forces it.
        ``device="cuda"`` decodes neural tiles on that GPU (default: the CPU, or
        ``$TORCHGEO_INR_DEVICE``), ``tiles_per_task`` of a row per Dask task
        (default: 1 on the CPU, a whole row on a GPU).
        """
        from .compressed import decompress

        return decompress(self._obj, lazy=lazy, device=device, tiles_per_task=tiles_per_task)

    def to_file(self, path):
        """Write this compressed form to one file; read it back with ``torchgeo_inr.open_compressed``."""
        from .archive import to_file

        return to_file(self._obj, path)
