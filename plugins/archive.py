"""One file for a compressed form: ``to_file(form, path)`` and ``open_compressed(path)``.

The file is a ZIP archive (any unzip tool lists it), never a pickle::

    torchgeo_inr.json          format, version, attributes, and what each member is
    arrays/<n>.npy             coordinate values and array attributes (NumPy format, no pickle)
    streams/<v>/<i>_<j>.tgi    the codec streams, stored as they are (already compressed)

Reading parses JSON and ``np.load(allow_pickle=False)`` only; a foreign,
truncated or damaged file raises :class:`~torchgeo_inr.BitstreamError`
(ZIP checks a CRC-32 per member). Every member's declared size is checked
against what its compressed bytes can hold and against
:mod:`torchgeo_inr.limits` before it is read, and no member is read past
its declared size. What JSON and ``.npy`` cannot hold
exactly is refused when writing, with the name of the culprit: coordinates
of Python objects (cftime dates, mixed types), pandas MultiIndex,
attributes of other types. Datetime64 and string coordinates are fine.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np
import xarray as xr

from torchgeo_inr import limits, strict_json
from torchgeo_inr.errors import BitstreamError, LimitError, SceneError

from .compressed import form_meta, is_compressed, nbytes, variable_meta

ARCHIVE_FORMAT = "torchgeo-inr/xarray-archive"
ARCHIVE_VERSION = 1
INDEX = "torchgeo_inr.json"
#: Deflate cannot shrink data by more than about 1032:1; a member claiming more is damaged or hostile.
_DEFLATE_MAX_RATIO = 1032


# -- writing ------------------------------------------------------------------------
def to_file(form: xr.Dataset, path) -> Path:
    """Write a compressed form to one file (ZIP layout above); returns the path."""
    if not is_compressed(form):
        raise SceneError("only a compressed form can be written: call .inr.compress() first")
    top = form_meta(form)
    path = Path(path)
    members: dict[str, bytes] = {}
    counter = iter(range(1 << 30))

    def add_array(values: np.ndarray, what: str) -> str:
        name = f"arrays/{next(counter)}.npy"
        buffer = io.BytesIO()
        try:
            np.save(buffer, values, allow_pickle=False)
        except ValueError as err:
            raise SceneError(f"{what} cannot be written without pickle: {err}") from None
        members[name] = buffer.getvalue()
        return name

    coords = []
    for name, coord in form.coords.items():
        _check_name(name, "coordinate")
        if isinstance(form.indexes.get(name), _multiindex()):
            raise SceneError(f"coordinate {name!r} is a pandas MultiIndex; call .reset_index({name!r}) first")
        values, was_object = _plain(np.asarray(coord.values), f"coordinate {name!r}")
        coords.append(
            {
                "name": name,
                "dims": list(coord.dims),
                "array": add_array(values, f"coordinate {name!r}"),
                "object": was_object,
                "attrs": _encode_attrs(coord.attrs, add_array, f"coordinate {name!r}"),
            }
        )
    variables = []
    for v, name in enumerate(top["variables"]):
        _check_name(name, "variable")
        grid = form[name].values
        streams = []
        for i in range(grid.shape[0]):
            row = []
            for j in range(grid.shape[1]):
                member = f"streams/{v}/{i}_{j}.tgi"
                members[member] = bytes(grid[i, j])
                row.append(member)
            streams.append(row)
        variables.append(
            {
                "name": name,
                "dims": list(form[name].dims),
                "streams": streams,
                "attrs": _encode_attrs(form[name].attrs, add_array, f"variable {name!r}"),
            }
        )
    index = {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "attrs": _encode_attrs(form.attrs, add_array, "Dataset"),
        "coords": coords,
        "variables": variables,
    }
    text = json.dumps(index, allow_nan=True).encode("utf-8")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(INDEX, text, compress_type=zipfile.ZIP_DEFLATED)
        for member, blob in members.items():
            kind = zipfile.ZIP_STORED if member.startswith("streams/") else zipfile.ZIP_DEFLATED
            archive.writestr(member, blob, compress_type=kind)
    return path


def metadata_nbytes(path) -> int:
    """Bytes of a written file that are not codec streams (coordinates, attributes, ZIP directory)."""
    path = Path(path)
    return path.stat().st_size - nbytes(open_compressed(path))


def _multiindex():
    import pandas as pd

    return pd.MultiIndex


def _check_name(name, what: str) -> None:
    if not isinstance(name, str):
        raise SceneError(f"{what} names must be strings to be written, got {name!r}")


def _plain(values: np.ndarray, what: str) -> tuple[np.ndarray, bool]:
    """Values as an array np.save writes without pickle; object arrays of str become unicode."""
    if values.dtype != object:
        return values, False
    if all(isinstance(v, str) for v in values.ravel()):
        return values.astype(str) if values.size else values.astype("U1"), True
    kinds = sorted({type(v).__name__ for v in values.ravel()})
    raise SceneError(
        f"{what} holds Python objects ({', '.join(kinds)}) that cannot be written without pickle; "
        f"convert them (e.g. datetime64, or .astype(str)) or drop the coordinate"
    )


def _encode_attrs(attrs: dict, add_array, what: str) -> dict:
    out = {}
    for key, value in attrs.items():
        if not isinstance(key, str):
            raise SceneError(f"{what}: attribute names must be strings to be written, got {key!r}")
        out[key] = _encode_value(value, add_array, f"{what} attribute {key!r}")
    return out


def _encode_value(value, add_array, what: str):
    """JSON for plain values; tagged one-key objects for the rest, so nothing is guessed on reading."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, np.generic):
        return value
    if isinstance(value, np.str_):
        return str(value)
    if isinstance(value, (np.generic, np.ndarray)):
        array, was_object = _plain(np.asarray(value), what)
        return {"__ndarray__": add_array(array, what), "object": was_object, "scalar": isinstance(value, np.generic)}
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list):
        return [_encode_value(v, add_array, what) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [_encode_value(v, add_array, what) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise SceneError(f"{what}: dictionary keys must be strings to be written")
        return {"__dict__": {k: _encode_value(v, add_array, what) for k, v in value.items()}}
    raise SceneError(
        f"{what} is a {type(value).__name__}, which cannot be written without pickle; "
        f"convert it to a string, number, list or array, or drop it"
    )


# -- reading ------------------------------------------------------------------------
def open_compressed(path) -> xr.Dataset:
    """Read a file written by ``.inr.to_file`` back into its compressed form (decode with ``.inr.decompress()``)."""
    path = Path(path)
    if not path.exists():
        raise SceneError(f"no such file: {path}")
    if not path.is_file():
        raise SceneError(f"{path} is not a regular file (a directory, device or pipe): give an .inrx file")
    try:
        with zipfile.ZipFile(path) as archive:
            reader = _Reader(archive, path)
            return reader.dataset()
    except zipfile.BadZipFile as err:
        raise BitstreamError(f"{path} is not a torchgeo-inr compressed file (or it is damaged): {err}") from None


class _Reader:
    def __init__(self, archive: zipfile.ZipFile, path: Path):
        self.archive = archive
        self.path = path
        self.total = 0  # bytes inflated so far, against limits.MAX_ARCHIVE_TOTAL_BYTES

    def fail(self, why: str) -> BitstreamError:
        return BitstreamError(f"{self.path}: {why}")

    def member(self, name) -> bytes:
        if not isinstance(name, str):
            raise self.fail(f"member name {name!r} is not a string")
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise self.fail(f"member {name!r} is missing") from None
        limit = limits.MAX_ARCHIVE_INDEX_BYTES if name == INDEX else limits.MAX_ARCHIVE_MEMBER_BYTES
        if info.file_size > limit:
            raise LimitError(f"{self.path}: member {name!r} claims {info.file_size} bytes, more than the limit {limit}")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise self.fail(f"member {name!r} is stored as {info.compress_size} bytes but claims {info.file_size}")
        if info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 64:
            raise self.fail(f"member {name!r} of {info.compress_size} bytes cannot inflate to the {info.file_size} it claims")
        self.total += info.file_size
        if self.total > limits.MAX_ARCHIVE_TOTAL_BYTES:
            raise LimitError(
                f"{self.path}: members inflate to more than limits.MAX_ARCHIVE_TOTAL_BYTES = {limits.MAX_ARCHIVE_TOTAL_BYTES}"
            )
        try:
            with self.archive.open(info) as f:
                data = f.read(info.file_size + 1)  # zipfile stops at the declared size; never read more
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
            raise self.fail(f"member {name!r} is damaged: {err}") from None
        if len(data) != info.file_size:
            raise self.fail(f"member {name!r} holds {len(data)} bytes, its entry says {info.file_size}")
        return data

    def array(self, spec) -> np.ndarray:
        if not isinstance(spec, dict) or "__ndarray__" not in spec:
            raise self.fail(f"expected an array reference, found {spec!r}")
        blob = self.member(spec["__ndarray__"])
        try:
            values = np.load(io.BytesIO(blob), allow_pickle=False)
        except ValueError as err:
            raise self.fail(f"array {spec['__ndarray__']!r} is not a plain .npy array: {err}") from None
        if spec.get("object"):
            values = values.astype(object)
        return values

    def value(self, value):
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1 and "__tuple__" in value:
            return tuple(self.value(v) for v in value["__tuple__"])
        if len(value) == 1 and "__dict__" in value and isinstance(value["__dict__"], dict):
            return {k: self.value(v) for k, v in value["__dict__"].items()}
        if len(value) == 1 and "__bytes__" in value:
            try:
                return base64.b64decode(value["__bytes__"], validate=True)
            except (ValueError, TypeError) as err:
                raise self.fail(f"bad base64 attribute: {err}") from None
        if "__ndarray__" in value:
            array = self.array(value)
            return array[()] if value.get("scalar") else array
        raise self.fail(f"unknown tagged value {sorted(value)}")

    def attrs(self, spec) -> dict:
        if not isinstance(spec, dict):
            raise self.fail("attributes are not a JSON object")
        return {k: self.value(v) for k, v in spec.items()}

    def dataset(self) -> xr.Dataset:
        index = strict_json.loads(self.member(INDEX), f"{self.path}: {INDEX}", allow_nan=True)
        if not isinstance(index, dict) or index.get("format") != ARCHIVE_FORMAT:
            raise self.fail("not a torchgeo-inr compressed file")
        version = index.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self.fail(f"file version {version!r} is not valid (versions are integers from 1)")
        if version > ARCHIVE_VERSION:
            raise self.fail(
                f"file version {version!r} is newer than this torchgeo-inr reads "
                f"({ARCHIVE_VERSION}); upgrade torchgeo-inr"
            )
        try:
            coords = {}
            for spec in index["coords"]:
                coords[spec["name"]] = xr.Variable(
                    tuple(spec["dims"]), self.array({"__ndarray__": spec["array"], "object": spec.get("object")}),
                    attrs=self.attrs(spec.get("attrs", {})),
                )
            data_vars = {}
            for spec in index["variables"]:
                rows = spec["streams"]
                if not rows or not all(isinstance(r, list) and len(r) == len(rows[0]) for r in rows):
                    raise self.fail(f"variable {spec['name']!r}: stream grid is not rectangular")
                grid = np.empty((len(rows), len(rows[0])), dtype=object)
                for i, row in enumerate(rows):
                    for j, member in enumerate(row):
                        grid[i, j] = self.member(member)
                attrs = self.attrs(spec.get("attrs", {}))
                data_vars[spec["name"]] = xr.Variable(tuple(spec["dims"]), grid, attrs=attrs)
            form = xr.Dataset(data_vars, coords=coords, attrs=self.attrs(index.get("attrs", {})))
        except BitstreamError:
            raise
        except (KeyError, TypeError, ValueError, RecursionError) as err:
            raise self.fail(f"the index is damaged: {type(err).__name__}: {err}") from None
        if not is_compressed(form):
            raise self.fail("the index lost its 'torchgeo_inr' description")
        for name in form_meta(form)["variables"]:
            variable_meta(form, name)
        return form


__all__ = ["metadata_nbytes", "open_compressed", "to_file"]
