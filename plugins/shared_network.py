"""Archive networks in a Zarr store: fitted on the array's tiles, stored once beside it, loaded once per process.

Why here: the engine (:mod:`torchgeo_inr.archive_network`) knows the
network's bytes, not where they live. In a Zarr store they live beside the
array's metadata, under ``<array>/torchgeo_inr_network.<sha256>``; the
array's codec configuration names the sha256 (``options.network``), and
every chunk's stream records it too. The codec loads the network from the
store the first time a chunk of the array is read or written in a process
(:func:`ensure`), checks its hash, and keeps it; a missing or damaged
network is a :class:`~torchgeo_inr.archive_network.SharedNetworkError` that
names its key. Its bytes are counted in the archive's rate: the chunks'
target is what is left of the budget once the network is paid.

In a compressed form (``ds.chunk(...).inr.compress(..., shared=True)``) the
network's bytes ride in the stream variable's ``torchgeo_inr_network``
attribute (a uint8 array, which ``to_file`` keeps without pickle), are
counted in ``nbytes``, and go to each encode task (so ``dask.distributed``
workers load it too). ``pca-jpeg2000`` shares its basis through
``pca-jpeg2000-shared`` (:data:`SHARED_VARIANT`).
"""

from __future__ import annotations

import math

import numpy as np

from torchgeo_inr import archive_network
from torchgeo_inr.archive_network import SharedNetworkError
from torchgeo_inr.errors import SceneError
from torchgeo_inr.registry import get_codec
from torchgeo_inr.scene import Scene

from .zarr_chunks import CODEC_NAME, locate

__all__ = [
    "FORM_ATTR", "NETWORK_PREFIX", "SHARED_VARIANT", "ensure", "ensure_sync", "fit_for_array", "form_network",
    "load_form_network", "load_from_store", "network_key", "network_of", "sample_tiles", "share_plans",
    "write_network",
]

#: Codecs whose shared form is another codec (``pca-jpeg2000`` keeps its own stream layout).
SHARED_VARIANT = {"pca-jpeg2000": "pca-jpeg2000-shared"}
#: Store key (beside the array's ``zarr.json``) of an array's network, followed by ``.<sha256>``.
NETWORK_PREFIX = "torchgeo_inr_network"
#: Attribute of a compressed form's stream variable holding its network's bytes (a uint8 array: no pickle).
FORM_ATTR = "torchgeo_inr_network"


def network_key(array_path: str, sha256: str) -> str:
    name = f"{NETWORK_PREFIX}.{sha256}"
    return f"{array_path}/{name}" if array_path else name


def _array_path(byte_getter, ndim: int) -> str | None:
    array, _, _ = locate(byte_getter, ndim)
    return array  # "" for an array at the store's root, None when the path is not a chunk key


def _where(store, key: str) -> str:
    return f"shared network {key!r} in {store}"


def _plan(codec, byte_getter, ndim: int):
    """(sha256, store, key) of the network to load for this chunk, or None when there is nothing to load."""
    sha = codec.codec_options.get("network")
    if not sha or archive_network.is_loaded(sha):
        return None
    store = getattr(byte_getter, "store", None)
    path = _array_path(byte_getter, ndim)
    if store is None or path is None:  # zarr's generic path: the codec cannot see the store
        raise SharedNetworkError(
            f"chunks of this array were written against shared network {sha}, which is not loaded, and zarr did "
            "not tell the codec where the array lives (other codecs or sharding in the chain); load it with "
            "torchgeo_inr.plugins.shared_network.load_from_store(array)"
        )
    return sha, store, network_key(path, sha)


def _load(blob, sha: str, store, key: str) -> None:
    if blob is None:
        raise SharedNetworkError(f"{_where(store, key)} is missing: the array's chunks need it to decode")
    archive_network.load(blob.to_bytes(), expected=sha, where=_where(store, key))


def ensure_sync(codec, byte_getter, ndim: int) -> None:
    """Load the array's network from the store if ``codec`` (an ``InrCodec``) uses one and it is not loaded."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    plan = _plan(codec, byte_getter, ndim)
    if plan is not None:
        sha, store, key = plan
        _load(sync(store.get(key, prototype=default_buffer_prototype())), sha, store, key)


async def ensure(codec, byte_getter, ndim: int) -> None:
    """:func:`ensure_sync` for zarr's async path."""
    from zarr.core.buffer import default_buffer_prototype

    plan = _plan(codec, byte_getter, ndim)
    if plan is not None:
        sha, store, key = plan
        _load(await store.get(key, prototype=default_buffer_prototype()), sha, store, key)


def write_network(array, blob: bytes) -> str:
    """Store ``blob`` beside ``array`` (a zarr array); returns its key."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    store_path = array.store_path
    key = network_key(store_path.path, archive_network.digest(blob))
    sync(store_path.store.set(key, default_buffer_prototype().buffer.from_bytes(blob)))
    return key


def load_from_store(array) -> archive_network.SharedNetwork | None:
    """Load the network ``array`` (a zarr array) names in its codec configuration; None if it names none."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    sha = network_of(array)
    if sha is None:
        return None
    store_path = array.store_path
    key = network_key(store_path.path, sha)
    blob = sync(store_path.store.get(key, prototype=default_buffer_prototype()))
    _load(blob, sha, store_path.store, key)
    return archive_network.get(sha)


def network_of(array) -> str | None:
    """The sha256 of the network an array's codec configuration names, or None."""
    for codec in array.metadata.to_dict().get("codecs") or []:
        if isinstance(codec, dict) and codec.get("name") == CODEC_NAME:
            options = (codec.get("configuration") or {}).get("options") or {}
            return options.get("network")
    return None


