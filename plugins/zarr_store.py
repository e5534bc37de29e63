"""Writing xarray objects to Zarr with the torchgeo-inr chunk codec, and checking what was written.

- :func:`to_zarr` (also ``ds.inr.to_zarr(store, bpppb=...)``): picks chunks
  (all bands in a chunk, spatial tiles that divide the scene where possible),
  sets the codec on every hyperspectral variable and writes through Dask, one
  task per chunk, in parallel. Other variables (labels, masks) keep
  xarray's default, lossless encoding.
- :func:`verify`: decode every chunk of the arrays that use the codec and
  list the damaged ones by array and chunk key (sharded and Zarr v2 arrays
  included, where zarr cannot tell the codec which chunk it is decoding),
  chunks stored in another's place, chunks the array's record says
  were written but are gone, and a missing or damaged shared network
  (``shared=True``, :mod:`.shared_network`).
- :func:`read_intact`: an array's values with damaged chunks replaced by the
  fill value, and the list of those chunks.

Reading needs none of this: ``xr.open_zarr(store)`` or ``zarr.open(store)``
find the codec through its entry point.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from itertools import product

import numpy as np

from torchgeo_inr.compress import DEFAULT_CODEC
from torchgeo_inr.errors import SceneError, UnknownCodecError
from torchgeo_inr.registry import available_codecs

from .zarr_codec import CODEC_NAME, InrCodec

__all__ = ["DEFAULT_TILE", "DamagedChunk", "pick_tile", "read_intact", "record_written", "to_zarr", "verify"]

#: Largest spatial tile (pixels per side) :func:`to_zarr` aims for.
DEFAULT_TILE = 256
#: Store key, beside an array's ``zarr.json``, of the record of which chunks were written.
WRITTEN_RECORD = "torchgeo_inr_written.json"


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
    progress: bool = True,
    shared: bool = False,
    sample=None,
    network_steps: int | None = None,
    network_options: dict | None = None,
    exact_tile: bool = False,
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
    progress
        A bar over the chunks written, on Dask's local schedulers (on a
        ``distributed`` cluster: the dashboard's address); none with
        ``compute=False``, which returns a ``Delayed`` to compute alone or
        in a larger graph.
    shared
        Fit one network for each array (codecs whose ``shares_network``:
        ``latent-grid``, ``meta-siren``) on its tiles, store it once beside
        the array (:mod:`.shared_network`) and write each chunk as its own
        code only. ``bpppb`` is then the archive's rate, the network
        included: the chunks get what it leaves. A variable that exists
        already (``mode="a"``) keeps its network: appended chunks are coded
        against it, with no refit.
    sample
        Tiles the shared network is fitted on: None (all), a count (spread
        over the grid) or a list of flat tile indices.
    network_steps
        Step budget of the shared network's fit (default: the codec's).
    network_options
        Codec arguments for the network's fit only (meta-siren's ``base_config``).
    exact_tile
        Use ``tile`` as given (the last tile smaller) instead of
        :func:`pick_tile`'s divisor of the axis.
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
    networks: dict = {}  # variable -> its shared network's bytes (shared=True)
    rechunked = {}
    for name in names:
        plan = _plan_variable(ds, name, band_dim, explicit=explicit)
        if plan is None:
            continue
        bd, row, col = plan
        array = ds[name]
        rows, cols = _tile_sizes(tile, row, col)
        chunks = {d: 1 for d in array.dims}
        pick = (lambda size, t: min(int(size), t)) if exact_tile else pick_tile
        chunks.update({bd: array.sizes[bd], row: pick(array.sizes[row], rows), col: pick(array.sizes[col], cols)})
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
        if shared:
            settings = _share(array, bd, row, col, chunks, settings, sample, network_steps, progress, zarr_format,
                              network_options)
            networks[name] = settings.pop("blob")
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
    from .progress import job_progress

    chunks_to_write = sum(out[name].data.npartitions for name in rechunked)
    if networks:  # the networks go beside the arrays' metadata before any chunk is written (any scheduler)
        return _write_shared(out, store, encoding, zarr_format, networks, list(rechunked), progress, kwargs)
    with job_progress(chunks_to_write, "writing Zarr chunks", progress and kwargs.get("compute", True)):
        written = out.to_zarr(store, encoding=encoding, zarr_format=zarr_format, **kwargs)
    # compute=False: nothing is written yet (and a Delayed answers every getattr with another Delayed)
    group = getattr(written, "zarr_group", None) if kwargs.get("compute", True) else None
    if group is not None:
        for name in rechunked:
            record_written(group[name])
    return written


def _share(array, bd, row, col, chunks, settings, sample, steps, progress, zarr_format, network_options) -> dict:
    """``settings`` for an array coded against one shared network: fitted on its tiles, the chunks' rate what the
    archive's rate leaves once the network is paid (``settings["blob"]``: the network's bytes)."""
    from .shared_network import fit_for_array

    if zarr_format != 3:
        raise SceneError("shared networks are stored beside Zarr v3 arrays only (zarr_format=3)")
    if array.ndim != 3:
        raise SceneError(f"a shared network needs a (band, row, column) array, not dims {list(array.dims)}")
    cube = np.asarray(array.transpose(bd, row, col).values)
    sizes = [cube.shape[1], cube.shape[2]]
    steps_rc = [chunks[row], chunks[col]]
    rows, cols = ([t] * (s // t) + ([s % t] if s % t else []) for s, t in zip(sizes, steps_rc))
    options = dict(settings["options"] or {})
    blob, chunk_bpppb, codec = fit_for_array(settings["codec"], options, cube, rows, cols, bpppb=settings["bpppb"],
                                             sample=sample, wavelengths=settings["wavelengths"], steps=steps,
                                             progress=progress, network_options=network_options)
    from torchgeo_inr.archive_network import digest

    # the network holds what the chunks share (for meta-siren: the wavelengths); the chunks do not repeat it
    return {**settings, "codec": codec, "bpppb": chunk_bpppb, "options": {**options, "network": digest(blob)},
            "blob": blob,
            "wavelengths": None}


def _write_shared(out, store, encoding, zarr_format, networks, names, progress, kwargs):
    """Write metadata, then each network beside its array, then the chunks (they load the network from there)."""
    import zarr

    from .progress import job_progress
    from .shared_network import write_network

    compute = kwargs.pop("compute", True)
    delayed = out.to_zarr(store, encoding=encoding, zarr_format=zarr_format, compute=False, **kwargs)
    group = zarr.open_group(store, mode="r+", path=kwargs.get("group"), zarr_format=zarr_format)
    for name, blob in networks.items():
        write_network(group[name], blob)
    if not compute:
        return delayed
    with job_progress(sum(out[n].data.npartitions for n in names), "writing Zarr chunks", progress):
        delayed.compute()
    for name in names:
        record_written(group[name])
    return group.store


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


def _stored_keys(array) -> set[str]:
    """Keys (relative to the array) of everything stored under ``array``, from one listing."""
    from zarr.core.sync import sync

    store_path = array.store_path
    prefix = f"{store_path.path}/" if store_path.path else ""

    async def listing():
        return [key async for key in store_path.store.list_prefix(prefix)]

    return {key[len(prefix) :] for key in sync(listing())}


def record_written(array) -> None:
    """Record, beside ``array``'s metadata, which of its chunks are stored now.

    :func:`to_zarr` calls it after writing. A chunk that is all fill value
    (or all NaN) is not stored, so only this record lets :func:`verify` tell
    a chunk deleted later (which would read as the fill value) from one that
    was never written.
    """
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    unit, grid = _units(array)
    stored = _stored_keys(array)
    keys = (array.metadata.encode_chunk_key(c) for c in product(*(range(g) for g in grid)))
    record = {"grid": list(grid), "empty": [k for k in keys if k not in stored]}
    blob = default_buffer_prototype().buffer.from_bytes(json.dumps(record).encode("utf-8"))
    store_path = array.store_path
    key = f"{store_path.path}/{WRITTEN_RECORD}" if store_path.path else WRITTEN_RECORD
    sync(store_path.store.set(key, blob))


def _missing(array) -> list[DamagedChunk]:
    """Chunks the array's record says were written but are not in the store (none without a record)."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    store_path = array.store_path
    key = f"{store_path.path}/{WRITTEN_RECORD}" if store_path.path else WRITTEN_RECORD
    blob = sync(store_path.store.get(key, prototype=default_buffer_prototype()))
    if blob is None:
        return []
    unit, grid = _units(array)
    try:
        record = json.loads(blob.to_bytes().decode("utf-8"))
        empty = set(record["empty"])
        if record["grid"] != list(grid):
            return [DamagedChunk(array.path, WRITTEN_RECORD, f"the record is of a {record['grid']} grid, the array has {list(grid)}")]
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        return [DamagedChunk(array.path, WRITTEN_RECORD, f"the record of written chunks is damaged: {err}")]
    stored = _stored_keys(array)
    missing = []
    for coords in product(*(range(g) for g in grid)):
        chunk = array.metadata.encode_chunk_key(coords)
        if chunk not in stored and chunk not in empty:
            missing.append(DamagedChunk(
                array.path, chunk, "missing: it was written but is not in the store (it would read as the fill value)"
            ))
    return missing


