"""The compressed form of an xarray object: one codec stream per spatial tile, plus the coordinates.

``compress(obj)`` returns an ``xarray.Dataset`` that an xarray user can read
at a glance::

    <xarray.Dataset>
    Dimensions:        (band: 200, y: 145, x: 145, tile_y: 2, tile_x: 2)
    Coordinates:
      * band           (band) int64 1 2 3 ... 200
        wavelength     (band) float64 400.0 409.8 ... 2.5e+03
      * y, x           ...                     # the input's coordinates, untouched
        spatial_ref    int64 0                 # CRS (WKT) and GeoTransform in its attrs
      * tile_y         (tile_y) int64 0 73     # first row of each tile
      * tile_x         (tile_x) int64 0 73     # first column of each tile
    Data variables:
        reflectance    (tile_y, tile_x) object b'TGINR...' ...   # one stream per tile
    Attributes:
        ...                                    # the input's attributes, untouched
        torchgeo_inr:  {"format": "torchgeo-inr/xarray", ...}

Each data variable of the input that is a (band, row, column) cube becomes
one object variable of byte strings over the tile grid; its attributes are
the input variable's, plus ``torchgeo_inr`` (JSON: dims and their order,
band dimension, dtype, tile sizes, codec, fill value). Coordinates, the
``spatial_ref`` grid mapping and the Dataset's attributes are kept as they
are, so ``decompress`` gives back the same dims, coords, attrs and dtype.

One tile = every band of one spatial chunk. An input backed by Dask is
tiled by its spatial chunks, each tile compressed by its own task on
whatever scheduler is active (threads by default, a ``distributed.Client``
when one is), with a progress bar over the tiles (:mod:`.progress`), and
``decompress`` of such a form is lazy: a Dask array with the same chunks
whose tiles are decoded when they are read. A NumPy-backed input is one
tile, compressed and decompressed eagerly.

``compute=False`` (as ``xarray.Dataset.to_zarr`` has it) returns the form
at once with Dask-backed stream variables: nothing is encoded until it is
computed, alone (``form.compute()``) or with the rest of a larger graph
(``dask.compute(form, other)``); ``decompress`` of such a form is a lazy
graph built on the encode tasks. Its rate (``nbytes``, ``bpppb``) needs the
streams, so compute it first.

Decoding runs on the CPU unless ``device=`` (or :mod:`.device`'s
process-wide choice, :mod:`.decode_device`) names another; with a GPU, each Dask task decodes a
row of tiles (``tiles_per_task``) rather than one. Where one call decodes several tiles (a row per
task, or an eager decode's whole grid) and they are latent-grid chunks of a shared network, their
latents are entropy-decoded one by one and tiles of one shape share one forward pass of the
network (:func:`~torchgeo_inr.codecs.latent_grid_batch.decode_chunks`); the values are those of
one tile at a time (within 1e-6 relative: a batched convolution may round otherwise), and a damaged
tile still raises its own error, naming it.

Bad values: NaN (floats) and a declared nodata value (``_FillValue``,
``nodata`` or ``missing_value`` attribute) are masked in each tile's stream
and given back as they were; a tile that is all nodata is stored as an empty
stream (0 bytes) and decoded as the fill value. Integer dtypes come back in
the same dtype, rounded and clipped to its range. A tile too small for the
codec at the asked rate raises :class:`~torchgeo_inr.RateError` naming the
tile. ``progress`` shows the codec's own progress for a single NumPy tile,
and a bar over the tiles for Dask input.

Rate: each tile gets the requested ``bpppb`` of its own size, so the whole
stays within it. ``bpppb(form)`` counts the streams only (every byte
``decode`` reads); the coordinates and attributes kept beside them are
reported apart (``metadata_nbytes`` of the written file).
"""

from __future__ import annotations

import json
import math

import numpy as np
import xarray as xr

from torchgeo_inr import bitstream
from torchgeo_inr import compress as engine
from torchgeo_inr.compress import DEFAULT_CODEC
from torchgeo_inr.errors import BitstreamError, InrError, RateError, SceneError
from torchgeo_inr.registry import codec_class
from torchgeo_inr.scene import Scene

from . import decode_device as devices
from .band_dim import cube_dims, find_band_dim, wavelengths_of
from .nodata import nodata_of
from .progress import tile_done
from .shared_network import FORM_ATTR as FORM_NETWORK  # a stream variable's shared network (shared=True)
from .shared_network import form_network, load_form_network, share_plans

