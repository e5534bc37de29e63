"""The HINER architecture as plain numbers, and the size -> rate model the codec sizes networks with.

Everything the decoder needs to rebuild the network is in :class:`HinerConfig`
(how a stream writes and checks it: :mod:`torchgeo_inr.codecs.hiner_stream`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

#: Sizes the model supports (a stream reader refuses headers beyond them: they bound what decode allocates).
MAX_WIDTH = 2048
MAX_FRAMES = 4096
MAX_EMBED_CH = 256
MAX_EMBED_HW = 4096
MAX_PARAMS = 50_000_000


def _stage_widths(fc_dim: int, n_stages: int, reduce: float, lower_width: int) -> list[int]:
    widths, ngf = [], fc_dim
    for _ in range(n_stages):
        ngf = int(max(round(ngf / reduce), lower_width))
        widths.append(ngf)
    return widths


@dataclass(frozen=True)
class HinerConfig:
    """The decoder network and the embedding table it decodes.

    ``frames`` embeddings (``embed_ch`` x ``embed_h`` x ``embed_w``) each give
    an image of ``out_channels`` x (``embed_h`` * S) x (``embed_w`` * S),
    S = prod(``strides``); plain HINER has one frame per band and one output
    channel.
    """

    frames: int
    out_channels: int
    embed_ch: int
    embed_h: int
    embed_w: int
    strides: tuple[int, ...]
    fc_dim: int
    reduce: float = 1.2
    lower_width: int = 12
    ks_first: int = 1
    ks_last: int = 5
    head_ks: int = 3

    # -- geometry -----------------------------------------------------------
    @property
    def stride(self) -> int:
        return math.prod(self.strides)

    @property
    def out_height(self) -> int:
        return self.embed_h * self.stride

    @property
    def out_width(self) -> int:
        return self.embed_w * self.stride

    def kernel(self, stage: int) -> int:
        return min(self.ks_first + 2 * stage, self.ks_last)

    def widths(self) -> list[int]:
        return _stage_widths(self.fc_dim, len(self.strides), self.reduce, self.lower_width)

    # -- size ---------------------------------------------------------------
    def decoder_params(self) -> int:
        n = self.embed_ch * self.fc_dim + self.fc_dim  # 1x1 stem
        ngf = self.fc_dim
        for i, (s, new) in enumerate(zip(self.strides, self.widths())):
            k = self.kernel(i)
            n += ngf * new * s * s * k * k + new * s * s
            ngf = new
        n += ngf * self.out_channels * self.head_ks**2 + self.out_channels
        return n

    def embed_values(self) -> int:
        return self.frames * self.embed_ch * self.embed_h * self.embed_w

    def decoder_macs_per_frame(self) -> int:
        """Multiply-adds of one frame's decode (a speed guide)."""
        h, w = self.embed_h, self.embed_w
        n = h * w * self.embed_ch * self.fc_dim
        ngf = self.fc_dim
        for i, (s, new) in enumerate(zip(self.strides, self.widths())):
            n += h * w * ngf * new * s * s * self.kernel(i) ** 2
            h, w, ngf = h * s, w * s, new
        return n + h * w * ngf * self.out_channels * self.head_ks**2


# -- geometry choice ----------------------------------------------------------
def choose_strides(height: int, width: int, cells: int = 25) -> tuple[tuple[int, ...], int, int]:
    """Upsampling strides and embedding grid (eh, ew) covering (height, width) with little padding.

    Among stride lists of 1 to 5 stages (factors 2..5, non-increasing) that pad
    the area by at most 15% (or the least padding there is), the one whose
    embedding grid has the cell count closest to ``cells`` (in ratio), then
    the least padding, then the fewest stages.
    """
    options = []
    for n in range(1, 6):
        for strides in itertools.combinations_with_replacement((5, 4, 3, 2), n):
            s = math.prod(strides)
            if s > 2 * max(height, width):
                continue
            eh, ew = math.ceil(height / s), math.ceil(width / s)
            pad = (eh * s) * (ew * s) / (height * width)
            options.append((pad, abs(math.log(eh * ew / max(cells, 1))), n, tuple(strides), eh, ew))
    if not options:
        return (1,), height, width
    least = min(o[0] for o in options)
    ok = [o for o in options if o[0] <= max(1.15, least + 1e-9)]
    best = min(ok, key=lambda o: (round(o[1], 3), o[0], o[2]))
    return best[3], best[4], best[5]


# -- size -> rate model -------------------------------------------------------
#: Entropy-coded bits per parameter, as a fraction of the quantiser's bit width (measured on Indian Pines: ~0.95 at 6 bits: trained weights fill their range).
CODED_FRACTION = 0.95


def estimated_bytes(cfg: HinerConfig, weight_bits: int, embed_bits: int, overhead: int) -> float:
    """Predicted stream size: the coded parameters plus a fixed overhead (headers, side values)."""
    coded = cfg.decoder_params() * weight_bits + cfg.embed_values() * embed_bits
    side = 2 * (cfg.frames + 4 * cfg.fc_dim) + 60 * (3 + len(cfg.strides))  # steps, zero points, models
    return overhead + side + CODED_FRACTION * coded / 8.0


def size_for_budget(
    base: HinerConfig, budget: float, weight_bits: int, embed_bits: int, overhead: int, embed_share: float = 0.3
) -> HinerConfig:
    """The widest config (embedding channels, then decoder width) whose predicted size fits ``budget`` bytes."""
    from dataclasses import replace

    def sized(embed_ch: int, fc_dim: int) -> HinerConfig:
        # below the floor width the floor shrinks too, so that low rates stay reachable
        floor = min(base.lower_width, max(4, fc_dim // 2))
        return replace(base, embed_ch=embed_ch, fc_dim=fc_dim, lower_width=floor)

    embed_ch = 1
    for c in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32):
        trial = sized(c, 4)
        if CODED_FRACTION * trial.embed_values() * embed_bits / 8.0 <= embed_share * (budget - overhead):
            embed_ch = c
    lo, hi = 4, MAX_WIDTH
    if estimated_bytes(sized(embed_ch, lo), weight_bits, embed_bits, overhead) > budget:
        return sized(embed_ch, lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if estimated_bytes(sized(embed_ch, mid), weight_bits, embed_bits, overhead) <= budget:
            lo = mid
        else:
            hi = mid
    return sized(embed_ch, lo)
