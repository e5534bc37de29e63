"""The ``latent-grid`` stream: what it holds and how it is written; the torch renderer that reads it.

Parsing and the torch-free decode are :mod:`~torchgeo_inr.codecs.latent_grid_read`.

Header: ``arch`` (components, latent channels per level, synthesis width),
``q`` (the synthesis weights' quantisation, :mod:`torchgeo_inr.quantize`),
``qb`` (the basis's: each row's step chosen by
:mod:`torchgeo_inr.latent_grid.basis_precision`). Sections, all counted in the rate: ``scale`` and
``mean`` (per band, float16: the band's log2 scale and mean), ``bstep`` and
``bdata`` (the spectral basis, k x B, quantised per component, scaled so the
network's outputs are of order one, or, in version 4, so that a coefficient
unit is the warm start's rounding step), ``qstep``/``qdata`` (the synthesis
weights) and ``latents`` (the rounded latents, one ANS stream).

Version 4 is version 3 (or 1) with ``arch["skip"]``: the first ``skip``
full-resolution latent channels, times header ``skip_step``, are added to
the first ``skip`` coefficient images (:mod:`torchgeo_inr.latent_grid.warm_start`).

Version 3 codes the latents under the context model
(:mod:`torchgeo_inr.latent_grid.context_coding`): section ``lctx`` (per
latent channel, its 1 + FEATURES weights as int16, multiples of 1/64) and
header ``lbound`` (the largest symbol magnitude). Version 1 coded each level
and channel with one Laplace: section ``lmodels`` (each channel's model, 17
bytes in binary); it still reads.

Version 5 is version 3 whose ``lctx`` has a sixth column per channel: the
weight, in 1/64, of its second-pass latents' prediction from their decoded
neighbours (:mod:`torchgeo_inr.latent_grid.neighbour_prediction`); what is
coded there is the latent minus the prediction, and ``lbound`` bounds that.

Version 6 is version 5 with its side information coded compactly
(:mod:`torchgeo_inr.latent_grid.side_coding`): header ``q`` holds the
weights' bits and step precision only (names and shapes follow from
``arch``), section ``qmodels`` their entropy models in binary, no zero
points; the basis's rows and the per-band scale and mean are coded as
differences from band to band (sections ``bdata`` and ``bands`` in place
of ``scale`` and ``mean``; header ``qb``: the basis's step precision). The
values decoded are those version 5 would hold.

Version 7 is
version 6 whose latents decode on a lattice of three passes
(:mod:`~torchgeo_inr.latent_grid.lattice`) instead of a checkerboard's two,
both later passes predicted from their decoded neighbours: ``lctx`` has
seven columns per channel, its prediction weights for the diagonal pass and
for the edge pass.

Version 8 (what the context model writes now) is version 7 whose skipped
channels may hold wavelet subbands (header ``arch["wavelet"]``, the
levels: :mod:`~torchgeo_inr.latent_grid.wavelet`), each subband coded as a
plane of its own with its own ``lctx`` rows, in the order and with the
parents of :mod:`~torchgeo_inr.latent_grid.coded_planes`; ``lctx`` is
coded column by column (:func:`~torchgeo_inr.latent_grid.side_coding.pack_rows`)
instead of as raw int16 (1,036 -> 467 bytes in a 0.05 bpppb stream of Indian Pines).

``hiner`` streams of version 1 written in its former ``mode="latent"``
have this very layout (plus ``"mode": "latent"`` in the header), so
:mod:`torchgeo_inr.codecs.hiner_stream` reads them through
:func:`read_renderer`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import bitstream, entropy
from ..band_shift import lerp_rows
from ..codec import Finish
from ..errors import BitstreamError
from ..latent_grid import side_coding
from ..latent_grid.coded_planes import split
from ..latent_grid.config import LatentConfig
from ..latent_grid.context import features_of
from ..latent_grid.context_coding import encode_levels
from ..latent_grid.context_fit import stored_context_weights
from ..latent_grid.lattice import passes
from ..latent_grid.model import LatentGridModel
from ..latent_grid.neighbour_prediction import choose_weights, coded_values
from ..packing import pack_array
from ..quantize import pack_state
from .latent_grid_read import read_payload, stacked_levels


def config_to_header(cfg: LatentConfig) -> dict:
    head = {"components": cfg.components, "channels": list(cfg.channels), "hidden": cfg.hidden}
    if cfg.skip:  # version 4
        head["skip"] = cfg.skip
    if cfg.wavelet:  # version 8
        head["wavelet"] = cfg.wavelet
    return head


def pack_basis(basis: np.ndarray, steps: np.ndarray | None = None) -> tuple[dict, dict[str, bytes]]:
    """The basis (k, B) quantised by :func:`side_coding.basis_quantisation`: its header and its two sections, as
    versions 1 to 5 and archive networks store it (version 6: :func:`side_coding.pack_basis`)."""
    head, sections = pack_state({"basis": basis}, *side_coding.basis_quantisation(basis, steps))
    return head, {"bstep": sections["qstep"], "bdata": sections["qdata"]}


def band_sections(log2_scale: np.ndarray, mean: np.ndarray) -> dict[str, bytes]:
    return {"scale": pack_array(log2_scale, "f2"), "mean": pack_array(mean, "f2")}


def write_stream(
    model: LatentGridModel,
    basis: tuple[dict, dict[str, bytes]],
    bands: dict[str, bytes],
    weight_bits: int,
    finish: Finish,
    deadzone: float = 0.0,
    step: float = 1.0,
) -> bytes:
    """The whole stream of a fitted model, its latents rounded with ``deadzone`` on a grid of ``step``. With the
    context model (version 8) ``basis`` and ``bands`` are packed by :mod:`~torchgeo_inr.latent_grid.side_coding`,
    else (versions 1 and 4) by :func:`pack_basis` and :func:`band_sections`."""
    state = {n: p.detach().float().cpu().numpy() for n, p in model.stepped_decoder_state(step).items()}
    if not all(np.isfinite(v).all() for v in state.values()):
        raise FloatingPointError("the latent fit left non-finite weights")
    basis_head, basis_sections = basis
    compact = bool(len(model.context))
    if ("bands" in bands) != compact or ("names" not in basis_head) != compact:
        raise ValueError("basis and band numbers packed for another stream version (LatentData's compact= must be "
                         "the model's context=)")
    if compact:  # version 6 on: the side information coded compactly
        qhead, qsections = side_coding.pack_weights(state, weight_bits)
    else:
        qhead, qsections = pack_state(state, {n: weight_bits for n in state})
    symbols = [s.cpu().numpy() for s in model.symbols(deadzone, step)]
    header = {"arch": config_to_header(model.cfg), "q": qhead, "qb": basis_head}
    if model.cfg.skip:
        header["skip_step"] = float(np.float32(model.skip_step * step))
    if compact:
        levels = split(stacked_levels(symbols, model.cfg.channels, model.sizes), model.planes)
        blob, header["lbound"], table, predict = encode_latents(levels, list(model.context),
                                                                [p.parent for p in model.planes])
        model.neighbour_weights = predict  # the fit's rate term follows the last stream's choice
        latent_sections = {"latents": blob, "lctx": side_coding.pack_rows(table.T)}  # version 8: coded by column
    else:
        models = [side_coding.float32_model(entropy.fit_model(s)) for s in symbols]
        blob, models = entropy.encode_tensors(symbols, models)
        latent_sections = {"latents": blob, "lmodels": side_coding.pack_models(models)}
    return finish(header, {**bands, **basis_sections, **qsections, **latent_sections})


def encode_latents(levels: list[np.ndarray], trained: list[torch.Tensor], parents: list[int | None] | None = None
                   ) -> tuple[bytes, int, np.ndarray, list[np.ndarray]]:
    """Integer grids (C, h, w), finest first, as version 7 and 8 code them under the context model whose weights
    training left ``trained`` (per grid, (C, 1 + FEATURES)): (section ``latents``, ``lbound``, the ``lctx``
    table (channels, 1 + FEATURES + 2), per grid the prediction weights (C, 2) chosen). The grids are the coded
    planes (:mod:`~torchgeo_inr.latent_grid.coded_planes`), each with its ``parents`` entry (None: each the
    next one's child, as levels)."""
    features = features_of(levels, parents=parents)
    orders = [passes(*g.shape[1:]) for g in levels]
    predict = [choose_weights(g, order) for g, order in zip(levels, orders)]
    # the scales are fitted to what is coded: predicted passes' latents minus their prediction
    coded = [coded_values(g, p, order) for g, p, order in zip(levels, predict, orders)]
    weights = stored_context_weights(trained, coded, [[f.numpy() for f in feats] for feats in features])
    blob, bound = encode_levels(levels, weights, features, predict, parents=parents)
    table = np.concatenate([np.concatenate([w, p], 1) for w, p in zip(weights, predict)])
    return blob, bound, table, predict


@dataclass
class LatentRenderer:
    """A decoded latent-grid stream: coefficient images, basis and band scales, ready to render.

    ``render(shift)`` gives bands a fraction of a band away (what ISI asks) by
    interpolating the basis's rows, the model's spectral side, in value units:
    the stored per-band scales hold the PCA's band weights (up to 2**4 either
    way), so interpolating in the normalised space would mix bands at the
    wrong scale.
    """

    coeffs: torch.Tensor  # (k, H*W) float64
    basis: torch.Tensor  # (B, k) float64
    mean: torch.Tensor  # (B,) float64
    scale: torch.Tensor  # (B,) float64
    shape: tuple[int, int, int]

    @property
    def device(self) -> torch.device:
        return self.coeffs.device

    @torch.inference_mode()
    def render(self, shift: torch.Tensor | None = None) -> torch.Tensor:
        """The scene (B, H, W) float32 on the renderer's device; ``shift`` (B,) in bands moves each band."""
        bands = self.shape[0]
        if shift is not None and tuple(shift.shape) != (bands,):
            raise ValueError(f"shift must have one value per band ({bands}), not shape {tuple(shift.shape)}")
        if shift is None:
            x = (self.basis @ self.coeffs + self.mean[:, None]) * self.scale[:, None]
        else:
            x = lerp_rows(self.basis * self.scale[:, None], shift) @ self.coeffs
            x = x + lerp_rows(self.mean * self.scale, shift)[:, None]
        return x.reshape(self.shape).float()


@torch.inference_mode()
def read_renderer(stream: bitstream.Stream, shape, device=None) -> LatentRenderer:
    """Parse, check (:func:`~torchgeo_inr.codecs.latent_grid_read.read_payload`) and synthesise with the torch model
    on ``device``; any inconsistency raises :class:`BitstreamError`."""
    payload = read_payload(stream, shape)
    cfg, (bands, height, width) = payload.cfg, payload.shape
    device = torch.device("cpu") if device is None else torch.device(device)
    model = LatentGridModel(cfg, height, width, latents=False)
    model.load_decoder(payload.decoder)
    model.skip_step = payload.skip_step
    model.to(device)
    grids = [torch.from_numpy(g.astype(np.float32))[None].to(device) for g in payload.grids]
    coeffs = model.synthesize(grids).double().reshape(cfg.components, -1)
    if not torch.isfinite(coeffs).all():
        raise BitstreamError("latent stream decodes to non-finite values")

    def rows(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(values).to(device)

    basis_t = torch.from_numpy(payload.basis.astype(np.float64).T.copy()).to(device)
    return LatentRenderer(coeffs, basis_t, rows(payload.mean), torch.exp2(rows(payload.log2_scale)),
                          (bands, height, width))