#: Attribute (on the Dataset and on each stream variable) holding the JSON that rebuilds the input.
META = "torchgeo_inr"
FORMAT = "torchgeo-inr/xarray"
FORMAT_VERSION = 1
#: Variable name used for a DataArray without a name (xarray's own convention).
UNNAMED = "__xarray_dataarray_variable__"
TILE_PREFIX = "tile_"


# -- what a compressed form is ------------------------------------------------------
def is_compressed(obj) -> bool:
    """True for a Dataset made by :func:`compress` (or read by ``open_compressed``)."""
    return isinstance(obj, xr.Dataset) and META in obj.attrs


def form_meta(form: xr.Dataset) -> dict:
    """The Dataset-level description of a compressed form, validated."""
    if not is_compressed(form):
        raise SceneError(
            "this is not a compressed form (no 'torchgeo_inr' attribute): call .inr.compress() first"
        )
    top = _loads(form.attrs[META], "Dataset attribute")
    if top.get("format") != FORMAT:
        raise BitstreamError(f"attribute {META!r} is not a torchgeo-inr description: format {top.get('format')!r}")
    if not isinstance(top.get("version"), int) or top["version"] > FORMAT_VERSION:
        raise BitstreamError(
            f"compressed form version {top.get('version')!r} is newer than this torchgeo-inr reads "
            f"({FORMAT_VERSION}); upgrade torchgeo-inr"
        )
    names = top.get("variables")
    if not isinstance(names, list) or not names:
        raise BitstreamError("compressed form lists no variables")
    for name in names:
        if name not in form.data_vars or META not in form[name].attrs:
            raise BitstreamError(f"compressed form has lost its stream variable {name!r}")
    return top


def variable_meta(form: xr.Dataset, name) -> dict:
    """The description of one stream variable, validated enough to rebuild it."""
    meta = _loads(form[name].attrs[META], f"attribute of variable {name!r}")
    needed = ("dims", "band_dim", "spatial_dims", "shape", "dtype", "chunks", "tile_dims", "lazy", "fill")
    missing = [k for k in needed if k not in meta]
    if missing:
        raise BitstreamError(f"variable {name!r}: description lacks {missing}")
    rows, cols = meta["chunks"]
    if sum(rows) != meta["shape"][1] or sum(cols) != meta["shape"][2]:
        raise BitstreamError(f"variable {name!r}: tile sizes {meta['chunks']} do not add up to {meta['shape']}")
    if form[name].shape != (len(rows), len(cols)):
        raise BitstreamError(f"variable {name!r}: {form[name].shape} streams for a {len(rows)}x{len(cols)} tile grid")
    return meta


