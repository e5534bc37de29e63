"""``latent-grid`` with an archive network: the network's layout, its fit on tiles, and latents-only chunks.

Why: on 29 x 29 tiles a whole latent-grid stream per tile spends most of
its bytes on the basis, the synthesis and the latents' entropy models. Here
they are fitted once for the array (:class:`~torchgeo_inr.latent_grid.shared.TiledLatentModel`,
trained on all tiles or a sample) and stored once; a chunk stream holds its
scene description, the network's sha256 (section ``net``, 32 bytes) and its
ANS-coded latents (``latents``), nothing else.

The network (a :mod:`torchgeo_inr.archive_network` container, ``for:
latent-grid``, ``v: 1``): header ``arch``, ``q`` (synthesis weights'
quantisation), ``qb`` (the basis's); sections ``scale``/``mean`` (per band,
float16, shared by every tile), ``bstep``/``bdata`` (basis), ``qstep``/``qdata``
(synthesis), ``lscale`` (float32 Laplace scale per latent channel) and
``lrange`` (uint16 symbol range per channel: a tile appended later whose
latents reach beyond it is clamped, a small distortion, never a failure).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .. import archive_network, bitstream, entropy
from ..errors import BitstreamError
from ..latent_grid.config import MAX_SYMBOL, LatentConfig
from ..latent_grid.model import LatentGridModel
from ..packing import pack_array
from ..quantize import pack_state
from ..ratecontrol import Target
from ..scene import Scene
from .latent_grid_network import NETWORK_VERSION, ChunkLatents, chunk_latents, network

#: Steps of the joint fit over the tiles, unless the caller sets them.
NETWORK_STEPS = 3000
#: How fast a chunk's fit moves its rate weight (the whole-scene fit: 0.3): a chunk's fit is short, and starts
#: from the archive fit's weight, which suits the average tile, not this one. At 1.0 an easy tile (Indian Pines,
#: 25 tiles at 0.2 bpppb, tile (3, 1), 45 dB) could not leave that weight in 200 steps: 4 fits gave 0.121 to 0.141
#: bpppb for [0.151, 0.167], a RateError; 2.0 lands it, and the other tiles within 0.05 dB of 1.0 (3.0: -0.1 dB).
CHUNK_GAIN = 2.0
#: Rounding-phase rounds a chunk may take to land nearer its budget (a whole scene: 3); a chunk that still
#: lands outside [0.9 b, b] is re-asked by :func:`~torchgeo_inr.ratecontrol.meet_target`, as every stream is.
CHUNK_RATE_ROUNDS = 1
#: A chunk's fit aims at this share of its budget, as a whole scene's does. Short fits over a frozen synthesis
#: land under it (Indian Pines, 4 tiles at 0.1 bpppb: 0.087 bpppb, 42.01 dB); aiming at 1.1 spent more
#: (0.094) for 0.06 dB, a worse trade.
CHUNK_DESIRED = 0.97
#: The archive's fits keep uniform noise alone: soft rounding (:mod:`~torchgeo_inr.latent_grid.soft_rounding`),
#: 0.1 to 0.25 dB up on whole scenes, measured no better here (with the first schedule tried, 0.5 to 0.3;
#: Indian Pines at 0.1 bpppb, 4 and 25 tiles: per-band PSNR +0.05 and -0.01 dB, global PSNR -0.18 and -0.23 dB,
#: SAM 0.04 and 0.05 degrees worse).
ARCHIVE_TEMPERATURES = None
#: Bytes a chunk stream spends besides its latents (container, scene header, identity, ``net``), estimated.
CHUNK_OVERHEAD = 160


def _levels_for(cfg: LatentConfig, height: int, width: int) -> LatentConfig:
    """At most the levels the smallest tile side allows (a 29-pixel tile: 5, down to a 2 x 2 grid)."""
    levels = int(max(1, min(len(cfg.channels), math.floor(math.log2(max(1, min(height, width)))) + 1)))
    return replace(cfg, channels=cfg.channels[:levels])


def fit_network(codec, tiles: list[Scene], *, bpppb: float, shape, chunks: int, device, progress: bool,
                steps: int | None = None) -> bytes:
    """The archive network of an array ``shape`` (bands, rows, columns) cut into ``chunks`` chunks, fitted on ``tiles``.

    Sized as the whole-scene codec would size it at ``bpppb`` for the whole
    array; trained for the rate left once the network and every chunk's
    overhead are paid, shared out by pixel.
    """
    import torch

    from ..latent_grid.fit import RateDistortionLoss, fit_latent
    from ..latent_grid.config import auto_config
    from ..latent_grid.shared import TiledLatentModel
    from .latent_grid_data import LatentData

    bands, height, width = (int(s) for s in shape)
    cfg = auto_config(bpppb, bands, height, width, compact=False)
    if codec.components:
        cfg = replace(cfg, components=min(int(codec.components), bands))
    cfg = _levels_for(cfg, min(t.shape[1] for t in tiles), min(t.shape[2] for t in tiles))
    torch.manual_seed(codec.seed)
    model = TiledLatentModel(cfg, [(t.shape[1], t.shape[2]) for t in tiles]).to(device)
    flat = np.concatenate([tiles[i].data.reshape(bands, -1) for i in model.order], axis=1)  # the model's order
    data = LatentData(Scene.from_array(flat[:, None, :]), cfg.components, device, tilt=cfg.tilt, compact=False)
    loss = RateDistortionLoss(data.basis, data.target, flat.size)

    size = len(pack_network(model, data, codec.weight_bits))  # before the fit: the weights' count sets it
    budget = bpppb * bands * height * width / 8.0
    left = budget - size - CHUNK_OVERHEAD * chunks
    if left <= 0:
        from ..errors import RateError

        raise RateError(f"latent-grid: the archive network ({size} bytes) and the chunks' headers are over "
                        f"the archive's budget of {budget:.0f} bytes", smallest=int(budget - left))
    share = flat.shape[1] / (height * width)  # the sampled tiles' part of the array
    fit = fit_latent(model, loss, target_bits=8.0 * 0.95 * left * share, steps=steps or NETWORK_STEPS,
                     weight_bits=codec.weight_bits, lr_latent=codec.latent_lr or 0.15, progress=progress,
                     temperatures=ARCHIVE_TEMPERATURES, desc="latent-grid archive network")
    return pack_network(model, data, codec.weight_bits, lam=fit.lam)


def pack_network(model, data, weight_bits: int, lam: float = 1.0) -> bytes:
    """The archive network's bytes: synthesis, basis, band scales, latent entropy model."""
    from .latent_grid_stream import config_to_header

    state = {n: p.detach().float().cpu().numpy() for n, p in model.decoder_state().items()}
    if not all(np.isfinite(v).all() for v in state.values()):
        raise FloatingPointError("the archive network fit left non-finite weights")
    qhead, qsections = pack_state(state, {n: weight_bits for n in state})
    scales = np.concatenate([np.exp(s.detach().cpu().double().numpy()).reshape(-1) for s in model.log_scales])
    peaks = np.asarray(model.peaks())
    ranges = np.minimum(MAX_SYMBOL, 4 * peaks + 64).astype(np.uint16)
    basis_head, basis_sections = data.basis_packed
    # lam: the rate weight the fit ended at, where each chunk's own fit starts
    header = {"arch": config_to_header(model.cfg), "q": qhead, "qb": basis_head, "lam": float(f"{lam:.6g}")}
    sections = {**data.band_sections, **basis_sections, **qsections,
                "lscale": pack_array(np.clip(scales, 1e-3, 1e4).astype(np.float32), "<f4"),
                "lrange": pack_array(ranges, "<u2")}
    return archive_network.pack("latent-grid", NETWORK_VERSION, header, sections)


