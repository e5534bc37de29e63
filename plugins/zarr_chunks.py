"""Names Zarr gives: the chunk codec's registered name, and where a chunk sits in its store.

Apart from the codec so that the shared-network loader, which the codec
calls, can read them without importing the codec back.
"""

from __future__ import annotations

from typing import Any

#: The name written in array metadata (zarr.json "name" for v3, the .zarray compressor "id" for v2).
CODEC_NAME = "torchgeo_inr.inr"


def locate(byte_getter: Any, ndim: int) -> tuple[str | None, str | None, str]:
    """(array path, chunk key, words) for the byte getter zarr handed to a partial codec."""
    path = getattr(byte_getter, "path", None)
    if isinstance(path, str):
        parts = path.split("/")
        array = key = None
        if len(parts) >= ndim + 1 and parts[-ndim - 1] == "c" and all(p.isdigit() for p in parts[-ndim:]):
            array, key = "/".join(parts[: -ndim - 1]), "/".join(parts[-ndim - 1 :])
        elif len(parts) >= 1 and all(p.isdigit() for p in parts[-1].split(".")) and parts[-1].count(".") == ndim - 1:
            array, key = "/".join(parts[:-1]), parts[-1]
        elif len(parts) >= ndim and all(p.isdigit() for p in parts[-ndim:]):
            array, key = "/".join(parts[:-ndim]), "/".join(parts[-ndim:])
        if key is None:
            return None, path, f"chunk at store path {path!r}"
        store = getattr(byte_getter, "store", None)
        where = f" in {store}" if store is not None else ""
        name = f"array {array!r}" if array else "the root array"
        return array, key, f"{name}{where}, chunk {key!r}"
    coords = getattr(byte_getter, "chunk_coords", None)
    if coords is not None:
        coords = tuple(int(c) for c in coords)
        return None, None, f"inner chunk {coords} of a shard"
    return None, None, "a chunk"