def _loads(text, where: str) -> dict:
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as err:
        raise BitstreamError(f"{META!r} {where} is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise BitstreamError(f"{META!r} {where} is not a JSON object")
    return value


def streams_of(form: xr.Dataset) -> dict:
    """Stream variable name -> object array (tile grid) of byte strings."""
    names = form_meta(form)["variables"]
    if is_lazy(form):
        raise SceneError(
            "this compressed form is lazy (compress(compute=False)): its streams are not encoded yet; "
            "compute it first (form = form.compute(), or dask.compute(form, ...))"
        )
    return {name: form[name].values for name in names}


def is_lazy(form: xr.Dataset) -> bool:
    """True for a form whose streams are Dask tasks still to run (``compress(compute=False)``)."""
    return any(form[name].chunks is not None for name in form_meta(form)["variables"])


def nbytes(form: xr.Dataset) -> int:
    """Total bytes of every stream and shared network: what decode reads, nothing else."""
    networks = sum(len(form_network(form[name]) or b"") for name in form_meta(form)["variables"])
    return networks + sum(len(s) for grid in streams_of(form).values() for s in grid.ravel())


def n_elements(form: xr.Dataset) -> int:
    """Bands x rows x columns of the input, summed over its compressed variables."""
    return sum(math.prod(variable_meta(form, n)["shape"]) for n in form_meta(form)["variables"])


def bpppb(form: xr.Dataset) -> float:
    """8 * stream bytes / (bands * rows * columns) of the input."""
    return 8.0 * nbytes(form) / n_elements(form)


def summary(form: xr.Dataset) -> dict:
    """Codec, shape, dtype, tiles, bytes and bpppb, per variable and in total."""
    variables = {}
    for name, grid in streams_of(form).items():
        meta = variable_meta(form, name)
        sizes = [len(s) for s in grid.ravel()]
        variables[name] = {
            "codec": meta.get("codec"),
            "dims": meta["dims"],
            "shape": dict(zip((meta["band_dim"], *meta["spatial_dims"]), meta["shape"])),
            "dtype": meta["dtype"],
            "tiles": len(sizes),
            "tile_bytes": sizes,
            "bytes": sum(sizes),
            "bpppb": 8.0 * sum(sizes) / math.prod(meta["shape"]),
            "lazy": meta["lazy"],
        }
    return {"bytes": nbytes(form), "bpppb": bpppb(form), "variables": variables}


# -- compress -----------------------------------------------------------------------
def compress(
    obj,
    *,
    bpppb: float | None = None,
    psnr: float | None = None,
    codec: str = DEFAULT_CODEC,
    var=None,
    band_dim=None,
    device=None,
    progress: bool = True,
    compute: bool = True,
    shared: bool = False,
    sample=None,
    network_steps: int | None = None,
    network_options: dict | None = None,
    **options,
) -> xr.Dataset:
    """Compress a DataArray or Dataset into its compressed form (see the module docstring).

    ``bpppb`` or ``psnr`` is the target of every tile; ``codec`` any registered
    name; ``var`` a Dataset variable name or list of names (default: every
    data variable, each of which must be a cube); ``band_dim`` when the band
    dimension cannot be found from names or a wavelength coordinate;
    ``options`` go to the codec's constructor. Dask-backed input is tiled
    by its spatial chunks (a band dimension split in chunks is joined first).
    ``compute=False`` returns the form with Dask-backed streams, encoded
    when computed. ``shared=True`` fits one network per variable on its tiles
    (all, or ``sample``: a count or flat tile indices; ``network_steps``,
    ``network_options`` for the fit), keeps its bytes in the variable's
    ``torchgeo_inr_network`` attribute (counted in ``nbytes``) and codes each
    tile against it: ``bpppb`` is then the whole form's rate, network included
    (see :mod:`.shared_network`).
    """
    if is_compressed(obj):
        raise SceneError("this Dataset is already a compressed form; call .inr.decompress() to get the data back")
    codec_class(codec)  # an unknown codec fails now, before any work is scheduled
    if isinstance(obj, xr.DataArray):
        if var is not None:
            raise SceneError("var= picks variables of a Dataset; this is a DataArray")
        if obj.name is not None and not isinstance(obj.name, str):
            raise SceneError(f"variable names must be strings, got {obj.name!r}")
        top = {"kind": "DataArray", "name": obj.name}
        arrays = {obj.name if obj.name is not None else UNNAMED: obj}
        extra_attrs: dict = {}
        form_attrs: dict = {}
    elif isinstance(obj, xr.Dataset):
        top = {"kind": "Dataset"}
        arrays = {name: obj[name] for name in _pick_variables(obj, var, band_dim)}
        extra_attrs = dict(obj.attrs)
        form_attrs = dict(obj.attrs)
    else:
        raise TypeError(f"expected an xarray DataArray or Dataset, got {type(obj).__name__}")

    plans = [
        _plan(name, array, kind=top["kind"], band_dim=band_dim, extra_attrs=extra_attrs, all_dims=set(obj.sizes))
        for name, array in arrays.items()
    ]
    settings = dict(codec=codec, bpppb=bpppb, psnr=psnr, device=device, options=options)
    if shared:
        share_plans(plans, settings, sample=sample, steps=network_steps, progress=progress,
                    network_options=network_options)
    _encode_all(plans, settings, progress, compute)

    data_vars = {}
    tile_coords = {}
    for plan in plans:
        bounded = options.get("max_error") is not None or options.get("relative_error") is not None
        written = plan.get("settings", settings)["codec"]  # a shared network may write its own codec's chunks
        meta = {**plan["meta"], "codec": "error-bound" if bounded else written}  # what the streams are
        attrs = {**plan["attrs"], META: json.dumps(meta)}
        if "network" in plan:  # the shared network's bytes, beside the streams that need it
            attrs[FORM_NETWORK] = np.frombuffer(plan["network"], dtype=np.uint8)
        data_vars[plan["name"]] = xr.Variable(tuple(meta["tile_dims"]), plan["streams"], attrs=attrs)
        for tile_dim, sizes in zip(meta["tile_dims"], meta["chunks"]):
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
            if tile_dim in tile_coords and not np.array_equal(tile_coords[tile_dim].values, starts):
                raise SceneError(
                    f"the variables are chunked differently along {tile_dim[len(TILE_PREFIX):]!r}; chunk the "
                    f"Dataset uniformly (ds.chunk(...)) or compress them one at a time with var="
                )
            along = tile_dim[len(TILE_PREFIX) :]
            long_name = {"long_name": f"first index of each tile along {along}"}
            tile_coords[tile_dim] = xr.Variable((tile_dim,), starts, attrs=long_name)
    coords = {name: coord.variable.compute() for name, coord in obj.coords.items()}
    for name in tile_coords:
        if name in coords:
            raise SceneError(f"coordinate {name!r} already exists; the compressed form needs that name for tiles")
    top = {"format": FORMAT, "version": FORMAT_VERSION, **top, "variables": [p["name"] for p in plans]}
    try:
        return xr.Dataset(
            data_vars, coords={**coords, **tile_coords}, attrs={**form_attrs, META: json.dumps(top)}
        )
    except ValueError as err:  # two variables tiled differently along the same dims
        raise SceneError(
            f"the variables are chunked differently along the same dims ({err}); chunk the Dataset "
            f"uniformly (ds.chunk(...)) or compress them one at a time with var="
        ) from None


def _pick_variables(ds: xr.Dataset, var, band_dim) -> list:
    if var is not None:
        names = [var] if isinstance(var, str) else list(var)
        missing = [n for n in names if n not in ds.data_vars]
        if missing:
            raise SceneError(f"no data variable {missing} in this Dataset; it has {list(ds.data_vars)}")
        return names
    names = list(ds.data_vars)
    if not names:
        raise SceneError("this Dataset has no data variables to compress")
    problems = {}
    for name in names:
        try:
            cube_dims(ds[name], find_band_dim(ds[name], band_dim))
        except SceneError as err:
            problems[name] = str(err)
    if problems and len(names) == 1:
        raise SceneError(problems[names[0]])
    if problems:
        listed = "; ".join(f"{n!r}: {why}" for n, why in problems.items())
        raise SceneError(
            f"not every data variable is a (band, row, column) cube ({listed}); pick the cubes with "
            f"var=[...] (the others are not kept in the compressed form)"
        )
    return names


def _plan(name, array: xr.DataArray, *, kind, band_dim, extra_attrs, all_dims) -> dict:
    """Everything needed to encode one variable, and the description that rebuilds it."""
    if not isinstance(name, str):
        raise SceneError(f"variable names must be strings, got {name!r}")
    label = "the DataArray" if kind == "DataArray" else f"variable {name!r}"
    bd = find_band_dim(array, band_dim)
    band, row, col = cube_dims(array, bd)
    dtype = np.dtype(array.dtype)
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating) or dtype == bool):
        raise SceneError(f"{label} has dtype {dtype}: only integer, float or bool scenes can be compressed")
    tile_dims = [f"{TILE_PREFIX}{row}", f"{TILE_PREFIX}{col}"]
    clash = [d for d in tile_dims if d in all_dims]
    if clash:
        raise SceneError(f"{label}: dims {clash} already exist; the compressed form needs those names for tiles")
    wavelengths = wavelengths_of(array, bd, more_attrs=extra_attrs)
    nodata = nodata_of(array)
    cube = array.variable.transpose(band, row, col)
    shape = [int(s) for s in cube.shape]
    if array.chunks is not None:
        data = cube.data.rechunk({0: -1})
        chunks = [list(map(int, data.chunks[1])), list(map(int, data.chunks[2]))]
        band_chunks = list(map(int, cube.data.chunks[0]))
    else:
        data = cube.values
        chunks = [[shape[1]], [shape[2]]]
        band_chunks = None
    if nodata is not None:
        fill = nodata
    else:
        fill = float("nan") if np.issubdtype(dtype, np.floating) else 0
    meta = {
        "dims": list(array.dims),
        "band_dim": band,
        "spatial_dims": [row, col],
        "tile_dims": tile_dims,
        "shape": shape,
        "dtype": dtype.name,
        "chunks": chunks,
        "band_chunks": band_chunks,
        "lazy": array.chunks is not None,
        "fill": fill,
        "encoding": {k: v for k, v in array.encoding.items() if k == "grid_mapping" and isinstance(v, str)},
    }
    return {
        "name": name,
        "label": label,
        "data": data,
        "wavelengths": wavelengths,
        "nodata": nodata,
        "attrs": dict(array.attrs),
        "meta": meta,
    }


