"""Writing xarray objects to Zarr with the torchgeo-inr chunk codec, and checking what was written.

- :func:`to_zarr` (also ``ds.inr.to_zarr(store, bpppb=...)``): picks chunks
  (all bands in a chunk, spatial tiles that divide the scene where possible),
  sets the codec on every hyperspectral variable and writes through Dask, one
  task per chunk, in parallel. Other variables (labels, masks) keep
  xarray's default, lossless encoding.
- :func:`verify`: decode every chunk of the arrays that use the codec and
  list the damaged ones by array and chunk key (sharded and Zarr v2 arrays
  included, where zarr cannot tell the codec which chunk it is decoding).
- :func:`read_intact`: an array's values with damaged chunks replaced by the
  fill value, and the list of those chunks.

Reading needs none of this: ``xr.open_zarr(store)`` or ``zarr.open(store)``
find the codec through its entry point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

import numpy as np

from torchgeo_inr.compress import DEFAULT_CODEC
from torchgeo_inr.errors import SceneError, UnknownCodecError
from torchgeo_inr.registry import available_codecs

from .zarr_codec import CODEC_NAME, InrCodec

__all__ = ["DEFAULT_TILE", "DamagedChunk", "pick_tile", "read_intact", "to_zarr", "verify"]

#: Largest spatial tile (pixels per side) :func:`to_zarr` aims for.
DEFAULT_TILE = 256


def pick_tile(size: int, target: int = DEFAULT_TILE) -> int:
    """Tile length along one spatial axis of ``size`` pixels.

    The whole axis when it is at most ``target``; else the largest divisor of
    ``size`` between ``target / 4`` and ``target`` (every tile the same, no
    ragged edge); else ``target`` (the last tile is smaller).
    """
    size, target = int(size), int(target)
    if target < 1:
        raise ValueError(f"tile size must be positive, got {target}")
    if size <= target:
        return size
    for tile in range(target, max(1, target // 4) - 1, -1):
        if size % tile == 0:
            return tile
    return target


def _tile_sizes(tile, row, col) -> tuple[int, int]:
    if isinstance(tile, dict):
        return int(tile.get(row, DEFAULT_TILE)), int(tile.get(col, DEFAULT_TILE))
    if isinstance(tile, (tuple, list)):
        if len(tile) != 2:
            raise ValueError(f"tile must be one size or (rows, columns), got {tile!r}")
        return int(tile[0]), int(tile[1])
    return int(tile), int(tile)


def _plan_variable(ds, name, band_dim, *, explicit: bool):
    """(band dim, row dim, column dim) of a variable the codec can take, else None (or an error if asked for)."""
    from .band_dim import find_band_dim

    array = ds[name]
    label = f"variable {name!r}"
    try:
        bd = find_band_dim(array, band_dim)
    except SceneError:
        if explicit:
            raise
        return None
    others = [d for d in array.dims if d != bd]
    dtype = np.dtype(array.dtype)
    problem = None
    if len(others) < 2:
        problem = f"{label} has dims {list(array.dims)}: it needs the band dimension {bd!r} and two spatial ones"
    elif dtype.kind not in "biuf":
        problem = f"{label} has dtype {dtype}: only integer, float or bool arrays can be compressed"
    if problem:
        if explicit:
            raise SceneError(problem)
        return None
    return bd, others[-2], others[-1]


def to_zarr(
    obj,
    store,
    *,
    bpppb: float | None = None,
    psnr: float | None = None,
    codec: str = DEFAULT_CODEC,
    var=None,
    band_dim=None,
    tile=DEFAULT_TILE,
    codec_options: dict | None = None,
    zarr_format: int = 3,
    wavelengths: bool = True,
    **kwargs,
):
    """Write a Dataset or DataArray to Zarr, each chunk of its hyperspectral variables one codec stream.

    Parameters
    ----------
    obj
        xarray Dataset or DataArray (NumPy- or Dask-backed).
    store
        Anything ``xarray.Dataset.to_zarr`` takes (a path, a zarr store...).
    bpppb, psnr
        Target of every chunk (one of them; neither means 0.1 bpppb).
    codec
        Registry name of the codec (``torchgeo_inr.available_codecs()``).
    var
        Variable name(s) to compress; default: every variable with a band
        dimension and two spatial ones. The others are written losslessly.
    band_dim
        The band dimension, when it cannot be found from names/coordinates.
    tile
        Largest spatial tile: one size, ``(rows, columns)`` or ``{dim: size}``.
        Each axis gets :func:`pick_tile` of it; all bands are in every chunk,
        other dimensions (time...) are chunked by 1.
    codec_options
        Keyword arguments of the codec's constructor (JSON values only).
    zarr_format
        3 (the codec is the array's serializer) or 2 (its compressor).
    wavelengths
        Give the codec the band wavelengths found on the variable (see
        ``band_dim.wavelengths_of``): they go into the codec configuration in
        the array metadata and into every chunk's stream (about 200 bytes for
        200 bands, counted in the rate), for codecs that use them (HINER's
        band embedding). False saves those bytes for codecs that do not.
    **kwargs
        Passed to ``xarray.Dataset.to_zarr`` (``mode``, ``consolidated``,
        ``compute``...). ``encoding`` entries given here win over ours.

    Returns what ``xarray.Dataset.to_zarr`` returns (the store, or a Dask
    delayed object with ``compute=False``).

    Writes are whole chunks, in parallel on the active Dask scheduler (or
    ``distributed`` client). Appending along a dimension or writing a
    ``region`` that cuts a stored chunk raises
    :class:`~torchgeo_inr.plugins.zarr_codec.PartialChunkWriteError`: a lossy
    chunk is never decoded and encoded again.
    """
    import xarray as xr

    from .band_dim import wavelengths_of

    if codec not in available_codecs():
        raise UnknownCodecError(f"no codec named {codec!r}; available: {', '.join(available_codecs())}")
    if zarr_format not in (2, 3):
        raise ValueError(f"zarr_format must be 2 or 3, got {zarr_format!r}")
    if isinstance(obj, xr.DataArray):
        ds = obj.to_dataset(name=obj.name if obj.name is not None else "reflectance")
        if var is None:
            var = list(ds.data_vars)
    elif isinstance(obj, xr.Dataset):
        ds = obj
    else:
        raise TypeError(f"expected an xarray Dataset or DataArray, got {type(obj).__name__}")

    explicit = var is not None
    names = list(ds.data_vars) if var is None else ([var] if isinstance(var, str) else list(var))
    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        raise SceneError(f"no data variable {missing} in this Dataset; it has {list(ds.data_vars)}")

    user_encoding = dict(kwargs.pop("encoding", None) or {})
    encoding: dict = {}
    rechunked = {}
    for name in names:
        plan = _plan_variable(ds, name, band_dim, explicit=explicit)
        if plan is None:
            continue
        bd, row, col = plan
        array = ds[name]
        rows, cols = _tile_sizes(tile, row, col)
        chunks = {d: 1 for d in array.dims}
        chunks.update({bd: array.sizes[bd], row: pick_tile(array.sizes[row], rows), col: pick_tile(array.sizes[col], cols)})
        # Negative: the same axis whatever leading dims a reader adds or drops.
        band_axis = array.dims.index(bd) - array.ndim
        settings = dict(
            codec=codec,
            bpppb=bpppb,
            psnr=psnr,
            band_axis=band_axis,
            options=codec_options,
            wavelengths=wavelengths_of(array, bd, more_attrs=ds.attrs) if wavelengths else None,
        )
        if zarr_format == 3:
            enc = {"serializer": InrCodec(**settings), "compressors": None, "filters": None}
        else:
            from .numcodecs_codec import InrNumcodec

            enc = {"compressors": InrNumcodec(**settings), "filters": None}
        enc["chunks"] = tuple(chunks[d] for d in array.dims)
        encoding[name] = {**{k: v for k, v in array.encoding.items() if k in ("dtype", "_FillValue")}, **enc}
        # Dask chunks equal to the Zarr chunks: one task writes one whole chunk.
        rechunked[name] = array.chunk(chunks)
    if not encoding:
        raise SceneError(
            f"no variable of this Dataset has a band dimension and two spatial ones (variables "
            f"{list(ds.data_vars)}); pass band_dim= or var="
        )
    for name, enc in user_encoding.items():
        encoding[name] = {**encoding.get(name, {}), **enc}
    out = ds.assign(rechunked)
    for name in rechunked:  # the source's encoding (its chunks, compressors) must not fight ours
        out[name].encoding = {}
    return out.to_zarr(store, encoding=encoding, zarr_format=zarr_format, **kwargs)


# -- checking a store --------------------------------------------------------------
@dataclass(frozen=True)
class DamagedChunk:
    """A chunk (or shard) that could not be decoded."""

    array: str
    key: str
    error: str

    def __str__(self) -> str:
        return f"array {self.array!r}, chunk {self.key!r}: {self.error}"


def _uses_codec(array) -> bool:
    meta = array.metadata
    if getattr(meta, "zarr_format", 3) == 2:
        compressor = getattr(meta, "compressor", None)
        return getattr(compressor, "codec_id", None) == CODEC_NAME
    return CODEC_NAME in str(meta.to_dict().get("codecs"))


def _arrays(node):
    import zarr

    if isinstance(node, zarr.Array):
        yield node
        return
    for _, member in node.members(max_depth=None):
        if isinstance(member, zarr.Array):
            yield member


def _units(array):
    """(storage unit shape, grid shape): shards when the array is sharded, else chunks."""
    unit = getattr(array, "shards", None) or array.chunks
    grid = tuple(math.ceil(s / u) for s, u in zip(array.shape, unit, strict=True))
    return unit, grid


def _region(coords, unit, shape):
    return tuple(slice(c * u, min((c + 1) * u, s)) for c, u, s in zip(coords, unit, shape, strict=True))


def verify(store, *, path: str | None = None, all_arrays: bool = False) -> list[DamagedChunk]:
    """Decode every stored chunk of the arrays that use the codec; list the ones that fail.

    ``store`` is a path, a zarr store, a group or an array; ``path`` a group
    or array inside it; ``all_arrays`` checks arrays with other codecs too.
    For a sharded array the key is the shard's (the message names the
    inner chunk). Chunks that were never written are not errors.
    """
    import zarr

    node = store if isinstance(store, (zarr.Array, zarr.Group)) else zarr.open(store, mode="r", path=path)
    damaged = []
    for array in _arrays(node):
        if not (all_arrays or _uses_codec(array)):
            continue
        unit, grid = _units(array)
        for coords in product(*(range(g) for g in grid)):
            try:
                array[_region(coords, unit, array.shape)]
            except Exception as err:
                key = array.metadata.encode_chunk_key(coords)
                damaged.append(DamagedChunk(array.path, key, f"{type(err).__name__}: {err}"))
    return damaged


def read_intact(array, *, fill=None) -> tuple[np.ndarray, list[DamagedChunk]]:
    """All of ``array``, with each chunk that cannot be decoded set to ``fill``, and the list of them.

    ``array`` is a zarr array (``zarr.open(...)``); ``fill`` defaults to NaN
    for float arrays, else the array's fill value.
    """
    if fill is None:
        fill = np.nan if np.dtype(array.dtype).kind == "f" else array.fill_value
    out = np.empty(array.shape, dtype=array.dtype)
    unit, grid = _units(array)
    damaged = []
    for coords in product(*(range(g) for g in grid)):
        region = _region(coords, unit, array.shape)
        try:
            out[region] = array[region]
        except Exception as err:
            out[region] = fill
            key = array.metadata.encode_chunk_key(coords)
            damaged.append(DamagedChunk(array.path, key, f"{type(err).__name__}: {err}"))
    return out, damaged
