"""HINER (Shi et al., ACM MM 2024): a hyperspectral image as a small network, one band per frame.

- :mod:`.config`: the architecture as plain numbers, and the size -> rate model;
- :mod:`.network`: positional encoding, embedding MLP, conv + PixelShuffle decoder;
- :mod:`.loss`: L1 (or MSE / log-MSE) + gamma * CAM, optional SAM.

The model knows nothing of streams: the codec is :class:`torchgeo_inr.codecs.hiner.HINERCodec`, its
stream layout :mod:`torchgeo_inr.codecs.hiner_stream`, and it fits with :func:`torchgeo_inr.training.train`.
"""

from .config import HinerConfig
from .loss import HinerLoss, cam_degrees, sam_degrees
from .network import HINER, Decoder

__all__ = ["HINER", "Decoder", "HinerConfig", "HinerLoss", "cam_degrees", "sam_degrees"]
