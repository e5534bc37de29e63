"""A Zarr v3 array-to-bytes codec whose chunks are torchgeo-inr streams.

Each chunk of the array becomes one scene, compressed by a codec of the
registry (any name :func:`torchgeo_inr.available_codecs` lists: the neural
``hiner``, ``siren``, ``meta-siren`` or a classical one) into the package's one bitstream:
the chunk file *is* a stream that :func:`torchgeo_inr.decode` reads. The
weights live in the chunk; ``zarr.json`` holds only the configuration::

    {"name": "torchgeo_inr.inr",
     "configuration": {"codec": "pca-jpeg2000", "bpppb": 0.1, "band_axis": 0}}

Zarr finds the class through the ``zarr.codecs`` entry point of the same
name (``pyproject.toml``), so ``zarr.open`` / ``xr.open_zarr`` read such an
array with nothing imported by hand. Use it as the array's *serializer*,
with no compressors (a lossy stream is already entropy coded)::

    import zarr
    from torchgeo_inr.plugins.zarr_codec import InrCodec

    arr = zarr.create_array(store, shape=(200, 145, 145), chunks=(200, 145, 145), dtype="uint16",
                            serializer=InrCodec(codec="pca-jpeg2000", bpppb=0.1, band_axis=0),
                            compressors=None)
    arr[:] = cube

What zarr does not tell a codec, and how this one copes:

- **Which chunk.** Zarr's codec API passes no chunk key. This codec is also
  a *partial* decoder/encoder, so for an array whose only codec it is
  (``compressors=None``, no filters) zarr hands it the store path of each
  chunk: a chunk that cannot be decoded raises :class:`ChunkDecodeError`
  naming the array and the chunk key (``array 'reflectance', chunk
  'c/0/1/0'``); inside a shard it names the inner chunk's coordinates. With
  other codecs in the chain zarr takes its generic path and the error names
  the chunk's shape only; :func:`torchgeo_inr.plugins.zarr_store.verify`
  then finds the keys. Either way the other chunks read normally. Where
  zarr names the chunk on writing, its stream records the array and grid
  position (counted in the rate), and reading it from another chunk's place
  (chunks swapped, or one copied over another) is a :class:`ChunkDecodeError`.
- **Partial writes.** Writing part of a chunk that is already stored would
  decode the lossy chunk, merge, and encode it again, losing quality at
  each write. That is refused with :class:`PartialChunkWriteError`. Writing
  part of a chunk that is not stored yet is allowed (the rest is the fill
  value), and so is rewriting everything a stored chunk holds. On that
  path, edge chunks (the ragged border of the array) are encoded without
  their padding; on zarr's generic path they are encoded padded with the
  fill value, as zarr hands them over.
- **Empty chunks.** A chunk equal to the fill value everywhere is not
  stored (zarr's default ``write_empty_chunks=False``); one that is all NaN
  is never stored (it has nothing to compress) and reads back as the fill
  value, so give float arrays ``fill_value=NaN``. NaN inside a chunk is
  kept: the stream carries the nodata mask.

Chunks are decoded on the CPU unless a device is chosen for the process
(``with torchgeo_inr.plugins.decode_device.decode_device("cuda"):`` or
``TORCHGEO_INR_DEVICE=cuda``): a reading choice, never written in ``zarr.json``.

The rate target (``bpppb`` or ``psnr``) applies to each chunk: a chunk
file is at most ``bpppb / 8`` bytes per element it encodes, every stream
header counted (the array's ``zarr.json`` comes on top, once per array).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.abc.codec import (
    ArrayBytesCodec,
    ArrayBytesCodecPartialDecodeMixin,
    ArrayBytesCodecPartialEncodeMixin,
)
from zarr.core.common import parse_named_configuration

from torchgeo_inr import bitstream
from torchgeo_inr.codecs.error_bound import bound_option
from torchgeo_inr.compress import DEFAULT_CODEC, decode, encode
from torchgeo_inr.errors import BitstreamError, InrError, SceneError
from torchgeo_inr.ratecontrol import DEFAULT_BPPPB
from torchgeo_inr.scene import Scene
from torchgeo_inr.scene_header import decode_scene_header

from . import shared_network
from .zarr_chunks import CODEC_NAME
from .zarr_chunks import locate as _locate
from .decode_device import current as decode_device
from .progress import tile_done

if TYPE_CHECKING:
    from typing import Self

    from zarr.abc.store import ByteGetter, ByteSetter
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer
    from zarr.core.indexing import SelectorTuple

__all__ = [
    "CODEC_NAME",
    "ChunkDecodeError",
    "ChunkEncodeError",
    "InrCodec",
    "PartialChunkWriteError",
    "chunk_from_stream",
    "chunk_to_stream",
]

#: The codec's name in ``zarr.json`` and in the ``zarr.codecs`` entry point.

#: Said where zarr did not tell the codec which chunk it is decoding.
_NO_KEY_HINT = (
    " (zarr does not tell a codec which chunk this is on this path; "
    "torchgeo_inr.plugins.zarr_store.verify(store) lists damaged chunks by key)"
)

_CONFIG_KEYS = ("codec", "bpppb", "psnr", "band_axis", "options", "wavelengths", "max_error", "relative_error")


# -- errors -------------------------------------------------------------------
class _ChunkError(InrError, ValueError):
    """An error about one chunk; ``array`` and ``key`` say which, where zarr told us."""

    def __init__(self, message: str, *, array: str | None = None, key: str | None = None):
        super().__init__(message)
        self.array = array
        self.key = key


class ChunkDecodeError(_ChunkError):
    """A chunk could not be decoded: damaged bytes, a newer stream version, a missing codec or network."""


class ChunkEncodeError(_ChunkError):
    """A chunk could not be encoded (the rate cannot be reached, bad values...)."""


class PartialChunkWriteError(_ChunkError):
    """A write would decode a stored lossy chunk, change part of it and encode it again."""


class _DecodedChunk(np.ndarray):
    """Marks values that came out of a lossy chunk.

    Zarr's generic write path (used when other codecs are in the chain, and
    for Zarr v2) reads, decodes and merges a stored chunk before encoding it
    again; the merged array is a copy of what this codec decoded and keeps
    this class, so the encoder can tell a read-modify-write from fresh data.
    Arrays handed to users are zarr's own output buffers, never this class.
    """


# -- chunk <-> stream ------------------------------------------------------------
def _band_axis(band_axis: int, ndim: int) -> int:
    if ndim < 2:
        raise SceneError(f"a chunk must have at least 2 axes (bands and space); got {ndim}")
    if not -ndim <= band_axis < ndim:
        raise SceneError(f"band_axis={band_axis} does not exist in a {ndim}-D chunk")
    return band_axis % ndim


def _to_cube(array: np.ndarray, band_axis: int) -> np.ndarray:
    """(B, H, W) view of a chunk: the band axis first, the other axes merged into H x W."""
    b = _band_axis(band_axis, array.ndim)
    x = np.moveaxis(array, b, 0)
    rest = x.shape[1:]
    if len(rest) == 1:
        return x[:, None, :]
    if len(rest) == 2:
        return x
    return x.reshape(x.shape[0], math.prod(rest[:-1]), rest[-1])


def _from_cube(cube: np.ndarray, shape: tuple[int, ...], band_axis: int) -> np.ndarray:
    """Inverse of :func:`_to_cube` for a chunk of ``shape``."""
    b = _band_axis(band_axis, len(shape))
    moved = (shape[b], *shape[:b], *shape[b + 1 :])
    if math.prod(cube.shape) != math.prod(moved) or cube.shape[0] != moved[0]:
        raise InrError(f"stream holds a {cube.shape} scene, which is not a chunk of shape {shape}")
    return np.moveaxis(cube.reshape(moved), 0, b)


def _box_of_cube(cube_shape: tuple[int, ...], ndim: int, band_axis: int) -> tuple[int, ...] | None:
    """Chunk-shaped extent of a (B, H, W) stream, for chunks of 2 or 3 axes (else unknown)."""
    b = _band_axis(band_axis, ndim)
    bands, height, width = cube_shape
    if ndim == 2:
        if height != 1:
            return None
        rest = (width,)
    elif ndim == 3:
        rest = (height, width)
    else:
        return None
    return (*rest[:b], bands, *rest[b:])


def chunk_to_stream(
    array: np.ndarray,
    *,
    codec: str = DEFAULT_CODEC,
    bpppb: float | None = None,
    psnr: float | None = None,
    band_axis: int = 0,
    options: dict | None = None,
    wavelengths=None,
    reserve_bytes: int = 0,
) -> bytes:
    """One chunk (any layout, ``band_axis`` naming its bands) as a torchgeo-inr stream.

    ``reserve_bytes`` are kept free of the ``bpppb`` budget for what a caller
    adds to the stream's header afterwards.
    """
    array = np.asarray(array)
    cube = _to_cube(array, band_axis)
    if wavelengths is not None and len(wavelengths) != cube.shape[0]:
        raise SceneError(
            f"{len(wavelengths)} wavelengths configured but the chunk has {cube.shape[0]} bands: "
            "keep all bands in one chunk, or configure no wavelengths"
        )
    scene = Scene.from_array(cube, band_axis=0, wavelengths=wavelengths)
    if bpppb is not None and reserve_bytes:
        budget = math.floor(bpppb * cube.size / 8) - reserve_bytes
        bpppb = 8 * max(budget, 1) / cube.size
    return encode(scene, codec, bpppb=bpppb, psnr=psnr, progress=False, **(options or {}))


def chunk_from_stream(data, shape: tuple[int, ...], band_axis: int = 0) -> np.ndarray:
    """Values of one chunk of ``shape`` (original dtype, NaN restored) from its stream."""
    cube = decode(bytes(data), device=decode_device()).to_numpy()  # the CPU unless plugins.decode_device says
    return _from_cube(cube, tuple(shape), band_axis)


# -- which chunk a stream is -------------------------------------------------------
def chunk_identity(array: str | None, key: str | None) -> dict | None:
    """``{"array": name, "index": [grid position]}`` for a chunk zarr named, else None.

    The array is recorded by its last path component, so a store opened at a
    sub-group still matches; an array opened as the store's root has no name
    (``""``), and then only the position is compared.
    """
    if key is None:
        return None
    index = [int(p) for p in re.split(r"[./]", key) if p.isdigit()]
    if not index:
        return None
    return {"array": (array or "").rsplit("/", 1)[-1], "index": index}


def identity_bytes(identity: dict) -> int:
    """Bytes :func:`stamp_chunk_identity` adds to a stream's header."""
    return len(json.dumps({"chunk": identity}, separators=(",", ":")))