def verify(store, *, path: str | None = None, all_arrays: bool = False) -> list[DamagedChunk]:
    """Decode every stored chunk of the arrays that use the codec; list the ones that fail, and the missing ones.

    ``store`` is a path, a zarr store, a group or an array; ``path`` a group
    or array inside it; ``all_arrays`` checks arrays with other codecs too.
    For a sharded array the key is the shard's (the message names the
    inner chunk). A chunk stored in another's place fails to decode (its
    stream records where it belongs). A chunk that is not stored is missing
    when the array's record of written chunks (see :func:`record_written`)
    says it was written; arrays written without a record (not through
    :func:`to_zarr`) cannot tell, and their unwritten chunks are not errors.
    """
    import zarr

    node = store if isinstance(store, (zarr.Array, zarr.Group)) else zarr.open(store, mode="r", path=path)
    damaged = []
    for array in _arrays(node):
        if not (all_arrays or _uses_codec(array)):
            continue
        broken = _network_problem(array)
        if broken is not None:  # every chunk would fail for the one reason: say it once, by the network's key
            damaged += [broken, *_missing(array)]
            continue
        unit, grid = _units(array)
        for coords in product(*(range(g) for g in grid)):
            try:
                array[_region(coords, unit, array.shape)]
            except Exception as err:
                key = array.metadata.encode_chunk_key(coords)
                damaged.append(DamagedChunk(array.path, key, f"{type(err).__name__}: {err}"))
        damaged += _missing(array)
    return damaged


def _network_problem(array) -> DamagedChunk | None:
    """The array's shared network (if it names one) read from the store and checked; what is wrong, or None."""
    from torchgeo_inr.archive_network import SharedNetworkError

    from .shared_network import load_from_store, network_key, network_of

    sha = network_of(array)
    if sha is None:
        return None
    try:
        load_from_store(array)
    except SharedNetworkError as err:
        return DamagedChunk(array.path, network_key("", sha), str(err))
    return None


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
