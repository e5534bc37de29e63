"""HINER (Shi et al., ACM MM 2024): a hyperspectral image as a small network, one band per frame.

- :mod:`.config`: the architecture as header numbers, and the size -> rate model;
- :mod:`.network`: positional encoding, embedding MLP, conv + PixelShuffle decoder;
- :mod:`.loss`: L1 (or MSE / log-MSE) + gamma * CAM, optional SAM;
- :mod:`.fit`: the fitting loop (many bands per step, AMP on CUDA, best state, early stop, time budget).

The codec that writes streams is :class:`torchgeo_inr.codecs.hiner.HINERCodec`.
"""

from .config import HinerConfig
from .loss import HinerLoss, cam_degrees, sam_degrees
from .network import HINER, Decoder

__all__ = ["HINER", "Decoder", "HinerConfig", "HinerLoss", "cam_degrees", "sam_degrees"]
