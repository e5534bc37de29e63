"""The latent-grid model: a spectral basis and spatial latent grids, trained for rate and distortion.

Why not HINER: HINER keeps the scene's spatial detail in convolution weights,
which cost more bits per dB than a transform coder (measured on Indian
Pines: 4 to 5 dB below PCA + JPEG2000). Here, after Cool-chic (Ladune et
al., ICCV 2023), the detail lives in integer latent grids at full, 1/2,
1/4 ... resolution that are entropy-coded, and the rate is in the loss. A
small synthesis network (1x1 convolutions with GELU, then a depth-wise 3x3
refinement) turns the upsampled grids into ``k`` coefficient images of a
spectral basis, to which the first full-resolution channels may be added
unchanged (the ``skip`` of :mod:`~torchgeo_inr.latent_grid.warm_start`; from
stream version 8 those channels hold wavelet subbands and their inverse
transform is added, :mod:`~torchgeo_inr.latent_grid.wavelet`);
the basis (the scene's principal components, quantised) maps them to the
bands. The loss is the metric itself, the mean over bands of
log MSE (= -per-band PSNR * ln 10 / 10), plus ``lambda`` * bits per value;
``lambda`` is steered during training so that the estimated stream meets the
byte budget. Training adds uniform noise to the latents first, soft-rounded
(a differentiable stand-in for rounding), then rounds them with a
straight-through gradient while the synthesis weights see their own
quantisation.

This module knows nothing of streams: what is stored, and how, is
:mod:`torchgeo_inr.codecs.latent_grid_stream`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import wavelet
from .coded_planes import coded_planes, split
from .config import MAX_SYMBOL, LatentConfig
from .context import neighbour_sums, pass_map, pyramid_features
from .laplace import laplace_element_bits
from .neighbour_prediction import PREDICTED
from .scale_index import FEATURES, LOG2_RANGE, UNITS, log2_scales
from .soft_rounding import noisy_soft_round


def _predictions(rounded: torch.Tensor, weights: np.ndarray | None) -> torch.Tensor | None:
    """What each predicted pass's positions of (C, h, w) rounded latents are coded less: the prediction from
    their rounded neighbours (:func:`~torchgeo_inr.latent_grid.neighbour_prediction.prediction` on the lattice,
    in torch), zero elsewhere; ``weights`` (C, 2) as
    :func:`~torchgeo_inr.latent_grid.neighbour_prediction.choose_weights`; None when nothing is predicted."""
    if weights is None or not np.any(weights):
        return None
    order = pass_map(*rounded.shape[1:], device=rounded.device)
    total = torch.zeros_like(rounded)
    for column, kind in enumerate(PREDICTED):
        count = neighbour_sums(torch.ones_like(rounded[:1]), kind).clamp_min(1)
        w = torch.as_tensor(np.asarray(weights, np.float64)[:, column] / UNITS, dtype=rounded.dtype,
                            device=rounded.device)
        mean = torch.floor(w[:, None, None] * neighbour_sums(rounded, kind) / count + 0.5)
        total = total + mean * (order == kind)
    return total


def laplace_bits(values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Bits of (noisy or rounded) ``values`` under a zero-mean Laplace quantised to unit bins, summed."""
    return laplace_element_bits(values, scale).sum()


