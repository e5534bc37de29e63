"""Writing xarray objects to Zarr with the torchgeo-inr chunk codec, and checking what was written.

- :func:`to_zarr` (also ``ds.inr.to_zarr(store, bpppb=...)``): picks chunks
  (all bands in a chunk, spatial tiles that divide the scene where possible),
  sets the codec on every hyperspectral variable and writes through Dask, one
  task per chunk, in parallel. Other variables (labels, masks) keep
  xarray's default, lossless encoding. Into an array the store has
  (``append_dim=``, ``region=``) it writes with the array's own codec and
  shared network, and reports the rate of what it added (:func:`appended`).
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
import logging
import math
from dataclasses import dataclass
from itertools import product

import numpy as np

from torchgeo_inr.compress import DEFAULT_CODEC
from torchgeo_inr.errors import SceneError, UnknownCodecError
from torchgeo_inr.registry import available_codecs

from .zarr_codec import CODEC_NAME, InrCodec

__all__ = [
    "DEFAULT_TILE", "DamagedChunk", "appended", "pick_tile", "read_intact", "record_written", "to_zarr", "verify",
]

#: Largest spatial tile (pixels per side) :func:`to_zarr` aims for.
DEFAULT_TILE = 256
#: Store key, beside an array's ``zarr.json``, of the record of which chunks were written.
WRITTEN_RECORD = "torchgeo_inr_written.json"

logger = logging.getLogger(__name__)


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
        included: the chunks get what it leaves. An array with leading
        dimensions (``time``...) gets one network for all its scenes. A
        variable the store has already keeps its network (see Appending
        below): no refit.
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
    :class:`~torchgeo_inr.plugins.zarr_codec.PartialChunkWriteError` before
    anything is encoded: a lossy chunk is never decoded and encoded again.

    Appending: with ``append_dim=`` (``mode="a"``; new scenes along
    ``time``, new tiles along a spatial dimension) or ``region=``, a
    variable the store has already keeps its codec, target, chunks and
    shared network (``bpppb``, ``codec``, ``tile`` and ``shared`` apply to
    new variables only): its new chunks are coded against the stored
    network, which is neither refitted nor written again. The rate of what
    the write added (the bytes of the chunks it wrote; bpppb = 8 x those
    bytes / its new values; the network is not counted again, it was paid
    when the array was written) is logged (logger
    ``torchgeo_inr.plugins.zarr_store``, INFO), printed to stderr when
    ``progress``, and kept in the array's record, read back with
    :func:`appended`. With ``compute=False`` (or ``region="auto"``)
    nothing is reported.
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
    stored = _stored_arrays(store, zarr_format, kwargs)
    boxes: dict = {}  # variable already in the store -> the region of it this write covers
    for name in names:
        plan = _plan_variable(ds, name, band_dim, explicit=explicit)
        if plan is None:
            continue
        bd, row, col = plan
        array = ds[name]
        if name in stored:  # appending or a region: the array keeps its codec, chunks and network (no refit)
            dims, unit = _stored_dims(stored[name]), stored[name].chunks
            boxes[name] = _write_box(stored[name], dims, array, kwargs)
            rechunked[name] = array.chunk(dict(zip(dims, unit)))
            continue
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
    if not rechunked:
        raise SceneError(
            f"no variable of this Dataset has a band dimension and two spatial ones (variables "
            f"{list(ds.data_vars)}); pass band_dim= or var="
        )
    for name, enc in user_encoding.items():
        encoding[name] = {**encoding.get(name, {}), **enc}
    out = ds.assign(rechunked)
    for name in rechunked:  # the source's encoding (its chunks, compressors) must not fight ours
        out[name].encoding = {}
    import zarr

    from .progress import job_progress

    compute = kwargs.pop("compute", True)
    with job_progress(sum(out[n].data.npartitions for n in rechunked), "writing Zarr chunks", progress and compute):
        if networks:  # the networks go beside the arrays' metadata before any chunk is written (any scheduler)
            written = _write_shared(out, store, encoding, zarr_format, networks, kwargs)
            if compute:
                written.compute()
        else:
            written = out.to_zarr(store, encoding=encoding, zarr_format=zarr_format, compute=compute, **kwargs)
    if not compute:  # nothing is written yet: no record, no report
        return written
    group = zarr.open_group(store, mode="r+", path=kwargs.get("group"), zarr_format=zarr_format)
    for name in rechunked:
        box = boxes.get(name)
        record_written(group[name], None if box is None else _report(group[name], box, ds[name].size, progress))
    return group.store if networks else written


def _share(array, bd, row, col, chunks, settings, sample, steps, progress, zarr_format, network_options) -> dict:
    """``settings`` for an array coded against one shared network: fitted on its tiles, the chunks' rate what the
    archive's rate leaves once the network is paid (``settings["blob"]``: the network's bytes)."""
    from .shared_network import fit_for_array

    if zarr_format != 3:
        raise SceneError("shared networks are stored beside Zarr v3 arrays only (zarr_format=3)")
    # NumPy or Dask, (..., band, row, column) (leading dims: scenes): the fit reads only the tiles it is fitted on
    cube = array.transpose(..., bd, row, col).data
    sizes = cube.shape[-2:]
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


def _write_shared(out, store, encoding, zarr_format, networks, kwargs):
    """Write the metadata, then each network beside its array; the chunks (which load the network from there)
    are the returned Delayed."""
    import zarr

    from .shared_network import write_network

    delayed = out.to_zarr(store, encoding=encoding, zarr_format=zarr_format, compute=False, **kwargs)
    group = zarr.open_group(store, mode="r+", path=kwargs.get("group"), zarr_format=zarr_format)
    for name, blob in networks.items():
        write_network(group[name], blob)
    return delayed


# -- writing into an array that exists (append_dim=, region=) ----------------------------
def _stored_arrays(store, zarr_format, kwargs) -> dict:
    """The store's arrays by name, when this write may go into them (``mode`` a, a- or r+, ``append_dim``,
    ``region``); else none, and every variable is written anew."""
    import zarr

    if kwargs.get("mode") not in ("a", "a-", "r+") and kwargs.get("append_dim") is None and not kwargs.get("region"):
        return {}
    try:
        group = zarr.open_group(store, mode="r", path=kwargs.get("group"), zarr_format=zarr_format)
    except FileNotFoundError:  # zarr's GroupNotFoundError is one
        return {}
    return dict(group.arrays())


def _stored_dims(array) -> list[str]:
    """The array's dimension names (v3 metadata, v2's ``_ARRAY_DIMENSIONS``): its chunks, by the new data's dims."""
    meta = array.metadata
    return list(getattr(meta, "dimension_names", None) or array.attrs.get("_ARRAY_DIMENSIONS"))