def _tile_where(label, chunks, spatial_dims, i: int, j: int) -> str:
    rows, cols = chunks
    r0, c0 = sum(rows[:i]), sum(cols[:j])
    row, col = spatial_dims
    return f"{label}, tile ({i}, {j}) = {row} {r0}:{r0 + rows[i]}, {col} {c0}:{c0 + cols[j]}"


def _where(plan, i: int, j: int) -> str:
    return _tile_where(plan["label"], plan["meta"]["chunks"], plan["meta"]["spatial_dims"], i, j)


def _encode_all(plans, settings, progress: bool, compute: bool) -> None:
    """Fill ``plan["streams"]``: eager for NumPy data, one Dask task per tile otherwise (lazy if not ``compute``)."""
    lazy = []
    for plan in plans:
        kwargs = dict(wavelengths=plan["wavelengths"], nodata=plan["nodata"], **plan.get("settings", settings))
        if "network" in plan:  # each task loads it (once per process): threads and dask.distributed alike
            kwargs["network_blob"] = plan["network"]
        if not plan["meta"]["lazy"] and compute:
            streams = np.empty((1, 1), dtype=object)
            streams[0, 0] = encode_tile(plan["data"], **kwargs, progress=progress, where=_where(plan, 0, 0))
            plan["streams"] = streams
        else:
            plan["streams"] = _stream_grid(plan, kwargs)
            lazy.append(plan)
    if compute and lazy:
        from .progress import compute as compute_with_progress

        tiles = sum(p["streams"].size for p in lazy)
        grids = compute_with_progress(*(p["streams"] for p in lazy), total=tiles, desc="encoding", progress=progress)
        for plan, grid in zip(lazy, grids):
            plan["streams"] = grid
    for plan in plans:
        plan.pop("data")


