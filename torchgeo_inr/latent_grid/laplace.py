"""Bits of integer (or noisy) values under a zero-mean Laplace on unit bins: what the rate term and the
context weights' fit count."""

from __future__ import annotations

import torch


def laplace_element_bits(values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Bits of each of ``values`` (rounded, or noisy in training) under a zero-mean Laplace of ``scale``, elementwise.

    The CDF is written with ``exp(-|z|)`` only, so neither branch overflows
    (``torch.where`` over an overflowing branch would give NaN gradients).
    """
    scale = scale.clamp(1e-3, 1e4)

    def cdf(v):
        z = v / scale
        return 0.5 + 0.5 * torch.sign(z) * (1 - torch.exp(-z.abs()))

    return -torch.log2((cdf(values + 0.5) - cdf(values - 0.5)).clamp_min(2.0**-24))