class LatentGridModel(nn.Module):
    """Latent grids (trainable, rounded in the stream) and the synthesis that decodes them."""

    def __init__(self, cfg: LatentConfig, height: int, width: int, latents: bool = True, context: bool = False):
        """``context``: code the latents with :mod:`~torchgeo_inr.latent_grid.context` (each latent's scale from its
        decoded neighbours) instead of one Laplace per channel (``log_scales``, what archive networks share)."""
        super().__init__()
        self.height, self.width = height, width
        self.cfg, self.planes = cfg, coded_planes(cfg, height, width)
        self.sizes = cfg.grid_sizes(height, width)
        # decode brings its own grids: no trainable copies there
        shapes = zip(cfg.channels, self.sizes) if latents else ()
        self.latents = nn.ParameterList([nn.Parameter(torch.zeros(1, c, h, w)) for c, (h, w) in shapes])
        self.log_scales = nn.ParameterList([nn.Parameter(torch.zeros(1, c, 1, 1)) for c in cfg.channels])
        # per coded plane and channel: a log2 scale and its slopes over the context features (scale_index.FEATURES)
        self.context = nn.ParameterList(self._context_weights() if context else [])
        cin, hid, k = sum(cfg.channels), cfg.hidden, cfg.components
        self.synthesis = nn.Sequential(
            nn.Conv2d(cin, hid, 1), nn.GELU(), nn.Conv2d(hid, hid, 1), nn.GELU(), nn.Conv2d(hid, k, 1)
        )
        self.refine = nn.Conv2d(k, k, 3, padding=1, groups=k)
        nn.init.zeros_(self.refine.weight)
        nn.init.zeros_(self.refine.bias)
        #: Per coded plane, each channel's neighbour-prediction weights (C, 2)
        #: (:mod:`~torchgeo_inr.latent_grid.neighbour_prediction`) as the last stream written chose them: the rate
        #: term codes the predicted passes against them too.
        self.neighbour_weights: list[np.ndarray] | None = None
        #: The skipped channels' rounding step relative to the coefficients. A stream decoded with a
        #: latent rounding step other than 1 passes ``skip_step * step`` to :meth:`synthesize`.
        self.skip_step = 1.0

    def set_layout(self, cfg: LatentConfig) -> None:
        """Take ``cfg`` (the same grids, its ``skip`` and ``wavelet`` set: the warm start) and, with the context
        model, one fresh set of context weights per coded plane (:mod:`~torchgeo_inr.latent_grid.coded_planes`)."""
        self.cfg, self.planes = cfg, coded_planes(cfg, self.height, self.width)
        if len(self.context):
            self.context = nn.ParameterList(self._context_weights())
        self.neighbour_weights = None

    def _context_weights(self) -> list[nn.Parameter]:
        device = self.log_scales[0].device
        return [nn.Parameter(torch.zeros(p.channels, 1 + FEATURES, device=device)) for p in self.planes]

    # -- what the stream stores --------------------------------------------
    def decoder_state(self) -> dict[str, torch.Tensor]:
        """The synthesis weights, by name, in a fixed order (quantised into the stream)."""
        state = {f"synthesis.{n}": p for n, p in self.synthesis.named_parameters()}
        state.update({f"refine.{n}": p for n, p in self.refine.named_parameters()})
        return state

    def stepped_decoder_state(self, step: float = 1.0) -> dict[str, torch.Tensor]:
        """:meth:`decoder_state` for latents rounded with ``step`` (:meth:`symbols`): the upsampling is linear, so
        the first layer's weights times ``step`` give the same synthesis before rounding."""
        state = dict(self.decoder_state())
        if step != 1.0:
            state["synthesis.0.weight"] = state["synthesis.0.weight"] * step
        return state

    def decoder_shapes(self) -> dict[str, tuple]:
        return {name: tuple(p.shape) for name, p in self.decoder_state().items()}

    def load_decoder(self, state: dict) -> None:
        with torch.no_grad():
            for name, p in self.decoder_state().items():
                p.copy_(torch.as_tensor(state[name], dtype=p.dtype))

    def symbols(self, deadzone: float = 0.0, step: float = 1.0) -> list[torch.Tensor]:
        """The rounded latents, one (H_l, W_l) integer grid per level and channel.

        ``deadzone`` in [0, 0.5) rounds magnitudes down when their fraction is
        below 0.5 + deadzone: fewer bits (more zeros) for a little distortion,
        the knob rate control turns when a stream comes out over budget.
        ``step`` below 1 rounds the latents on a finer grid (more bits, less
        rounding error), the knob it turns when a stream comes out under
        budget; :meth:`stepped_decoder_state` undoes the scaling in the synthesis.
        """
        out = []
        for z in self.latents:
            z = z.detach() / step
            q = torch.sign(z) * torch.floor((z.abs() + 0.5 - deadzone).clamp_min(0))
            q = q.clamp(-MAX_SYMBOL, MAX_SYMBOL).to(torch.int64)[0]
            out.extend(q[c] for c in range(q.shape[0]))
        return out

    # -- forward -------------------------------------------------------------
    def _upsample(self, grid: torch.Tensor, level: int) -> torch.Tensor:
        if level == 0:
            return grid
        h, w = self.sizes[level]
        up = F.interpolate(grid, size=(h * 2**level, w * 2**level), mode="bilinear", align_corners=False)
        return up[..., : self.height, : self.width]

    def synthesize(self, grids: list[torch.Tensor], params: dict | None = None, skip_step: float | None = None
                   ) -> torch.Tensor:
        """Coefficient images (k, H, W) from latent grids (1, c_l, H_l, W_l); ``params`` overrides weights,
        ``skip_step`` the skipped channels' step (:meth:`stepped_decoder_state`'s ``step`` times :attr:`skip_step`)."""
        if self.cfg.wavelet:  # the skipped channels hold subbands: the synthesis sees their image
            skip = self.cfg.skip
            grids = [torch.cat([wavelet.inverse(grids[0][:, :skip], self.cfg.wavelet), grids[0][:, skip:]], dim=1),
                     *grids[1:]]
        feats = torch.cat([self._upsample(g, level) for level, g in enumerate(grids)], dim=1)
        y = self.decode_features(feats, params)
        skip = self.cfg.skip
        if skip:
            gain = self.skip_step if skip_step is None else skip_step
            y = torch.cat([y[:, :skip] + feats[:, :skip] * gain, y[:, skip:]], dim=1)
        return y[0]

    def decode_features(self, feats: torch.Tensor, params: dict | None = None) -> torch.Tensor:
        """The synthesis and its refinement on upsampled features (N, C, H, W), batch kept (no skip)."""
        if params is None:
            y = self.synthesis(feats)
            return y + self.refine(y)
        synthesis = {n[len("synthesis."):]: v for n, v in params.items() if n.startswith("synthesis.")}
        refine = {n[len("refine."):]: v for n, v in params.items() if n.startswith("refine.")}
        y = torch.func.functional_call(self.synthesis, synthesis, (feats,))
        return y + torch.func.functional_call(self.refine, refine, (y,))

    def quantised_grids(self, how: str, temperature: float | None = None) -> list[torch.Tensor]:
        """Latents with uniform noise ("noise"; soft-rounded before and after at ``temperature`` if given,
        :mod:`~torchgeo_inr.latent_grid.soft_rounding`), rounded with a straight-through gradient ("ste") or
        rounded."""
        if how == "noise" and temperature is not None:
            return [noisy_soft_round(z, temperature) for z in self.latents]
        if how == "noise":
            return [z + torch.rand_like(z) - 0.5 for z in self.latents]
        if how == "ste":
            return [z + (torch.round(z) - z).detach() for z in self.latents]
        return [torch.round(z) for z in self.latents]

    def entropy_parameters(self) -> list[nn.Parameter]:
        """What the rate term trains besides the latents: the context weights, or the per-channel scales."""
        return list((self.context if len(self.context) else self.log_scales).parameters())

    def rate_bits(self, grids: list[torch.Tensor], context: list | None = None) -> torch.Tensor:
        """Estimated bits of the grids: under the context model (its ``context``, from :meth:`context_features`,
        may be a few steps old), or a Laplace per level and channel (as the coder will fit)."""
        if not len(self.context):
            return sum(laplace_bits(g, torch.exp(s)) for g, s in zip(grids, self.log_scales))
        context = self.context_features(grids) if context is None else context
        coded, subbands = self.coded(grids), self._subband_planes()
        single = [i for i in range(len(self.planes)) if i not in subbands]
        bits = sum(laplace_bits(coded[i] if offset is None else coded[i] - offset,
                                torch.exp2(log2_scales(self.context[i], f).clamp(*LOG2_RANGE)))
                   for i, (f, offset) in zip(single, context))
        if subbands:  # all in one: per position its subband's weights, over the packed features (fit speed)
            features, offset, band = context[-1]
            weights = torch.stack([self.context[i] for i in subbands])[band].permute(2, 0, 1, 3)  # (m, H, W, 1+F)
            log2 = weights[..., 0] + sum(weights[..., 1 + k] * plane for k, plane in enumerate(features))
            bits = bits + laplace_bits(grids[0][0, : self.cfg.skip] - offset, torch.exp2(log2.clamp(*LOG2_RANGE)))
        return bits

    def coded(self, grids: list) -> list:
        """Grids (1, C, h, w) as the coded planes (c, h', w') (:mod:`~torchgeo_inr.latent_grid.coded_planes`)."""
        return split([g[0] for g in grids], self.planes)

    def _subband_planes(self) -> list[int]:
        """The coded planes that are the skipped channels' wavelet subbands (none without a wavelet)."""
        return [i for i, p in enumerate(self.planes) if self.cfg.wavelet and p.level == 0 and p.stop <= self.cfg.skip]

    def context_features(self, grids: list[torch.Tensor]) -> list[tuple]:
        """Per coded plane, the context model's features of the rounded grids and what its predicted passes are
        coded less (:func:`_predictions` under :attr:`neighbour_weights`): constants, no gradient flows
        through them (the fit refreshes them every few steps). The subbands' come last, as one entry in their
        packed layout (features (m, H, W) each, offsets (m, H, W), each position's subband (H, W)), for
        :meth:`rate_bits` to cost them in one pass instead of one per subband."""
        planes = self.coded([torch.round(g.detach()) for g in grids])
        features = pyramid_features(planes, parents=[p.parent for p in self.planes])
        predict = self.neighbour_weights or [None] * len(planes)
        entries = [(f, _predictions(g, p)) for g, f, p in zip(planes, features, predict)]
        subbands = self._subband_planes()
        if not subbands:
            return entries
        shape = (self.cfg.skip, self.height, self.width)
        packed = [torch.zeros(shape, device=grids[0].device) for _ in range(FEATURES)]
        offset = torch.zeros(shape, device=grids[0].device)
        band = torch.zeros(shape[1:], dtype=torch.int64, device=grids[0].device)
        for j, i in enumerate(subbands):
            (plane_features, plane_offset), p = entries[i], self.planes[i]
            for target, values in zip(packed, plane_features):
                target[:, p.rows, p.cols] = values
            if plane_offset is not None:
                offset[:, p.rows, p.cols] = plane_offset
            band[p.rows, p.cols] = j
        return [e for i, e in enumerate(entries) if i not in subbands] + [(packed, offset, band)]

    def grids_from_symbols(self, symbols: list, device) -> list[torch.Tensor]:
        """Decoded symbols (flat, one per level and channel) back into (1, c, H_l, W_l) grids."""
        grids, i = [], 0
        for c, (h, w) in zip(self.cfg.channels, self.sizes):
            planes = [torch.as_tensor(symbols[i + j].reshape(h, w), dtype=torch.float32) for j in range(c)]
            grids.append(torch.stack(planes)[None].to(device))
            i += c
        return grids