def _stream_grid(plan, kwargs):
    """A Dask array (tile grid, object dtype) whose every block is one tile's stream: one task per tile."""
    import dask.array as da
    from dask.base import tokenize

    data = plan["data"]
    if not isinstance(data, da.Array):
        data = da.from_array(data, chunks=-1)
    rows, cols = plan["meta"]["chunks"]
    where = dict(label=plan["label"], chunks=plan["meta"]["chunks"], spatial_dims=plan["meta"]["spatial_dims"])
    return data.map_blocks(
        _encode_block,
        drop_axis=0,
        chunks=((1,) * len(rows), (1,) * len(cols)),
        dtype=object,
        meta=np.empty((0, 0), dtype=object),
        name=f"encode_tile-{tokenize(data, kwargs, where)}",
        where=where,
        **kwargs,
    )


def _encode_block(block, *, where, block_info=None, **kwargs) -> np.ndarray:
    """One Dask block (bands, rows, columns) -> a 1 x 1 object array holding its stream."""
    _, i, j = block_info[0]["chunk-location"]
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = encode_tile(block, **kwargs, progress=False, where=_tile_where(**where, i=i, j=j))
    return cell


def encode_tile(
    block, *, wavelengths, nodata, codec, bpppb, psnr, device, options, progress, where, network_blob=None
) -> bytes:
    """One tile (bands, rows, columns) -> one codec stream; b"" for a tile that is all nodata.

    Runs on a Dask worker for chunked input. Errors name the tile.
    """
    if network_blob is not None:
        from torchgeo_inr import archive_network

        if not archive_network.is_loaded(options["network"]):  # once per process, not a hash per tile
            archive_network.load(network_blob)
    block = np.asarray(block)
    masked = None
    if np.issubdtype(block.dtype, np.floating):
        masked = np.isnan(block)
        if nodata is not None:
            hit = block == nodata
            if hit.any() and masked.any():
                raise SceneError(
                    f"{where}: holds both NaN and the nodata value {nodata:g}; one fill value is given "
                    f"back for both, so make them one (e.g. .where(x != {nodata:g}))"
                )
            if not hit.any():
                nodata = None  # only NaN here: given back as NaN
            masked = masked | hit
    elif nodata is not None:
        masked = block == nodata
    if masked is not None and masked.all():
        tile_done()
        return b""
    try:
        scene = Scene.from_array(block, wavelengths=wavelengths, nodata=nodata, band_axis=0)
        stream = engine.encode(
            scene, codec, bpppb=bpppb, psnr=psnr, device=device, progress=progress, **(options or {})
        )
    except InrError as err:
        raise _located(err, where) from None
    except Exception as err:  # a codec bug: keep its type, say which tile
        err.add_note(f"while encoding {where}")
        raise
    tile_done()
    return stream


