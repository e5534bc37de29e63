"""Sine-activated networks: SIREN per image, and the modulated SIREN with a spectral head.

SIREN (Sitzmann et al. 2020): ``h_i = sin(w0 * (W_i h_{i-1} + b_i))``. The
first layer's weights are drawn from U(-1/n_in, 1/n_in) and the later
layers' from U(-sqrt(6/n_in)/w0, sqrt(6/n_in)/w0), so that pre-activations
stay ~unit-variance through depth whatever ``w0`` is.

The modulated SIREN (COIN++, Dupont et al. 2022) adds a per-patch *shift*
to every hidden layer: ``h_i = sin(w0 * (W_i h_{i-1} + b_i + beta_i))``,
with ``beta = M phi + m`` a linear map of the patch's latent vector ``phi``.

Any band count, any wavelengths: the modulated network ends in ``F``
features per pixel, and a small *spectral head* maps each band's wavelength
(nm, positionally encoded) to an ``F``-vector and a bias; a pixel's value in
band ``b`` is ``<features(x, y), head(lambda_b)> + bias(lambda_b)``. The
same base therefore decodes 200 AVIRIS bands, 103 ROSIS bands or any other
set, and the head is a learned, continuous spectral basis (PCA's role).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

#: Wavelength range (nm) mapped to [0, 1] before the spectral head's encoding.
WL_RANGE = (350.0, 2550.0)


class SineLayer(nn.Module):
    """``sin(w0 * (W x + b [+ shift]))`` with SIREN's initialisation."""

    def __init__(self, n_in: int, n_out: int, w0: float, first: bool = False):
        super().__init__()
        self.w0 = float(w0)
        self.linear = nn.Linear(n_in, n_out)
        bound = 1.0 / n_in if first else math.sqrt(6.0 / n_in) / self.w0
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound)
            self.linear.bias.uniform_(-1.0 / math.sqrt(n_in), 1.0 / math.sqrt(n_in))

    def forward(self, x: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        z = self.linear(x)
        if shift is not None:
            z = z + shift
        return torch.sin(self.w0 * z)


def siren_init_linear(layer: nn.Linear, w0: float) -> nn.Linear:
    """The last (linear) layer gets the hidden layers' bound, as in SIREN's reference code."""
    bound = math.sqrt(6.0 / layer.in_features) / w0
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound)
        layer.bias.zero_()
    return layer


class Siren(nn.Module):
    """(x, y) in [-1, 1]^2 -> ``out_features`` values: ``depth`` sine layers of ``width``, then linear."""

    def __init__(self, width: int, depth: int, out_features: int, w0: float = 30.0, w0_hidden: float = 30.0,
                 in_features: int = 2):
        super().__init__()
        if width < 1 or depth < 1 or out_features < 1:
            raise ValueError("width, depth and out_features must be positive")
        self.width, self.depth, self.out_features = int(width), int(depth), int(out_features)
        self.w0, self.w0_hidden, self.in_features = float(w0), float(w0_hidden), int(in_features)
        layers = [SineLayer(in_features, width, w0, first=True)]
        layers += [SineLayer(width, width, w0_hidden) for _ in range(depth - 1)]
        self.layers = nn.ModuleList(layers)
        self.last = siren_init_linear(nn.Linear(width, out_features), w0_hidden)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        h = coords
        for layer in self.layers:
            h = layer(h)
        return self.last(h)

    @staticmethod
    def param_count(width: int, depth: int, out_features: int, in_features: int = 2) -> int:
        return (in_features + 1) * width + (depth - 1) * (width + 1) * width + (width + 1) * out_features

    # Short tensor names keep the stream's JSON header small.
    def stored_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for i, layer in enumerate([*(layer.linear for layer in self.layers), self.last]):
            shapes[f"{i}w"] = tuple(layer.weight.shape)
            shapes[f"{i}b"] = tuple(layer.bias.shape)
        return shapes

    def stored_state(self) -> dict[str, torch.Tensor]:
        out = {}
        for i, layer in enumerate([*(layer.linear for layer in self.layers), self.last]):
            out[f"{i}w"], out[f"{i}b"] = layer.weight, layer.bias
        return out

    def load_stored(self, state: dict) -> None:
        with torch.no_grad():
            for name, param in self.stored_state().items():
                param.copy_(torch.as_tensor(state[name], dtype=param.dtype))


