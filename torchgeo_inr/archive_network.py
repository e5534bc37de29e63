"""An archive network: one network shared by every chunk of an array, stored once, named by its sha256.

Why: a chunk that carries its own network, basis and headers pays that tax
once per chunk; on 29 x 29 tiles the tax is most of the budget. An archive
network (the latent codec's synthesis and basis, meta-SIREN's base) is
fitted once on the array's tiles and stored once beside it; each chunk's
stream then holds only its own code and the network's sha256.

The network travels as a torchgeo-inr stream of codec ``shared-network``
(versioned, CRC-checked, JSON header, byte sections; no pickle): its header
says which codec it serves (``for``) and at which version. Its sha256 is the
hash of those exact bytes. :func:`load` checks the bytes (and the hash a
caller expects) and keeps the parsed network for the rest of the process;
codecs find it again with :func:`get` from the hash a chunk records. Where
the bytes live (a Zarr store, a compressed form) is the plugins' business:
this module never imports them.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

from . import bitstream
from .errors import BitstreamError

#: The container's codec name.
NAME = "shared-network"
#: Version of the container's own fields (``for``, ``v``).
VERSION = 1
#: Networks kept per process (they are small; a long job over many archives keeps the latest).
MAX_CACHED = 16

_cache: dict[str, SharedNetwork] = {}
_lock = threading.Lock()


class SharedNetworkError(BitstreamError):
    """A shared network is missing, damaged, or not the one a chunk was written with."""


@dataclass
class SharedNetwork:
    """A parsed archive network: which codec it serves, its header and sections, its sha256 and size."""

    codec: str
    version: int
    header: dict
    sections: dict[str, bytes]
    sha256: str
    nbytes: int
    #: What a codec builds from it once per process (decoded weights, models per device), by key.
    built: dict = field(default_factory=dict, repr=False)

    def build(self, key, make):
        """``make()`` once per process for this network and ``key``; the cached value after that."""
        with _lock:
            if key not in self.built:
                self.built[key] = make()
            return self.built[key]


def digest(blob: bytes) -> str:
    return hashlib.sha256(bytes(blob)).hexdigest()


def pack(codec: str, version: int, header: dict, sections: dict[str, bytes]) -> bytes:
    """The bytes of an archive network for ``codec`` (stream layout ``version`` of that codec's networks)."""
    return bitstream.pack(NAME, VERSION, {"for": codec, "v": int(version), **header}, sections)


def load(blob, *, expected: str | None = None, where: str = "shared network") -> SharedNetwork:
    """Parse ``blob``, check it against the ``expected`` sha256, and keep it for this process.

    Errors say ``where`` the bytes came from (a store key, a variable) and what is wrong with them.
    """
    blob = bytes(blob)
    sha = digest(blob)
    if expected is not None and sha != expected:
        raise SharedNetworkError(
            f"{where} is damaged or not the network the chunks were written with: its sha256 is {sha}, "
            f"the array records {expected}"
        )
    with _lock:
        if sha in _cache:
            return _cache[sha]
    try:
        stream = bitstream.unpack(blob)
    except BitstreamError as err:
        raise SharedNetworkError(f"{where} is damaged: {err}") from None
    codec, version = stream.header.get("for"), stream.header.get("v")
    if stream.codec != NAME or not isinstance(codec, str) or not isinstance(version, int) or version < 1:
        raise SharedNetworkError(f"{where} is not a torchgeo-inr shared network (it says codec {stream.codec!r})")
    if stream.codec_version > VERSION:
        raise SharedNetworkError(f"{where} has container version {stream.codec_version}, newer than this "
                                 f"torchgeo-inr reads ({VERSION}); upgrade torchgeo-inr")
    header = {k: v for k, v in stream.header.items() if k not in ("for", "v")}
    net = SharedNetwork(codec, version, header, dict(stream.sections), sha, len(blob))
    with _lock:
        if len(_cache) >= MAX_CACHED:
            _cache.pop(next(iter(_cache)))
        return _cache.setdefault(sha, net)


def is_loaded(sha256: str) -> bool:
    return sha256 in _cache


def get(sha256: str, codec: str | None = None, newest: int | None = None) -> SharedNetwork:
    """The network with this sha256 loaded in this process; a clear error when it is not, when it serves
    another codec, or when its layout version is newer than ``newest`` (what the reading codec knows)."""
    net = _cache.get(sha256)
    if net is None:
        raise SharedNetworkError(
            f"this stream was written against shared network {sha256}, which is not loaded in this process: "
            "read the chunk through its Zarr store or compressed form (they load it), or call "
            "torchgeo_inr.archive_network.load(network_bytes)"
        )
    if codec is not None and net.codec != codec:
        raise SharedNetworkError(f"shared network {sha256} serves codec {net.codec!r}, not {codec!r}")
    if newest is not None and net.version > newest:
        raise BitstreamError(f"{net.codec} archive network version {net.version} is newer than this "
                             f"torchgeo-inr reads ({newest}); upgrade torchgeo-inr")
    return net


def forget(sha256: str | None = None) -> None:
    """Drop one network (or all) from this process's cache (tests, or to re-read a store)."""
    with _lock:
        if sha256 is None:
            _cache.clear()
        else:
            _cache.pop(sha256, None)