def _located(err: InrError, where: str) -> InrError:
    message = f"{where}: {err}"
    if isinstance(err, RateError):
        return RateError(message, smallest=err.smallest)
    try:
        return type(err)(message)
    except TypeError:
        return InrError(message)


# -- decompress ---------------------------------------------------------------------
def decompress(form: xr.Dataset, *, lazy: bool | None = None, device=None, tiles_per_task: int | None = None):
    """The DataArray or Dataset that was compressed: same dims, coords, attrs and dtype.

    ``lazy=None`` follows the input (Dask in, Dask out with the same chunks;
    NumPy in, NumPy out; a lazy form gives a lazy graph on its encode tasks);
    ``True`` or ``False`` forces it. ``device`` decodes neural tiles there
    (default: :func:`.decode_device.current`: the CPU unless chosen). ``tiles_per_task``
    tiles of a row are decoded by one Dask task (default: 1 on the CPU, a
    whole row on another device, which then gets fewer, larger calls: chunks
    of a shared latent-grid network in one task share a forward pass).
    """
    top = form_meta(form)
    device = devices.current(device)
    if tiles_per_task is not None and (isinstance(tiles_per_task, bool) or int(tiles_per_task) < 1):
        raise ValueError(f"tiles_per_task must be a positive integer, got {tiles_per_task!r}")
    variables = {}
    tile_dims: set = set()
    for name in top["variables"]:
        meta = variable_meta(form, name)
        tile_dims.update(meta["tile_dims"])
        grid = form[name].data
        pending = not isinstance(grid, np.ndarray)
        lazy_here = (meta["lazy"] or pending) if lazy is None else lazy
        per_task = tiles_per_task or (len(meta["chunks"][1]) if devices.is_accelerator(device) else 1)
        load_form_network(form[name], name, meta.get("network"))  # once per process, checked by its sha256
        values = _decode_variable(grid, meta, name, lazy=lazy_here, device=device, tiles_per_task=per_task)
        attrs = {k: v for k, v in form[name].attrs.items() if k not in (META, FORM_NETWORK)}
        band, row, col = meta["band_dim"], *meta["spatial_dims"]
        variable = xr.Variable((band, row, col), values, attrs=attrs).transpose(*meta["dims"])
        variable.encoding.update(meta.get("encoding") or {})
        variables[name] = variable
    coords = {k: c.variable for k, c in form.coords.items() if not (set(c.dims) & tile_dims) and k not in tile_dims}
    attrs = {k: v for k, v in form.attrs.items() if k != META}
    if top.get("kind") == "DataArray":
        ((key, variable),) = variables.items()
        dims = set(variable.dims)
        own = {k: c for k, c in coords.items() if set(c.dims) <= dims}
        out = xr.DataArray(
            variable.data, dims=variable.dims, coords=own, attrs=variable.attrs, name=top.get("name")
        )
        out.encoding.update(variable.encoding)
        return out
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _decode_variable(grid, meta: dict, name, *, lazy: bool, device, tiles_per_task: int = 1):
    shape = meta["shape"]
    rows, cols = meta["chunks"]
    dtype = np.dtype(meta["dtype"])
    where = dict(label=f"variable {name!r}", chunks=meta["chunks"], spatial_dims=meta["spatial_dims"])
    tile = dict(bands=shape[0], rows=rows, cols=cols, dtype_name=dtype.name, fill=meta["fill"], device=device, where=where)

    if not lazy:
        return _decode_tiles(np.asarray(grid), (0, len(rows)), (0, len(cols)), **tile)
    import dask.array as da
    from dask.base import tokenize

    if isinstance(grid, np.ndarray):
        grid = da.from_array(grid, chunks=1, name=f"streams-{tokenize(grid)}")
    grid = grid.rechunk((1, tiles_per_task))
    col_groups = tuple(sum(cols[j : j + tiles_per_task]) for j in range(0, len(cols), tiles_per_task))
    array = grid.map_blocks(
        _decode_block,
        new_axis=0,
        chunks=((shape[0],), tuple(rows), col_groups),
        dtype=dtype,
        meta=np.empty((0, 0, 0), dtype=dtype),
        name=f"decode_tile-{tokenize(grid, tile)}",
        **tile,
    )
    chunks = (tuple(meta.get("band_chunks") or (shape[0],)), tuple(rows), tuple(cols))
    return array if array.chunks == chunks else array.rechunk(chunks)


