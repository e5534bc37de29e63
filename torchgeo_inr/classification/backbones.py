"""Classifiers of hyperspectral patches (N, B, p, p) -> class logits (N, K).

- :class:`SpectralFormer`: a compact SpectralFormer-style transformer (Hong et
  al., 2022). Tokens are groups of adjacent bands over the whole patch
  (group-wise spectral embedding), a class token reads them out. Grouping
  bands keeps it fast on a CPU; ``group=1`` is one token per band.
- :class:`SpectralCNN`: a small 2-D CNN, a 1x1 spectral reduction then 3x3
  spatial convolutions; the quick baseline.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SpectralFormer(nn.Module):
    """Transformer over band groups of a patch, ViT-style readout from a class token."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        patch_size: int = 7,
        group: int = 4,
        dim: int = 64,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 2.0,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.in_channels, self.group = in_channels, group
        self.tokens = math.ceil(in_channels / group)
        self.embed = nn.Linear(group * patch_size * patch_size, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, self.tokens + 1, dim) * 0.02)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            dim, heads, int(dim * mlp_ratio), dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        n, bands = x.shape[:2]
        if bands != self.in_channels:
            raise ValueError(f"SpectralFormer was built for {self.in_channels} bands, got {bands}")
        pad = self.tokens * self.group - bands
        if pad:
            x = nn.functional.pad(x, (0, 0, 0, 0, 0, pad))
        tokens = self.embed(x.reshape(n, self.tokens, -1))
        tokens = torch.cat([self.cls.expand(n, -1, -1), tokens], dim=1) + self.pos
        return self.head(self.encoder(self.drop(tokens))[:, 0])


class SpectralCNN(nn.Module):
    """1x1 spectral reduction, two 3x3 convolutions, global pooling, linear classifier."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 64, dropout: float = 0.2, **_):
        super().__init__()

        def block(cin, cout, k):
            return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout), nn.GELU())

        self.features = nn.Sequential(block(in_channels, width, 1), block(width, width, 3), block(width, width, 3))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(width, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


BACKBONES = {"spectralformer": SpectralFormer, "cnn": SpectralCNN}


def build_backbone(name: str, in_channels: int, num_classes: int, patch_size: int, **options) -> nn.Module:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    return BACKBONES[name](in_channels, num_classes, patch_size=patch_size, **options)