def _write_box(array, dims, new, kwargs) -> tuple[slice, ...] | None:
    """The region (in ``array``'s axes) that writing ``new`` covers, or None when xarray finds it (``region="auto"``).

    Refuses, before anything is fitted or written, a write that would cut a stored chunk (an append after a
    ragged last chunk, a region off the chunk grid): that chunk would be decoded and encoded again."""
    from .zarr_codec import PartialChunkWriteError

    append_dim, region = kwargs.get("append_dim"), kwargs.get("region") or {}
    box = []
    for dim, size in zip(dims, array.shape, strict=True):
        where = region.get(dim, slice(None)) if isinstance(region, dict) else "auto"
        if not isinstance(where, slice):
            return None
        start = size if dim == append_dim else (where.start or 0)
        box.append(slice(start, start + new.sizes[dim]))
    stored = _stored_keys(array)
    for coords in _chunk_coords(box, array.chunks):
        key = array.metadata.encode_chunk_key(coords)
        # the chunk holds [c u, min((c + 1) u, size)) once written; the write must cover all of that
        cut = any(s.start > c * u or s.stop < min((c + 1) * u, max(n, s.stop))
                  for s, c, u, n in zip(box, coords, array.chunks, array.shape, strict=True))
        if cut and key in stored:
            raise PartialChunkWriteError(
                f"writing {new.name!r} at {dict(zip(dims, ((s.start, s.stop) for s in box)))} cuts the stored chunk "
                f"{key!r} of array {array.path!r} (chunks {dict(zip(dims, array.chunks))}): it is lossy, and would "
                "be decoded and encoded again. Append or write whole chunks.", array=array.path, key=key)
    return tuple(box)