def encode_chunk(codec, scene: Scene, target: Target, finish, device, progress: bool, t0: float):
    """A chunk's stream against the archive network ``codec.network``: its latents fitted to the budget."""
    import torch

    from ..latent_grid.fit import RateDistortionLoss
    from ..latent_grid.shared import FrozenSynthesisModel

    bands, height, width = scene.shape
    net = network(codec.network, bands)
    flat = scene.data.reshape(bands, -1).astype(np.float64)
    xc = flat / np.exp2(net.log2_scale)[:, None] - net.mean[:, None]
    cfg = net.cfg
    model = FrozenSynthesisModel(cfg, height, width, net.decoder, [np.log(s) for s in _split(net.lscale, cfg)])
    model.to(device)
    basis = torch.from_numpy(net.basis.astype(np.float32)).to(device)
    loss = RateDistortionLoss(basis, torch.from_numpy(xc.astype(np.float32)).to(device), scene.data.size)
    models = net.models()

    def stream(deadzone: float = 0.0, step: float = 1.0) -> bytes:  # step: always 1 over a shared synthesis
        symbols = [s.cpu().numpy() for s in model.symbols(deadzone, step)]
        symbols = [np.clip(s, m[3], m[4]) for s, m in zip(symbols, models)]
        blob, _ = entropy.encode_tensors(symbols, models)
        return finish({}, {"net": net.sha, "latents": blob})

    return codec._fit_to_budget(model, loss, stream, target, device, progress, t0,
                                {"network": codec.network, "config": {"shared": True}}, lam=net.lam,
                                gain=CHUNK_GAIN, rate_rounds=CHUNK_RATE_ROUNDS, desired=CHUNK_DESIRED,
                                temperatures=ARCHIVE_TEMPERATURES)