def sample_tiles(cube, rows: list[int], cols: list[int], sample=None, wavelengths=None) -> list[Scene]:
    """The tiles (bands, rows, columns) of ``cube`` cut by ``rows`` x ``cols`` that a network is fitted on.

    ``cube`` is (bands, rows, columns), or (..., bands, rows, columns) for many scenes (a time axis) cut
    alike; a NumPy or Dask array: only the picked tiles are read (computed), one at a time, so an archive
    larger than memory can be fitted on a sample of it. ``sample``: None (all), a count (spread evenly over
    the tiles, scene by scene in row order) or a list of flat tile indices. Tiles holding NaN are left out.
    """
    scenes = cube.reshape(-1, *cube.shape[-3:])
    r0 = np.concatenate([[0], np.cumsum(rows)])
    c0 = np.concatenate([[0], np.cumsum(cols)])
    boxes = [(t, r0[i], r0[i + 1], c0[j], c0[j + 1])
             for t in range(scenes.shape[0]) for i in range(len(rows)) for j in range(len(cols))]
    if sample is None:
        picked = range(len(boxes))
    elif isinstance(sample, (int, np.integer)):
        if int(sample) < 1:
            raise ValueError(f"sample must be a positive number of tiles, got {sample}")
        picked = sorted({int(round(i)) for i in np.linspace(0, len(boxes) - 1, min(int(sample), len(boxes)))})
    else:
        picked = [int(i) for i in sample]
    tiles = []
    for i in picked:
        t, a, b, c, d = boxes[i]
        tile = np.asarray(scenes[t, :, a:b, c:d], dtype=np.float32)
        if not np.isnan(tile).any():
            tiles.append(Scene.from_array(tile, wavelengths=wavelengths))
    if not tiles:
        raise SceneError("no tile without NaN to fit the shared network on")
    return tiles


def fit_for_array(codec: str, options: dict, cube, rows: list[int], cols: list[int], *, bpppb: float,
                  sample=None, wavelengths=None, steps=None, progress: bool = True,
                  network_options: dict | None = None) -> tuple[bytes, float, str]:
    """(network bytes, the chunks' own bpppb, the chunks' codec): one network for ``cube`` fitted on its tiles,
    loaded in this process. ``pca-jpeg2000`` chunks become ``pca-jpeg2000-shared`` (:data:`SHARED_VARIANT`).

    The chunks' target is what the archive's ``bpppb`` leaves once the network is paid, so the network and
    every chunk together stay within it. ``network_options`` go to the codec for the fit only (e.g. meta-siren's
    ``base_config``), not into the array's configuration.
    """
    if bpppb is None:
        raise SceneError("a shared network needs a bpppb target (the archive's rate, network included)")
    codec = SHARED_VARIANT.get(codec, codec)
    chosen = get_codec(codec, **{k: v for k, v in options.items() if k != "network"}, **(network_options or {}))
    if not chosen.shares_network:
        raise SceneError(f"codec {codec!r} cannot share a network across chunks (latent-grid, meta-siren and "
                         "pca-jpeg2000 can)")
    tiles = sample_tiles(cube, rows, cols, sample, wavelengths)
    scenes = cube.size // math.prod(cube.shape[-3:])
    # many scenes: the network serves all their pixels, as one (bands, scenes x rows, columns) array would
    shape = (cube.shape[-3], scenes * cube.shape[-2], cube.shape[-1])
    blob = chosen.fit_network(tiles, bpppb=bpppb, shape=shape, chunks=scenes * len(rows) * len(cols),
                              progress=progress, steps=steps)
    archive_network.load(blob)
    left = bpppb * cube.size / 8.0 - len(blob)
    if left <= 0:
        raise SceneError(f"the {codec} network ({len(blob)} bytes) is over the archive's budget at {bpppb} bpppb")
    return blob, 8.0 * left / cube.size, codec


# -- compressed forms (``ds.chunk(...).inr.compress(..., shared=True)``) ---------------------------


def share_plans(plans: list[dict], settings: dict, *, sample=None, steps=None, progress: bool = True,
                network_options: dict | None = None) -> None:
    """Fit one network per planned variable of a compressed form; each plan gets its own ``settings``
    (the chunks' rate and the network's sha256) and ``network`` (its bytes)."""
    from torchgeo_inr.archive_network import digest

    for plan in plans:
        rows, cols = plan["meta"]["chunks"]
        cube = plan["data"]  # NumPy or Dask: the fit reads only the tiles it is fitted on
        options = dict(settings.get("options") or {})
        blob, chunk_bpppb, codec = fit_for_array(settings["codec"], options, cube, rows, cols,
                                                 bpppb=settings["bpppb"], sample=sample, wavelengths=plan["wavelengths"],
                                                 steps=steps, progress=progress, network_options=network_options)
        sha = digest(blob)
        plan["settings"] = {**settings, "codec": codec, "bpppb": chunk_bpppb, "options": {**options, "network": sha}}
        plan["network"] = blob
        plan["meta"]["network"] = sha
        plan["wavelengths"] = None  # the network holds what tiles share; the form keeps them as coordinates


def form_network(variable) -> bytes | None:
    """The network bytes a stream variable of a form holds, or None."""
    value = variable.attrs.get(FORM_ATTR)
    return None if value is None else np.asarray(value, dtype=np.uint8).tobytes()


def load_form_network(variable, name, sha: str | None) -> bytes | None:
    """Load (and check) the network of a form's stream variable; its bytes, or None when it has none."""
    blob = form_network(variable)
    if sha is None and blob is None:
        return None
    where = f"shared network of variable {name!r} (attribute {FORM_ATTR!r})"
    if blob is None:
        raise SharedNetworkError(f"{where} is missing: the variable's tiles need it to decode")
    archive_network.load(blob, expected=sha, where=where)
    return blob