def _decode_block(cells, *, block_info=None, **tile) -> np.ndarray:
    """One Dask block of the stream grid (1 x k tiles) -> those tiles decoded side by side."""
    (i0, i1), (j0, j1) = block_info[0]["array-location"]
    return _decode_tiles(cells, (i0, i1), (j0, j1), **tile)


def _decode_tiles(cells, tile_rows, tile_cols, *, bands, rows, cols, dtype_name, fill, device, where) -> np.ndarray:
    """Tiles ``tile_rows`` x ``tile_cols`` of the grid (``cells`` holds their streams) as one (bands, h, w) block."""
    (i0, i1), (j0, j1) = tile_rows, tile_cols
    height, width = sum(rows[i0:i1]), sum(cols[j0:j1])
    out = np.empty((bands, height, width), dtype=np.dtype(dtype_name))
    batched = _decode_shared_chunks(cells, device) if cells.size > 1 else {}
    r0 = 0
    for i in range(i0, i1):
        c0 = 0
        for j in range(j0, j1):
            h, w = rows[i], cols[j]
            out[:, r0 : r0 + h, c0 : c0 + w] = decode_tile(
                cells[i - i0, j - j0], (bands, h, w), dtype_name, fill, device, _tile_where(**where, i=i, j=j),
                decoded=batched.get((i - i0, j - j0)),
            )
            c0 += w
        r0 += rows[i]
    return out


def _decode_shared_chunks(cells, device) -> dict:
    """The tiles of ``cells`` that are latent-grid chunks of an archive network, decoded together: position in
    ``cells`` -> Scene, or the error that tile's own decode raises (:func:`decode_tile` words it).

    Their latents are entropy-decoded one by one, and tiles of one shape share one forward pass of the network
    (:func:`~torchgeo_inr.codecs.latent_grid_batch.decode_chunks`). Any other tile (another codec, an empty
    or unreadable stream) is left to :func:`decode_tile`; so is a lone chunk.
    """
    picked = {}
    for pos, cell in np.ndenumerate(cells):
        if not isinstance(cell, (bytes, bytearray, memoryview)) or len(cell) == 0:
            continue
        try:
            stream = bitstream.unpack(bytes(cell))
        except InrError:  # decode_tile raises it again, naming the tile
            continue
        if stream.codec == "latent-grid" and "net" in stream.sections:
            picked[pos] = stream
    if len(picked) < 2:
        return {}
    from torchgeo_inr.codecs import latent_grid_batch

    picked = {pos: s for pos, s in picked.items() if latent_grid_batch.is_chunk(s)}
    if len(picked) < 2:
        return {}
    return dict(zip(picked, latent_grid_batch.decode_chunks(list(picked.values()), device)))


def decode_tile(stream, shape, dtype, fill, device, where, decoded=None) -> np.ndarray:
    """One stream -> (bands, rows, columns) in the original dtype; an empty stream is all ``fill``.

    ``decoded``: the stream's Scene (or the error its decode raised) when it was decoded in a batch
    (:func:`_decode_shared_chunks`); the checks and messages are the same either way.
    """
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    if not isinstance(stream, (bytes, bytearray, memoryview)):
        raise BitstreamError(f"{where}: expected a byte string, found {type(stream).__name__}")
    if len(stream) == 0:
        return np.full(shape, fill, dtype=dtype)
    try:
        if isinstance(decoded, Exception):
            raise decoded
        scene = engine.decode(bytes(stream), device=device) if decoded is None else decoded
    except InrError as err:
        raise _located(err, where) from None
    if scene.shape != shape:
        raise BitstreamError(f"{where}: the stream holds a {scene.shape} scene, the tile is {shape}")
    values = scene.to_numpy()
    return values if values.dtype == dtype else values.astype(dtype)