def _split(values: np.ndarray, cfg: LatentConfig) -> list[np.ndarray]:
    """Per-channel values (all levels) into one array per level."""
    return np.split(values, np.cumsum(cfg.channels)[:-1])


#: Most tiles :func:`read_chunks` synthesises in one forward pass, and most pixels (a tile larger than this
#: still goes alone): the activations of a pass are about (hidden width x pixels) float32, so a group of
#: 2**18 pixels at the largest width (512) stays near 0.5 GB, on a GPU or on the CPU.
MAX_BATCH_TILES = 64
MAX_BATCH_PIXELS = 1 << 18


def _synthesize(model: LatentGridModel, grids: list):
    """(n, k, H, W) coefficient images of n tiles' grids (n, c_l, H_l, W_l): :meth:`LatentGridModel.synthesize`
    over a batch (it keeps the first image only). 1x1 convolutions, a depthwise 3x3 and bilinear upsampling
    treat each image of a batch on its own."""
    import torch

    feats = torch.cat([model._upsample(g, level) for level, g in enumerate(grids)], dim=1)
    y = model.synthesis(feats)
    return y + model.refine(y)


def synthesise(latents: list[ChunkLatents], device=None) -> list:
    """Renderers of decoded chunks (:func:`chunk_latents`), in order: one forward pass per group of up to
    ``MAX_BATCH_TILES`` chunks (``MAX_BATCH_PIXELS`` pixels) of one network and shape, their grids stacked on
    the batch dimension. A chunk that synthesises to non-finite values gets its :class:`BitstreamError` in its
    place instead of a renderer (the others are still good)."""
    import torch

    from .latent_grid_stream import LatentRenderer

    device = torch.device("cpu") if device is None else torch.device(device)
    groups: dict = {}
    for i, chunk in enumerate(latents):
        groups.setdefault((id(chunk.net), chunk.shape), []).append(i)
    out: list = [None] * len(latents)
    for members in groups.values():
        net, shape = latents[members[0]].net, latents[members[0]].shape
        bands, height, width = shape
        cfg = net.cfg
        model = LatentGridModel(cfg, height, width, latents=False)
        model.load_decoder(net.decoder)
        model.to(device)
        basis_t = torch.from_numpy(net.basis.astype(np.float64).T.copy()).to(device)
        mean = torch.from_numpy(net.mean).to(device)
        scale = torch.exp2(torch.from_numpy(net.log2_scale).to(device))
        size = max(1, min(MAX_BATCH_TILES, MAX_BATCH_PIXELS // (height * width)))
        for start in range(0, len(members), size):
            part = members[start : start + size]
            per_tile = [model.grids_from_symbols(latents[i].symbols, device) for i in part]
            grids = [torch.cat(level) for level in zip(*per_tile)]
            with torch.inference_mode():
                coeffs = _synthesize(model, grids).double().reshape(len(part), cfg.components, -1)
            finite = torch.isfinite(coeffs).flatten(1).all(dim=1).tolist()
            for i, c, ok in zip(part, coeffs, finite):
                out[i] = (LatentRenderer(c, basis_t, mean, scale, shape) if ok else
                          BitstreamError("latent-grid chunk decodes to non-finite values"))
    return out


def read_chunks(streams: list[bitstream.Stream], shapes, device=None) -> list:
    """The renderers of chunks written against archive networks, as :func:`read_chunk` gives them one by one,
    their synthesis batched (:func:`synthesise`); the first damaged chunk raises its error."""
    out = synthesise([chunk_latents(s, shape) for s, shape in zip(streams, shapes)], device)
    for r in out:
        if isinstance(r, Exception):
            raise r
    return out


def read_chunk(stream: bitstream.Stream, shape, device=None):
    """The renderer of a chunk written against an archive network (which must be loaded in this process)."""
    return read_chunks([stream], [shape], device)[0]