def stamp_chunk_identity(data: bytes, identity: dict) -> bytes:
    """The stream with its chunk identity in its scene description (checked by :func:`check_chunk_identity`)."""
    stream = bitstream.unpack(data)
    header = {**stream.header, "scene": {**stream.header["scene"], "chunk": identity}}
    return bitstream.pack(stream.codec, stream.codec_version, header, stream.sections)


def check_chunk_identity(data, array: str | None, key: str | None) -> None:
    """Refuse a stream that records another chunk's identity than the place it was read from."""
    where = chunk_identity(array, key)
    if where is None:
        return
    stored = decode_scene_header(bitstream.unpack(bytes(data)))["chunk"]
    if stored is None:  # written where zarr did not say which chunk it was
        return
    other_array = stored["array"] and where["array"] and stored["array"] != where["array"]  # "": opened as root
    if list(stored["index"]) != where["index"] or other_array:
        raise BitstreamError(
            f"this is chunk {list(stored['index'])} of array {stored['array']!r}, stored in the place of chunk "
            f"{where['index']} of array {where['array']!r}: chunks were swapped or copied over each other"
        )


# -- where a chunk lives ---------------------------------------------------------
# -- selections -----------------------------------------------------------------
def _axis_range(sel: Any, size: int) -> tuple[int, int] | None:
    """(start, stop) of a contiguous selection along one axis, None for anything else."""
    if isinstance(sel, (int, np.integer)):
        i = int(sel)
        return i, i + 1
    if isinstance(sel, slice) and sel.step in (None, 1):
        start = 0 if sel.start is None else int(sel.start)
        stop = size if sel.stop is None else min(int(sel.stop), size)
        return start, stop
    return None


