"""What every codec that runs a torch network shares: where it runs and on how many CPU threads.

Encode and decode resolve the device once (:func:`torchgeo_inr.device.resolve_device`
for encodes, the CPU unless asked for decodes) and run under the codec's
``threads`` setting; each codec then implements :meth:`_encode_on` and
:meth:`_decode_on` with a ready ``torch.device``.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from .. import bitstream
from ..codec import Codec, Finish
from ..ratecontrol import Target
from ..scene import Scene


class TorchCodec(Codec):
    """A codec whose model is a torch network; ``threads`` (None: torch's setting) bounds its CPU threads."""

    threads: int | None = None

    def _encode(self, scene: Scene, target: Target, finish: Finish, *, device, progress):
        from ..device import resolve_device, torch_threads

        with torch_threads(self.threads):
            return self._encode_on(scene, target, finish, resolve_device(device), progress)

    def _decode(self, stream: bitstream.Stream, shape, *, device) -> np.ndarray:
        import torch

        from ..device import torch_threads

        with torch_threads(self.threads):
            return self._decode_on(stream, shape, torch.device("cpu") if device is None else torch.device(device))

    @abstractmethod
    def _encode_on(self, scene: Scene, target: Target, finish: Finish, device, progress: bool):
        """:meth:`Codec._encode` with the device resolved, under the thread setting."""

    @abstractmethod
    def _decode_on(self, stream: bitstream.Stream, shape, device) -> np.ndarray:
        """:meth:`Codec._decode` with the device resolved, under the thread setting."""
