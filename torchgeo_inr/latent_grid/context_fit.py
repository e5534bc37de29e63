"""The context model's weights fitted to the symbols a stream codes, as the writer stores them.

Why: training moves the context weights (:mod:`~torchgeo_inr.latent_grid.context`) on noisy latents
for most of the fit and slowly after, so what the stream codes (rounded latents, the predicted passes'
residuals) can be far from what they were fitted to. Measured on a 5,000-step Indian Pines stream
at 0.05 bpppb: one sparse channel (91% zeros) cost 2,083 bytes under its trained weights and 1,309
under weights fitted to its symbols, 4% of the whole latents section. The writer therefore offers,
per channel, the trained weights, the trained slopes with the maximum-likelihood bias, and all
weights (bias and slopes) fitted to the symbols by L-BFGS, and stores whichever codes the symbols
in the fewest bits once quantised as stored.

The fit is cheap because the features are small integers: symbols are counted per channel,
distinct feature tuple and magnitude (the Laplace is symmetric), a few thousand rows for a
whole scene, not one per latent, and every channel of every level is fitted in one L-BFGS
run (the bits are a sum over channels, so the channels do not interact).
"""

from __future__ import annotations

import numpy as np
import torch

from .laplace import laplace_element_bits
from .scale_index import LOG2_RANGE, STEPS, UNITS, quantise_weights

#: L-BFGS iterations of the refit, all channels at once: on Indian Pines' 0.2 bpppb stream 50 leave 0.07% of
#: the latents' bytes to 100 and take 0.13 s of a write's 0.25 s (a fit writes its stream 60 to 80 times).
ITERATIONS = 50


class _Counts:
    """Every channel's symbols (all levels, finest first) as (channel, feature tuple, magnitude, count) rows."""

    def __init__(self, levels: list[np.ndarray], features: list[list[np.ndarray]]):
        rows, first = [], 0
        for level, feats in zip(levels, features):
            channels = len(level)
            planes = [np.broadcast_to(f, level.shape).reshape(channels, -1) for f in feats]
            ids = np.broadcast_to(np.arange(first, first + channels)[:, None], planes[0].shape)
            magnitudes = np.abs(np.asarray(level, np.int64)).reshape(channels, -1)
            rows.append(np.stack([ids, *planes, magnitudes], -1).reshape(-1, len(feats) + 2))
            first += channels
        rows = np.concatenate(rows).astype(np.int64)
        key = np.zeros(len(rows), np.int64)  # each row as one integer (mixed radix): a 1-d unique sorts fast
        for column in rows.T:
            key = key * (int(column.max(initial=0)) + 1) + column
        _, at, counts = np.unique(key, return_index=True, return_counts=True)
        unique = rows[at]
        self.channels = first
        self.channel = torch.from_numpy(unique[:, 0])
        self.features = torch.from_numpy(unique[:, 1:-1].astype(np.float64))
        self.magnitudes = torch.from_numpy(unique[:, -1].astype(np.float64))
        self.counts = torch.from_numpy(counts.astype(np.float64))
        self.unit_features = unique[:, 1:-1]

    def _per_channel(self, values: torch.Tensor) -> torch.Tensor:
        return torch.zeros(self.channels, dtype=values.dtype).index_add(0, self.channel, values)

    def bits(self, weights: torch.Tensor) -> torch.Tensor:
        """Bits per channel under real weights (channels, 1 + FEATURES), the scales as training sees them."""
        w = weights[self.channel]
        log2_scale = (w[:, 0] + (self.features * w[:, 1:]).sum(1)).clamp(*LOG2_RANGE)
        return self._per_channel(self.counts * laplace_element_bits(self.magnitudes, torch.exp2(log2_scale)))

    def ml_bias(self, weights: torch.Tensor) -> torch.Tensor:
        """``weights`` with each channel's bias the maximum-likelihood one given its slopes: the log2 of the mean
        of |x| over its relative scale."""
        w = weights[self.channel]
        relative = torch.exp2((self.features * w[:, 1:]).sum(1))
        mean = self._per_channel(self.counts * self.magnitudes / relative) / self._per_channel(self.counts)
        out = weights.clone()
        out[:, 0] = torch.log2(mean.clamp_min(2.0 ** LOG2_RANGE[0]))
        return out

    def stored_bits(self, stored: np.ndarray) -> np.ndarray:
        """Bits per channel under stored integer weights, each symbol's scale its scale index's (as the coder)."""
        w = stored[self.channel.numpy()]
        units = w[:, 0] + (self.unit_features * w[:, 1:]).sum(1)
        indices = np.clip(units // (UNITS // STEPS), LOG2_RANGE[0] * STEPS, LOG2_RANGE[1] * STEPS - 1)
        scales = torch.from_numpy(np.exp2((indices + 0.5) / STEPS))
        return self._per_channel(self.counts * laplace_element_bits(self.magnitudes, scales)).numpy()


def refit(start: torch.Tensor, counts: _Counts) -> torch.Tensor:
    """Real weights (channels, 1 + FEATURES) that code ``counts`` in fewer bits, by L-BFGS from ``start``."""
    weights = start.detach().clone().double().requires_grad_(True)
    opt = torch.optim.LBFGS([weights], lr=1.0, max_iter=ITERATIONS, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        bits = counts.bits(weights).sum()
        bits.backward()
        return bits

    opt.step(closure)
    if not torch.isfinite(weights).all():
        return start.detach().double()
    return weights.detach()


def stored_context_weights(trained: list[torch.Tensor], levels: list[np.ndarray],
                           features: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Per level (finest first), the stored weights (C, 1 + FEATURES) int64 for the symbols ``levels`` (C, h, w)
    (what is coded) with their feature planes (each broadcastable to (C, h, w)): per channel the cheapest of the
    ``trained`` weights, those with the maximum-likelihood bias and a full refit, counted as the coder codes."""
    counts = _Counts(levels, features)
    start = torch.cat([w.detach().cpu().double() for w in trained])
    biased = counts.ml_bias(start)
    options = [quantise_weights(w.numpy()) for w in (start, biased, refit(biased, counts))]
    best = np.argmin(np.stack([counts.stored_bits(s) for s in options]), 0)  # ties: the earlier option
    chosen = np.stack(options)[best, np.arange(counts.channels)]
    return np.split(chosen, np.cumsum([len(g) for g in levels])[:-1])