def _is_complete(selection: SelectorTuple, shape: tuple[int, ...]) -> bool:
    if not isinstance(selection, tuple) or len(selection) != len(shape):
        return False
    for sel, size in zip(selection, shape, strict=True):
        rng = _axis_range(sel, size)
        if rng is None or rng[0] != 0 or rng[1] < size:
            return False
    return True


def _leading_box(selection: SelectorTuple, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The extent of a selection that starts at the chunk's origin, else None."""
    if not isinstance(selection, tuple) or len(selection) != len(shape):
        return None
    box = []
    for sel, size in zip(selection, shape, strict=True):
        rng = _axis_range(sel, size)
        if rng is None or rng[0] != 0 or rng[1] <= 0:
            return None
        box.append(rng[1])
    return tuple(box)


def _assign(target: np.ndarray, selection: SelectorTuple, value: np.ndarray) -> None:
    try:
        target[selection] = value
    except ValueError:  # axes zarr dropped from the value (integer indices)
        region = target[selection]
        target[selection] = np.asarray(value).reshape(np.shape(region))


def _all_fill(values: np.ndarray, fill) -> bool:
    if values.size == 0:
        return True
    if fill is None:
        return False
    fill = np.asarray(fill)
    if values.dtype.kind in "fc" and np.isnan(fill):
        return bool(np.isnan(values).all())
    return bool((values == fill).all())


def _all_nan(values: np.ndarray) -> bool:
    return values.dtype.kind in "fc" and bool(np.isnan(values).all())


def _fill_of(spec: ArraySpec):
    fill = spec.fill_value
    if fill is None:
        fill = spec.dtype.default_scalar()
    return fill


# -- the codec ------------------------------------------------------------------
def _freeze_option(key: str, value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze_option(key, v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"codec option {key}={value} is not a finite number")
        return value
    raise TypeError(
        f"codec option {key}={value!r} must be a JSON number, string, boolean, null or a list of them"
    )


def _thaw(value: Any) -> Any:
    return [_thaw(v) for v in value] if isinstance(value, tuple) else value


def _positive(name: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value}")
    return value


@dataclass(frozen=True)
class InrCodec(ArrayBytesCodec, ArrayBytesCodecPartialDecodeMixin, ArrayBytesCodecPartialEncodeMixin):
    """Zarr v3 serializer: each chunk is a torchgeo-inr stream.

    Parameters
    ----------
    codec
        Registry name of the codec that compresses each chunk (see
        :func:`torchgeo_inr.available_codecs`). Only encoding needs it: a
        stream names the codec that wrote it.
    bpppb, psnr
        The target of each chunk: bits per pixel per band, or per-band PSNR
        in dB. One of them; neither means ``bpppb=0.1``.
    band_axis
        Which axis of the array holds the bands (0 for (band, y, x), -1 for
        (y, x, band)). The other axes of a chunk are its pixels.
    options
        Keyword arguments of the codec's constructor (JSON values only).
    wavelengths
        Band centres in nm (kept to 0.001 nm), written into each chunk's
        stream (counted in the rate) for codecs that use them; needs all
        bands in every chunk.
    max_error, relative_error
        A bound on every valid value of each chunk (absolute, or a fraction of
        each band's range in the chunk; one number or one per band): the
        codec becomes the lossy layer of ``error-bound``. The bound wins over
        ``bpppb``/``psnr``, which are then optional and only reported on.
    """

    is_fixed_size = False

    codec: str
    bpppb: float | None
    psnr: float | None
    band_axis: int
    options: tuple[tuple[str, Any], ...]
    wavelengths: tuple[float, ...] | None
    max_error: Any
    relative_error: Any

    def __init__(
        self,
        *,
        codec: str = DEFAULT_CODEC,
        bpppb: float | None = None,
        psnr: float | None = None,
        band_axis: int = 0,
        options: dict | None = None,
        wavelengths=None,
        max_error=None,
        relative_error=None,
    ) -> None:
        if not isinstance(codec, str) or not codec:
            raise TypeError(f"codec must be a registry name, got {codec!r}")
        bpppb, psnr = _positive("bpppb", bpppb), _positive("psnr", psnr)
        if bpppb is not None and psnr is not None:
            raise ValueError("give either bpppb or psnr, not both")
        max_error, relative_error = bound_option("max_error", max_error), bound_option("relative_error", relative_error)
        if max_error is not None and relative_error is not None:
            raise ValueError("give either max_error or relative_error, not both")
        if bpppb is None and psnr is None and max_error is None and relative_error is None:
            bpppb = DEFAULT_BPPPB
        if isinstance(band_axis, bool) or not isinstance(band_axis, (int, np.integer)):
            raise TypeError(f"band_axis must be an integer, got {band_axis!r}")
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise TypeError(f"options must be a dict of codec constructor arguments, got {options!r}")
        frozen = tuple(sorted((str(k), _freeze_option(str(k), v)) for k, v in options.items()))
        if wavelengths is not None:
            # To 0.001 nm, as streams store them: short, exact JSON.
            wavelengths = tuple(
                round(float(w), 3) for w in np.asarray(wavelengths, dtype=np.float64).reshape(-1)
            )
            if not all(math.isfinite(w) for w in wavelengths):
                raise ValueError("wavelengths must be finite numbers (nm)")
        for name, value in (
            ("codec", codec),
            ("bpppb", bpppb),
            ("psnr", psnr),
            ("band_axis", int(band_axis)),
            ("options", frozen),
            ("wavelengths", wavelengths),
            ("max_error", tuple(max_error) if isinstance(max_error, list) else max_error),
            ("relative_error", tuple(relative_error) if isinstance(relative_error, list) else relative_error),
        ):
            object.__setattr__(self, name, value)

    # -- metadata ------------------------------------------------------------
    @property
    def codec_options(self) -> dict[str, Any]:
        """The codec's constructor arguments as a dict."""
        return {k: _thaw(v) for k, v in self.options}

    @property
    def bounds(self) -> dict[str, Any]:
        """``max_error``/``relative_error`` as :func:`torchgeo_inr.encode` takes them (empty: no bound)."""
        return {k: _thaw(getattr(self, k)) for k in ("max_error", "relative_error") if getattr(self, k) is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        _, config = parse_named_configuration(data, CODEC_NAME, require_configuration=False)
        config = dict(config or {})
        unknown = sorted(set(config) - set(_CONFIG_KEYS))
        if unknown:
            raise ValueError(
                f"{CODEC_NAME} configuration has keys {unknown} that this torchgeo-inr does not know "
                f"(it reads {list(_CONFIG_KEYS)}); the array was probably written by a newer "
                "torchgeo-inr: upgrade it"
            )
        return cls(**config)

    def to_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {"codec": self.codec}
        if self.psnr is not None:
            config["psnr"] = self.psnr
        elif self.bpppb is not None:
            config["bpppb"] = self.bpppb
        for bound in ("max_error", "relative_error"):
            if getattr(self, bound) is not None:
                config[bound] = _thaw(getattr(self, bound))
        config["band_axis"] = self.band_axis
        if self.options:
            config["options"] = self.codec_options
        if self.wavelengths is not None:
            config["wavelengths"] = list(self.wavelengths)
        return {"name": CODEC_NAME, "configuration": config}

    def validate(self, *, shape, dtype, chunk_grid) -> None:
        native = dtype.to_native_dtype()
        if native.kind not in "biuf":
            raise TypeError(f"{CODEC_NAME} compresses integer, boolean or float arrays, not {native}")
        _band_axis(self.band_axis, len(shape))

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        raise NotImplementedError(f"{CODEC_NAME} writes variable-size chunks")

    # -- values <-> bytes ----------------------------------------------------
    def _stream(self, values: np.ndarray, reserve_bytes: int = 0) -> bytes:
        return chunk_to_stream(
            values,
            codec=self.codec,
            bpppb=self.bpppb,
            psnr=self.psnr,
            band_axis=self.band_axis,
            options={**self.codec_options, **self.bounds},
            wavelengths=self.wavelengths,
            reserve_bytes=reserve_bytes,
        )

    def _values(self, raw, spec: ArraySpec) -> np.ndarray:
        """A chunk of ``spec.shape`` from its stream; a cropped (edge) stream is padded with the fill value."""
        shape = tuple(spec.shape)
        dtype = spec.dtype.to_native_dtype()
        data = bytes(raw)
        cube = decode(data, device=decode_device()).to_numpy()
        box = _box_of_cube(cube.shape, len(shape), self.band_axis)
        if box is not None and box != shape:
            if any(b > s for b, s in zip(box, shape, strict=True)):
                raise InrError(f"stream holds a {box} block, larger than the chunk {shape}")
            out = np.full(shape, _fill_of(spec), dtype=dtype)
            out[tuple(slice(0, b) for b in box)] = _from_cube(cube, box, self.band_axis)
            return out
        return _from_cube(cube, shape, self.band_axis).astype(dtype, copy=False)

    def _decode_values(self, raw, spec: ArraySpec, where: str, loc=(None, None)) -> np.ndarray:
        try:
            check_chunk_identity(raw, *loc[:2])
            return self._values(raw, spec)
        except Exception as err:
            hint = "" if loc[1] is not None else _NO_KEY_HINT
            raise ChunkDecodeError(
                f"{CODEC_NAME}: cannot decode {where}: {type(err).__name__}: {err}{hint}", array=loc[0], key=loc[1]
            ) from err

    def _encode_values(self, values: np.ndarray, spec: ArraySpec, where: str, loc=(None, None)) -> bytes:
        try:
            identity = chunk_identity(*loc[:2])
            if identity is None:
                return self._stream(values)
            return stamp_chunk_identity(self._stream(values, reserve_bytes=identity_bytes(identity)), identity)
        except Exception as err:
            raise ChunkEncodeError(
                f"{CODEC_NAME}: cannot encode {where} with {self.codec!r}: {type(err).__name__}: {err}",
                array=loc[0],
                key=loc[1],
            ) from err

    def _chunk_bytes(self, values: np.ndarray, spec: ArraySpec, where: str, loc=(None, None)) -> bytes | None:
        """The chunk's stream, or None when it is not stored; a step of a Zarr write's progress bar either way."""
        stream = None if self._skip(values, spec) else self._encode_values(values, spec, where, loc)
        tile_done()
        return stream

    def _skip(self, values: np.ndarray, spec: ArraySpec) -> bool:
        """True when a chunk is not to be stored: all fill (unless asked to) or all NaN."""
        if _all_nan(values):
            return True
        return not spec.config.write_empty_chunks and _all_fill(values, _fill_of(spec))

    # -- whole chunks (zarr's generic path, and inner chunks of a shard on the sync path) --
    def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        values = self._decode_values(
            chunk_bytes.as_numpy_array(), chunk_spec, f"a chunk of shape {tuple(chunk_spec.shape)}"
        )
        return chunk_spec.prototype.nd_buffer.from_numpy_array(values.view(_DecodedChunk))

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)

    def _encode_sync(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        values = chunk_array.as_ndarray_like()
        where = f"a chunk of shape {tuple(chunk_spec.shape)}"
        if isinstance(values, _DecodedChunk):
            raise PartialChunkWriteError(
                f"{CODEC_NAME}: refusing a partial write into a stored lossy chunk ({where}): zarr would "
                "decode it, merge the new values and encode it again, losing quality at every write. "
                "Write whole chunks (and give the array no other codecs, so that errors name the chunk)."
            )
        stream = self._chunk_bytes(np.asarray(values), chunk_spec, where)
        return None if stream is None else chunk_spec.prototype.buffer.from_bytes(stream)

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    # -- partial decode: zarr hands over the byte getter, so errors can name the chunk --
    def _select(self, raw: Buffer | None, selection, spec: ArraySpec, loc) -> NDBuffer | None:
        if raw is None:
            return None
        values = self._decode_values(raw.as_numpy_array(), spec, loc[2], loc[:2])
        return spec.prototype.nd_buffer.from_numpy_array(np.asarray(values[selection]))

    def _decode_partial_sync(self, byte_getter: ByteGetter, selection: SelectorTuple, chunk_spec: ArraySpec):
        raw = byte_getter.get_sync(prototype=chunk_spec.prototype)
        if raw is not None:
            shared_network.ensure_sync(self, byte_getter, len(chunk_spec.shape))  # the array's network, once
        return self._select(raw, selection, chunk_spec, _locate(byte_getter, len(chunk_spec.shape)))

    async def _decode_partial_single(
        self, byte_getter: ByteGetter, selection: SelectorTuple, chunk_spec: ArraySpec
    ) -> NDBuffer | None:
        raw = await byte_getter.get(prototype=chunk_spec.prototype)
        if raw is not None:
            await shared_network.ensure(self, byte_getter, len(chunk_spec.shape))  # the array's network, once
        loc = _locate(byte_getter, len(chunk_spec.shape))
        return await asyncio.to_thread(self._select, raw, selection, chunk_spec, loc)

    # -- partial encode: whole chunks, or a first write into an empty chunk --
    def _plan(self, value: NDBuffer, selection: SelectorTuple, spec: ArraySpec):
        """(values to encode, extent the write covers from the chunk's origin or None, whether to check the stored chunk)."""
        shape = tuple(spec.shape)
        dtype = spec.dtype.to_native_dtype()
        value = np.asarray(value.as_ndarray_like() if hasattr(value, "as_ndarray_like") else value)
        if _is_complete(selection, shape):
            if value.shape == shape:
                return value.astype(dtype, copy=False), shape, False
            full = np.empty(shape, dtype=dtype)
            _assign(full, tuple(slice(None) for _ in shape), value)
            return full, shape, False
        full = np.full(shape, _fill_of(spec), dtype=dtype)
        _assign(full, selection, value)
        box = _leading_box(selection, shape)
        if box is not None and len(shape) <= 3:  # encode only the block written (an edge chunk: no padding)
            return full[tuple(slice(0, b) for b in box)], box, True
        return full, box, True

    def _check_stored(self, stored: Buffer | None, box: tuple[int, ...] | None, spec: ArraySpec, loc) -> None:
        """Refuse to overwrite part of a stored chunk; rewriting all it holds is fine."""
        if stored is None:
            return
        held = None
        try:
            cube_shape = decode_scene_header(bitstream.unpack(stored.to_bytes()))["shape"]
            held = _box_of_cube(cube_shape, len(spec.shape), self.band_axis) or tuple(spec.shape)
        except InrError:
            pass
        if box is not None and held is not None and all(b >= h for b, h in zip(box, held, strict=True)):
            return
        box = box or "part of it"
        raise PartialChunkWriteError(
            f"{CODEC_NAME}: refusing a partial write into {loc[2]}: it is stored already and lossy, "
            f"so this would decode it, merge the new values and encode it again, losing quality at "
            f"every write. Write whole chunks (chunk shape {tuple(spec.shape)}, the new values cover "
            f"{box}), or delete the chunk first.",
            array=loc[0],
            key=loc[1],
        )

    def _finish(self, values: np.ndarray, spec: ArraySpec, loc) -> Buffer | None:
        stream = self._chunk_bytes(values, spec, loc[2], loc[:2])
        return None if stream is None else spec.prototype.buffer.from_bytes(stream)

    def _encode_partial_sync(
        self, byte_setter: ByteSetter, chunk_array: NDBuffer, selection: SelectorTuple, chunk_spec: ArraySpec
    ) -> None:
        loc = _locate(byte_setter, len(chunk_spec.shape))
        values, box, check = self._plan(chunk_array, selection, chunk_spec)
        if check:
            self._check_stored(byte_setter.get_sync(prototype=chunk_spec.prototype), box, chunk_spec, loc)
        shared_network.ensure_sync(self, byte_setter, len(chunk_spec.shape))  # appending: the stored network
        buf = self._finish(values, chunk_spec, loc)
        if buf is None:
            byte_setter.delete_sync()
        else:
            byte_setter.set_sync(buf)

    async def _encode_partial_single(
        self, byte_setter: ByteSetter, chunk_array: NDBuffer, selection: SelectorTuple, chunk_spec: ArraySpec
    ) -> None:
        loc = _locate(byte_setter, len(chunk_spec.shape))
        values, box, check = self._plan(chunk_array, selection, chunk_spec)
        if check:
            self._check_stored(await byte_setter.get(prototype=chunk_spec.prototype), box, chunk_spec, loc)
        await shared_network.ensure(self, byte_setter, len(chunk_spec.shape))  # appending: the stored network
        buf = await asyncio.to_thread(self._finish, values, chunk_spec, loc)
        if buf is None:
            await byte_setter.delete()
        else:
            await byte_setter.set(buf)
