"""Where neural codecs run: one device resolver and one CPU-thread setting for every codec.

``None`` means CUDA when there is a GPU and the CPU otherwise. Small
networks on a shared 2-core CPU run several times faster on one thread than
on two competing ones (OpenMP threads spin while they wait), hence
:class:`torch_threads`.
"""

from __future__ import annotations

import torch


def resolve_device(device=None) -> torch.device:
    """``device`` as given, else CUDA when there is a GPU and the CPU otherwise."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class torch_threads:
    """Temporarily set torch's CPU thread count (a no-op for None or 0)."""

    def __init__(self, n: int | None):
        self.n, self.old = n, None

    def __enter__(self):
        if self.n:
            self.old = torch.get_num_threads()
            torch.set_num_threads(int(self.n))
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            torch.set_num_threads(self.old)