@dataclass
class MetaSirenConfig:
    """Everything that defines a base network's shape and how it was meant to be used."""

    width: int = 96  # hidden width of the modulated SIREN
    depth: int = 4  # number of (modulated) sine layers
    features: int = 48  # per-pixel feature vector = rank of the spectral basis
    latent_dim: int = 256  # one latent per patch
    w0: float = 30.0  # first layer
    w0_hidden: float = 30.0
    head_width: int = 96  # spectral head MLP width
    head_freqs: int = 9  # sin/cos pairs of the wavelength encoding (2^0..2^8 pi)
    patch_sizes: list[int] = field(default_factory=lambda: [4, 6, 8, 10, 12])  # trained on
    max_patch: int = 16  # coordinates: pixel pitch is 2 / max_patch, patches centred on 0
    inner_steps: int = 3
    inner_lr: float = 1e-2  # initial value of the (meta-learned, per latent dimension) inner rate

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> MetaSirenConfig:
        values = json.loads(text)
        if not isinstance(values, dict):
            raise ValueError("config must be a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config fields {sorted(unknown)}")
        return cls(**values)

    @property
    def pitch(self) -> float:
        return 2.0 / self.max_patch


def wavelength_encoding(wavelengths: torch.Tensor, freqs: int) -> torch.Tensor:
    """(B,) nm -> (B, 1 + 2 * freqs): u in [0, 1] and sin/cos(2^k pi u)."""
    lo, hi = WL_RANGE
    u = (wavelengths.to(torch.float32) - lo) / (hi - lo)
    k = torch.pi * 2.0 ** torch.arange(freqs, dtype=torch.float32, device=u.device)
    arg = u[:, None] * k[None, :]
    return torch.cat([u[:, None], torch.sin(arg), torch.cos(arg)], dim=1)


class MetaSiren(nn.Module):
    """Shared base: modulated SIREN (x, y) -> F features; latent -> shifts; wavelength -> spectral weights."""

    def __init__(self, cfg: MetaSirenConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        layers = [SineLayer(2, w, cfg.w0, first=True)]
        layers += [SineLayer(w, w, cfg.w0_hidden) for _ in range(cfg.depth - 1)]
        self.layers = nn.ModuleList(layers)
        self.feat = siren_init_linear(nn.Linear(w, cfg.features), cfg.w0_hidden)
        self.mapping = nn.Linear(cfg.latent_dim, cfg.depth * w)
        with torch.no_grad():  # PyTorch's default weight init (as COIN++); no shift before any latent
            self.mapping.bias.zero_()
        n_enc = 1 + 2 * cfg.head_freqs
        self.head = nn.Sequential(
            nn.Linear(n_enc, cfg.head_width), nn.SiLU(),
            nn.Linear(cfg.head_width, cfg.head_width), nn.SiLU(),
            nn.Linear(cfg.head_width, cfg.features + 1),
        )
        # Meta-SGD: one inner learning rate per latent dimension, meta-learned with the rest.
        self.inner_lr = nn.Parameter(torch.full((cfg.latent_dim,), float(cfg.inner_lr)))

    def spectral(self, wavelengths: torch.Tensor) -> torch.Tensor:
        """(B,) nm -> (B, F + 1): per-band weights on the features and a bias."""
        return self.head(wavelength_encoding(wavelengths, self.cfg.head_freqs))

    def shifts(self, latents: torch.Tensor) -> torch.Tensor:
        """(..., D) latents -> (..., depth, width) shift modulations."""
        return self.mapping(latents).unflatten(-1, (self.cfg.depth, self.cfg.width))

    def features(self, coords: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
        """``coords`` (..., 2) and ``shifts`` (..., depth, width), broadcast together -> (..., F)."""
        h = coords
        for i, layer in enumerate(self.layers):
            h = layer(h, shifts[..., i, :])
        return self.feat(h)

    def render(self, coords: torch.Tensor, shifts: torch.Tensor, spectral: torch.Tensor) -> torch.Tensor:
        """Values (..., B) in normalised units."""
        f = self.features(coords, shifts)
        return f @ spectral[:, :-1].T + spectral[:, -1]

    def lr(self) -> torch.Tensor:
        return self.inner_lr.clamp(min=0.0)

    def param_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
