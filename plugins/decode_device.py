"""Where neural chunks and tiles are decoded: the CPU unless a user asks for another device.

Reads through the plugins do not take the engine's default (a GPU when
there is one): Zarr and Dask decode many chunks at once in threads, and a
read should not take a GPU that nobody asked for.

Per call through the accessor (``form.inr.decompress(device="cuda")``); for
reads that pass through Zarr (``xr.open_zarr``, ``zarr.open``), where no
argument reaches a codec, process-wide::

    with torchgeo_inr.plugins.decode_device.decode_device("cuda"):
        xr.open_zarr("scene.zarr").compute()

or with the environment variable ``TORCHGEO_INR_DEVICE=cuda`` (set it on
every Dask worker of a cluster). The device is a reading choice, never
written into an array's metadata. Classical codecs ignore it.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

#: Environment variable naming the decode device ("cpu", "cuda", "cuda:1", "mps"...).
ENV = "TORCHGEO_INR_DEVICE"

_chosen: list = []
_lock = threading.Lock()


def checked(device):
    """``device`` as a string torch accepts, or None; a clear error for a device torch does not know."""
    if device is None:
        return None
    if str(device) == "cpu":  # without torch: a CPU read of latent-grid chunks needs none
        return "cpu"
    import torch

    try:
        return str(torch.device(device))
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device={device!r} is not a torch device ('cpu', 'cuda', 'cuda:0', ...): {err}") from None


def current(device=None) -> str:
    """The device to decode on: ``device`` if given, else :func:`decode_device`'s, else ``$TORCHGEO_INR_DEVICE``, else "cpu"."""
    if device is not None:
        return checked(device)
    with _lock:
        if _chosen:
            return _chosen[-1]
    return checked(os.environ.get(ENV) or "cpu")


@contextmanager
def decode_device(device):
    """Decode on ``device`` in this process (every thread, Zarr's included) while the block runs."""
    device = checked(device)
    with _lock:
        _chosen.append(device)
    try:
        yield device
    finally:
        with _lock:
            _chosen.remove(device)


def is_accelerator(device) -> bool:
    """True for a device other than the CPU."""
    return not str(device).startswith("cpu")
