"""The pretrained base network of ``meta-siren``: shipped as safetensors, named by an id, checked by sha256.

The shipped base (``ip-checker29-v1``) is a demo, trained on Indian Pines
only (half of its 29 x 29 tiles; see ``pretrained/README.md``): it does
not carry to other scenes (about 21 dB on an unseen AVIRIS scene at 0.1
bpppb), and its bytes are not in any stream's rate. For real archives,
``shared=True`` meta-trains a small base on the archive's own tiles and
stores it, counted, in the archive (:mod:`torchgeo_inr.codecs.meta_siren_shared`).

Loading never runs code: the file is read as bytes, its sha256 compared with
the one recorded here for that id (a changed file is refused), its JSON
header parsed with :mod:`json`, and its tensors with ``safetensors`` (no
pickle, no ``torch.load``). Every ``meta-siren`` stream names its base by id
and sha256, so a stream is decoded only with the very network that wrote it.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InrError
from .network import MetaSiren, MetaSirenConfig

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
FORMAT = "torchgeo_inr.meta_siren.base"

#: id -> (file in pretrained/, sha256 of that file). The file is checked against this on every load.
SHIPPED: dict[str, tuple[str, str]] = {
    "ip-checker29-v1": (
        "meta_siren_ip_checker29_v1.safetensors",
        "281d25401ecad9e3bc3f7ea51e21ccd6da32941b59cba8c0f69ec845f9655a19",
    ),
}
DEFAULT_BASE = "ip-checker29-v1"


class BaseNetworkError(InrError, ValueError):
    """A base network file is missing, altered (hash mismatch) or malformed."""


@dataclass
class BaseNetwork:
    """A loaded base: its id, the sha256 of its file, its config and the network (float32, eval mode)."""

    id: str
    sha256: str
    config: MetaSirenConfig
    model: MetaSiren
    metadata: dict

    @property
    def size_bytes(self) -> int:
        return int(self.metadata.get("_file_bytes", 0))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _header(data: bytes) -> dict:
    """The safetensors JSON header (8-byte little-endian length, then JSON), parsed without safetensors."""
    if len(data) < 8:
        raise BaseNetworkError("base network file is too short to be safetensors")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8 or n > 1 << 24:
        raise BaseNetworkError("base network file has an invalid safetensors header length")
    try:
        head = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BaseNetworkError(f"base network header is not JSON: {err}") from None
    if not isinstance(head, dict):
        raise BaseNetworkError("base network header is not a JSON object")
    return head


def load_base_bytes(data: bytes, *, expected_sha256: str | None = None, base_id: str | None = None) -> BaseNetwork:
    """Build a :class:`BaseNetwork` from the bytes of a base file, refusing them if the hash differs."""
    import torch
    from safetensors.torch import load as st_load

    digest = sha256_bytes(data)
    if expected_sha256 is not None and digest != expected_sha256:
        raise BaseNetworkError(
            f"base network {base_id or '?'} has sha256 {digest}, expected {expected_sha256}: "
            "the file was altered or is another version; reinstall torchgeo-inr"
        )
    meta = _header(data).get("__metadata__") or {}
    if meta.get("format") != FORMAT:
        raise BaseNetworkError(f"not a meta-siren base network (format {meta.get('format')!r})")
    try:
        cfg = MetaSirenConfig.from_json(meta["config"])
        tensors = st_load(data)
    except Exception as err:  # noqa: BLE001 - any parse failure is a bad file
        raise BaseNetworkError(f"base network file is malformed: {type(err).__name__}: {err}") from None
    model = MetaSiren(cfg)
    expected = model.state_dict()
    if set(tensors) != set(expected) or any(tuple(tensors[k].shape) != tuple(v.shape) for k, v in expected.items()):
        raise BaseNetworkError("base network tensors do not match its config")
    model.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()})
    model.train(False)
    for p in model.parameters():
        p.requires_grad_(False)
    meta = {**meta, "_file_bytes": len(data)}
    return BaseNetwork(base_id or meta.get("id", "?"), digest, cfg, model, meta)


def load_base_file(path: str | Path, *, expected_sha256: str | None = None, base_id: str | None = None) -> BaseNetwork:
    """A base network from a file (a checkpoint export or the shipped file)."""
    path = Path(path)
    if not path.is_file():
        raise BaseNetworkError(f"base network file {path} does not exist")
    return load_base_bytes(path.read_bytes(), expected_sha256=expected_sha256, base_id=base_id)


@lru_cache(maxsize=4)
def installed_base(base_id: str = DEFAULT_BASE) -> BaseNetwork:
    """A shipped base by id, hash-checked; loaded once per process."""
    if base_id not in SHIPPED:
        raise BaseNetworkError(f"no base network {base_id!r} is installed (have {sorted(SHIPPED)})")
    name, digest = SHIPPED[base_id]
    return load_base_file(PRETRAINED_DIR / name, expected_sha256=digest, base_id=base_id)


def save_base(model: MetaSiren, path: str | Path, base_id: str, *, half: bool = True, info: dict | None = None) -> str:
    """Write ``model`` as a base file (float16 by default) with its config and ``info``; returns its sha256."""
    import torch
    from safetensors.torch import save

    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().cpu().to(dtype).contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "id": base_id, "config": model.cfg.to_json()}
    for k, v in (info or {}).items():
        meta[str(k)] = v if isinstance(v, str) else json.dumps(v)
    data = save(tensors, metadata=meta)
    Path(path).write_bytes(data)
    return sha256_bytes(data)


def base_cost(base: BaseNetwork, shape: tuple[int, int, int]) -> dict:
    """The shared cost of a base, reported apart from the rate: bytes, and the bpppb it would add to one scene."""
    n = int(np.prod(shape))
    return {"base_id": base.id, "base_bytes": base.size_bytes, "base_bpppb_one_scene": 8.0 * base.size_bytes / n}
