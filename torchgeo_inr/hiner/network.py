"""The HINER network: positional encoding of each frame's position (a band's wavelength), an MLP
to its embedding, and a convolutional decoder (conv + PixelShuffle, GELU) to the frame's image.

Only the decoder and the embeddings are stored; the encoding and the MLP
are how the embeddings are *fitted* (they tie neighbouring bands together),
so :class:`HINER` can hand its embeddings over to a plain table
(:meth:`HINER.freeze_embeddings`) for quantisation-aware fine-tuning.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import HinerConfig


class PositionalEncoding(nn.Module):
    """sin/cos of ``pos * pi * base**i`` for i < levels: a (N, 2*levels) encoding of positions in [0, 1]."""

    def __init__(self, base: float = 1.25, levels: int = 80):
        super().__init__()
        self.register_buffer("freqs", (base ** torch.arange(levels, dtype=torch.float64) * math.pi), persistent=False)

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        v = pos.to(torch.float64)[:, None] * self.freqs
        return torch.cat([torch.sin(v), torch.cos(v)], dim=1).float()


class EmbeddingMLP(nn.Module):
    """Encoded position -> embedding (embed_ch x h x w), HINER's 160 -> 320 -> C*h*w MLP."""

    def __init__(self, cfg: HinerConfig, pe_base: float = 1.25, pe_levels: int = 80, hidden: int = 320):
        super().__init__()
        self.cfg = cfg
        self.pe = PositionalEncoding(pe_base, pe_levels)
        self.mlp = nn.Sequential(
            nn.Linear(2 * pe_levels, hidden), nn.GELU(), nn.Linear(hidden, cfg.embed_ch * cfg.embed_h * cfg.embed_w)
        )

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        c = self.cfg
        return self.mlp(self.pe(pos)).view(-1, c.embed_ch, c.embed_h, c.embed_w)


class UpBlock(nn.Module):
    """conv (k x k) to ``out * s * s`` channels, PixelShuffle(s), GELU."""

    def __init__(self, cin: int, cout: int, stride: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout * stride * stride, kernel, 1, kernel // 2)
        self.shuffle = nn.PixelShuffle(stride) if stride > 1 else nn.Identity()
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(self.shuffle(self.conv(x)))


class Decoder(nn.Module):
    """Embedding (N, embed_ch, h, w) -> image (N, out_channels, h*S, w*S) in [0, 1]."""

    def __init__(self, cfg: HinerConfig):
        super().__init__()
        self.cfg = cfg
        self.stem = nn.Conv2d(cfg.embed_ch, cfg.fc_dim, 1)
        blocks, ngf = [], cfg.fc_dim
        for i, (s, new) in enumerate(zip(cfg.strides, cfg.widths())):
            blocks.append(UpBlock(ngf, new, s, cfg.kernel(i)))
            ngf = new
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(ngf, cfg.out_channels, cfg.head_ks, 1, cfg.head_ks // 2)
        self.act = nn.GELU()

    def forward(self, embed: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.act(self.stem(embed)))
        return torch.tanh(self.head(x)) * 0.5 + 0.5


class HINER(nn.Module):
    """Positions (N,) in [0, 1] -> images (N, out_channels, H_pad, W_pad) in [0, 1]."""

    def __init__(self, cfg: HinerConfig, positions: torch.Tensor, **mlp_options):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("positions", positions.detach().to(torch.float32).clone())
        self.embedder = EmbeddingMLP(cfg, **mlp_options)
        self.table: nn.Parameter | None = None
        self.decoder = Decoder(cfg)

    def embeddings(self, index: torch.Tensor | None = None) -> torch.Tensor:
        if self.table is not None:
            return self.table if index is None else self.table[index]
        pos = self.positions if index is None else self.positions[index]
        return self.embedder(pos)

    def freeze_embeddings(self) -> None:
        """Replace the MLP by the table of embeddings it gives (what is stored)."""
        with torch.no_grad():
            table = self.embedder(self.positions).detach().clone()
        self.table = nn.Parameter(table)
        self.embedder = None

    def forward(self, index: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.embeddings(index))

    def stored_state(self) -> dict[str, torch.Tensor]:
        """What a stream holds: decoder weights and the embedding table."""
        if self.table is None:
            raise RuntimeError("call freeze_embeddings() first")
        return {"embed": self.table, **{f"dec.{k}": v for k, v in self.decoder.state_dict().items()}}


def decoder_names(cfg: HinerConfig) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the stored tensors of ``cfg``, in stream order (no allocation)."""
    with torch.device("meta"):
        dec = Decoder(cfg)
    out = {"embed": (cfg.frames, cfg.embed_ch, cfg.embed_h, cfg.embed_w)}
    out.update({f"dec.{k}": tuple(v.shape) for k, v in dec.state_dict().items()})
    return out


def build_decoder(cfg: HinerConfig, state: dict, device="cpu") -> tuple[Decoder, torch.Tensor]:
    """A decoder with ``state``'s weights (numpy arrays) and the embedding table, on ``device``."""
    dec = Decoder(cfg)
    dec.load_state_dict({k[4:]: torch.from_numpy(v) for k, v in state.items() if k.startswith("dec.")})
    dec.to(device).train(False)
    return dec, torch.from_numpy(state["embed"]).to(device)
