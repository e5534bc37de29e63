"""Adapters that plug the torchgeo_inr engine into xarray + Dask and Zarr.

Installed as ``torchgeo_inr.plugins`` (setuptools ``package-dir`` in
pyproject.toml). They import the engine; the engine never imports them,
except that ``import torchgeo_inr`` imports :mod:`.xarray_accessor` when
xarray is installed, so that ``.inr`` exists on every Dataset and DataArray.

- ``xarray_accessor``: the ``.inr`` accessor (thin; imports the work lazily)
- ``compressed``: the compressed form of an xarray object, tiles, Dask
- ``archive``: one file for a compressed form (``to_file`` / ``open_compressed``)
- ``open``: ``open_scene(path)``, a scene file as a Dataset
- ``band_dim``, ``georef``, ``nodata``: where bands, wavelengths, CRS (rioxarray) and nodata live
- ``zarr_codec``: the Zarr v3 array-to-bytes codec (a chunk is one stream)
- ``numcodecs_codec``: the same for Zarr v2 stores (chunks carry their shape)
- ``zarr_store``: ``to_zarr`` with sensible chunks, ``verify``, ``read_intact``
- ``progress``: a bar over the tiles of a tiled compress or Zarr write (the dashboard on a cluster)
- ``decode_device``: where reads decode neural tiles and chunks (the CPU unless asked)
"""
