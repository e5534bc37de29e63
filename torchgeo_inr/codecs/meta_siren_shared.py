"""``meta-siren`` with an archive network: a base meta-trained on the archive's own tiles, stored in it.

Why: a base trained on one scene does not carry to another (the shipped
Indian Pines base decodes an unseen AVIRIS scene at about 21 dB), and a base
left out of the rate flatters every figure. Here the base is meta-trained
(:func:`torchgeo_inr.siren.meta.train`, the same program as
``examples/train_meta_siren.py``) on the tiles of the array it will code,
kept small so that it fits the archive's budget, and stored once in the
archive, where its bytes are counted.

The network (a :mod:`torchgeo_inr.archive_network` container, ``for:
meta-siren``, ``v: 1``): section ``base`` (the base as safetensors, float16,
read without pickle by :func:`~torchgeo_inr.siren.base.load_base_bytes`) and,
when the array has them, ``wl`` (its band wavelengths, float32 nm, so chunks
need not repeat them). A chunk's stream names the base ``{"id": "archive",
"sha256": <the network's sha256>}``.
"""

from __future__ import annotations

import numpy as np

from .. import archive_network
from ..errors import BitstreamError, RateError
from ..packing import pack_array, unpack_array

#: Layout version of meta-siren archive networks.
NETWORK_VERSION = 1
#: The id chunk streams give an archive base.
ARCHIVE_ID = "archive"
#: Outer steps of the base's meta-training, unless the caller sets them.
NETWORK_STEPS = 400
#: A base small enough for an archive's budget (about 8,200 parameters, 17 KB as float16): the shipped
#: base (148,000 parameters, 298 KB) would take all of Indian Pines' 52 KB at 0.1 bpppb six times over.
ARCHIVE_CONFIG = {"width": 32, "depth": 3, "features": 16, "latent_dim": 32, "head_width": 32,
                  "patch_sizes": [4, 6, 8], "max_patch": 16, "inner_steps": 3}
#: Most of the archive's budget the base may take (the rest is the chunks' latents).
MAX_BASE_SHARE = 0.5


def fit_network(codec, tiles, *, bpppb: float, shape, chunks: int, device, progress: bool,
                steps: int | None = None, config: dict | None = None) -> bytes:
    """A base meta-trained on ``tiles`` (scenes), as the bytes of an archive network."""
    import torch
    from safetensors.torch import save

    from ..siren.base import FORMAT
    from ..siren.meta import TrainConfig, TrainScene, default_wavelengths, train
    from ..siren.network import MetaSirenConfig

    cfg = MetaSirenConfig(**{**ARCHIVE_CONFIG, **(config or {})})
    bands = int(shape[0])
    wl = tiles[0].wavelengths
    corpus = [TrainScene.from_array(t.data, wl if wl is not None else default_wavelengths(bands)) for t in tiles]
    model, _ = train(corpus, cfg, TrainConfig(steps=steps or NETWORK_STEPS, batch_pixels=2048, seed=0,
                                                    checkpoint_every=10**9),
                           device=device, progress=progress)
    tensors = {k: v.detach().cpu().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    base = save(tensors, metadata={"format": FORMAT, "id": ARCHIVE_ID, "config": cfg.to_json()})
    sections = {"base": base}
    if wl is not None:
        sections["wl"] = pack_array(np.asarray(wl, dtype=np.float32), "<f4")
    blob = archive_network.pack("meta-siren", NETWORK_VERSION, {}, sections)
    budget = bpppb * int(np.prod(shape)) / 8.0
    if len(blob) > MAX_BASE_SHARE * budget:
        raise RateError(f"meta-siren: the archive base ({len(blob)} bytes) is over {MAX_BASE_SHARE:.0%} of the "
                        f"archive's budget ({budget:.0f} bytes); pass a smaller base config", smallest=len(blob))
    return blob


def archive_base(sha256: str):
    """The base of a loaded archive network, built once per process (id ``archive``, its network's sha256)."""
    from ..siren.base import BaseNetworkError, load_base_bytes

    net = archive_network.get(sha256, "meta-siren", NETWORK_VERSION)

    def build():
        if "base" not in net.sections:
            raise BitstreamError(f"meta-siren archive network {sha256} has no base")
        try:
            base = load_base_bytes(net.sections["base"], base_id=ARCHIVE_ID)
        except BaseNetworkError as err:
            raise BitstreamError(f"meta-siren archive network {sha256}: {err}") from None
        base.sha256 = net.sha256  # chunks name the network they were written against
        base.metadata["_file_bytes"] = net.nbytes
        return base

    return net.build("meta-siren-base", build)


def archive_wavelengths(sha256: str, bands: int):
    """The array's wavelengths kept in the network, or None."""
    net = archive_network.get(sha256, "meta-siren", NETWORK_VERSION)
    if "wl" not in net.sections:
        return None
    return unpack_array(net.sections["wl"], "<f4", bands, "wl")