def _chunk_coords(box, unit):
    return product(*(range(s.start // u, -(-s.stop // u)) for s, u in zip(box, unit, strict=True)))


def _report(array, box, values: int, progress: bool) -> dict:
    """The rate of what this write put into ``array``: its chunks' bytes over its values (the network, paid when
    the array was written, not again); logged, and shown beside the progress bar."""
    import sys

    from zarr.core.sync import sync

    from .shared_network import network_of

    store_path, nbytes, chunks = array.store_path, 0, 0
    prefix = f"{store_path.path}/" if store_path.path else ""
    for coords in _chunk_coords(box, array.chunks):
        try:
            nbytes += sync(store_path.store.getsize(prefix + array.metadata.encode_chunk_key(coords)))
            chunks += 1
        except FileNotFoundError:  # all fill value: not stored
            pass
    sha = network_of(array)
    report = {"region": [[s.start, s.stop] for s in box], "chunks": chunks, "bytes": nbytes, "values": int(values),
              "bpppb": 8.0 * nbytes / values, "network": sha}
    message = (f"torchgeo-inr: wrote {chunks} chunks into array {array.path!r} at {report['region']}: {nbytes} bytes, "
               f"{report['bpppb']:.4f} bpppb over its {values} new values"
               + (f", coded against its stored network {sha[:12]} (not refitted)" if sha else ""))
    logger.info(message)
    if progress:
        print(message, file=sys.stderr)
    return report


def appended(array) -> list[dict]:
    """What each write into the existing ``array`` (a zarr array) put there, oldest first, as :func:`to_zarr`
    reported it: ``region`` ([start, stop) per axis), ``chunks``, ``bytes``, ``values``, ``bpppb`` and the
    ``network`` its chunks were coded against."""
    return list(_read_record(array).get("appended", []))


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


def record_written(array, report: dict | None = None) -> None:
    """Record, beside ``array``'s metadata, which of its chunks are stored now (and what a write into it added).

    :func:`to_zarr` calls it after writing. A chunk that is all fill value
    (or all NaN) is not stored, so only this record lets :func:`verify` tell
    a chunk deleted later (which would read as the fill value) from one that
    was never written. ``report`` (:func:`to_zarr`'s report of a write into
    an existing array) is added to the record's list (:func:`appended`); if
    the array has a record, only the chunks of that write's region are
    looked at again, so a chunk deleted elsewhere before it is still found
    missing.
    """
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    unit, grid = _units(array)
    stored = _stored_keys(array)
    old = _read_record(array) if report else {}
    if old:  # a write into a recorded array: its region is looked at again, the rest keeps its record
        box = tuple(slice(*r) for r in report["region"])
        keys = {array.metadata.encode_chunk_key(c) for c in _chunk_coords(box, unit)}
        empty = (set(old.get("empty", [])) - keys) | {k for k in keys if k not in stored}
    else:
        empty = (k for k in map(array.metadata.encode_chunk_key, product(*(range(g) for g in grid))) if k not in stored)
    record = {"grid": list(grid), "empty": sorted(empty),
              **({"appended": [*old.get("appended", []), report]} if report else {})}
    blob = default_buffer_prototype().buffer.from_bytes(json.dumps(record).encode("utf-8"))
    sync(array.store_path.store.set(_record_key(array), blob))


def _record_key(array) -> str:
    path = array.store_path.path
    return f"{path}/{WRITTEN_RECORD}" if path else WRITTEN_RECORD


def _read_record(array) -> dict:
    """The array's record of written chunks ({} when it has none); raises ValueError when it is damaged."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    blob = sync(array.store_path.store.get(_record_key(array), prototype=default_buffer_prototype()))
    if blob is None:
        return {}
    record = json.loads(blob.to_bytes().decode("utf-8"))
    if not isinstance(record, dict):
        raise ValueError(f"it is a {type(record).__name__}, not an object")
    return record


def _missing(array) -> list[DamagedChunk]:
    """Chunks the array's record says were written but are not in the store (none without a record)."""
    unit, grid = _units(array)
    try:
        record = _read_record(array)
        if not record:
            return []
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
