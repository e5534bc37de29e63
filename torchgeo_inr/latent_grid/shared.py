"""Many tiles' latent grids over one synthesis: the latent-grid model of an archive network.

Why: fitting the synthesis (and the latents' entropy model) on all of an
array's tiles at once gives one network the whole array shares; each tile
keeps only its latents. :class:`TiledLatentModel` looks like a
:class:`~torchgeo_inr.latent_grid.model.LatentGridModel` to
:func:`~torchgeo_inr.latent_grid.fit.fit_latent` (latents, log scales,
decoder state, quantised grids, synthesis, rate), its coefficient images
being the tiles' side by side (k, sum of tile pixels), so the one fit loop
trains it. :class:`FrozenSynthesisModel` is one tile against a network
already fitted: only its latents train.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import LatentConfig
from .model import LatentGridModel


class TiledLatentModel(nn.Module):
    """Per-tile latent grids, one synthesis, refinement and latent scales for all tiles.

    Tiles of one shape are one batch (their latents stacked), so 25 tiles cost one forward pass, not 25.
    ``order`` lists the tiles in the order of :meth:`synthesize`'s columns (grouped by shape).
    """

    def __init__(self, cfg: LatentConfig, shapes: list[tuple[int, int]]):
        super().__init__()
        self.cfg = cfg
        groups: dict[tuple[int, int], list[int]] = {}
        for i, shape in enumerate(shapes):
            groups.setdefault(tuple(shape), []).append(i)
        self.order = [i for members in groups.values() for i in members]
        models = []
        for (h, w), members in groups.items():
            m = LatentGridModel(cfg, h, w)
            m.latents = nn.ParameterList([nn.Parameter(torch.zeros(len(members), *z.shape[1:])) for z in m.latents])
            models.append(m)
        first = models[0]
        for m in models[1:]:  # the same modules: one set of weights, trained by every tile
            m.synthesis, m.refine, m.log_scales = first.synthesis, first.refine, first.log_scales
        self.groups = nn.ModuleList(models)
        self.latents = nn.ParameterList([z for m in models for z in m.latents])
        self.log_scales = first.log_scales
        self.context = first.context  # empty: an archive network shares one Laplace per latent channel

    def entropy_parameters(self) -> list[nn.Parameter]:
        return list(self.log_scales.parameters())

    def decoder_state(self) -> dict[str, torch.Tensor]:
        return self.groups[0].decoder_state()

    def quantised_grids(self, how: str, temperature: float | None = None) -> list[list[torch.Tensor]]:
        return [m.quantised_grids(how, temperature) for m in self.groups]

    def synthesize(self, grids, params: dict | None = None) -> torch.Tensor:
        """(k, sum of tile pixels): each tile's coefficient images, flattened, in :attr:`order`."""
        out = []
        for m, g in zip(self.groups, grids):
            feats = torch.cat([m._upsample(z, level) for level, z in enumerate(g)], dim=1)
            y = m.decode_features(feats, params)
            out.append(y.transpose(0, 1).reshape(self.cfg.components, -1))  # (k, tiles x H x W)
        return torch.cat(out, dim=1)

    def rate_bits(self, grids, features=None) -> torch.Tensor:
        return sum(m.rate_bits(g) for m, g in zip(self.groups, grids))

    def peaks(self) -> list[float]:
        """The largest rounded latent magnitude per channel (levels in order), over every tile."""
        out = []
        for level in range(len(self.cfg.channels)):
            per_group = [torch.round(m.latents[level].detach()).abs().amax(dim=(0, 2, 3)) for m in self.groups]
            out.extend(float(v) for v in torch.stack(per_group).amax(dim=0))
        return out


class FrozenSynthesisModel(LatentGridModel):
    """One tile's latents over a fixed synthesis and entropy model (the archive's): only latents train.

    ``decoder_state`` is empty, so the fit neither trains nor fake-quantises the
    weights: they are the dequantised ones the decoder will use.
    """

    def __init__(self, cfg: LatentConfig, height: int, width: int, decoder: dict, log_scales: list):
        super().__init__(cfg, height, width)
        with torch.no_grad():
            for name, p in LatentGridModel.decoder_state(self).items():
                p.copy_(torch.as_tensor(decoder[name], dtype=p.dtype))
            for p, s in zip(self.log_scales, log_scales):
                p.copy_(torch.as_tensor(s, dtype=p.dtype).reshape(p.shape))
        for p in [*self.synthesis.parameters(), *self.refine.parameters(), *self.log_scales.parameters()]:
            p.requires_grad_(False)

    def decoder_state(self) -> dict[str, torch.Tensor]:
        return {}

    def full_decoder_state(self) -> dict[str, torch.Tensor]:
        return LatentGridModel.decoder_state(self)
