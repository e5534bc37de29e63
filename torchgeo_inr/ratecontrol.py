"""Rate control by the real byte count: search a codec knob until the written stream fits.

A codec exposes one monotone knob (more knob -> more bytes, usually better
quality) through ``make(knob) -> bytes``; these searches call it and measure
``len()`` of the actual stream, never an estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .errors import RateError

#: When neither bpppb nor psnr is given.
DEFAULT_BPPPB = 0.1
#: A stream asked for b bpppb lands in [LOWER_FRACTION * b, b].
LOWER_FRACTION = 0.9


@dataclass(frozen=True)
class Target:
    """What the caller asked for: a byte budget (from bpppb) or a per-band PSNR in dB."""

    bpppb: float | None
    psnr: float | None
    n_elements: int

    @classmethod
    def from_args(cls, bpppb, psnr, shape) -> Target:
        n = int(math.prod(shape))
        if bpppb is not None and psnr is not None:
            raise RateError("give either bpppb or psnr, not both")
        if bpppb is None and psnr is None:
            bpppb = DEFAULT_BPPPB
        if bpppb is not None and not (math.isfinite(bpppb) and bpppb > 0):
            raise RateError(f"bpppb must be a positive number, got {bpppb}")
        if psnr is not None and not (math.isfinite(psnr) and psnr > 0):
            raise RateError(f"psnr must be a positive number of dB, got {psnr}")
        return cls(None if bpppb is None else float(bpppb), None if psnr is None else float(psnr), n)

    @property
    def max_bytes(self) -> int:
        return int(math.floor(self.bpppb * self.n_elements / 8.0))

    @property
    def min_bytes(self) -> int:
        return int(math.ceil(LOWER_FRACTION * self.bpppb * self.n_elements / 8.0))

    def bpppb_of(self, n_bytes: int) -> float:
        return 8.0 * n_bytes / self.n_elements


def fit_bytes(
    make: Callable[[float], bytes],
    lo: float,
    hi: float,
    max_bytes: int,
    *,
    close_enough: float = 0.99,
    iterations: int = 30,
) -> tuple[float, bytes]:
    """The largest knob in [lo, hi] whose stream fits ``max_bytes``; stops once within ``close_enough``.

    Raises :class:`RateError` when even ``lo`` is over budget.
    """
    best = make(lo)
    if len(best) > max_bytes:
        raise RateError(
            f"cannot go as low as {max_bytes} bytes: the smallest stream is {len(best)} bytes",
            smallest=len(best),
        )
    best_knob = lo
    top = make(hi)
    if len(top) <= max_bytes:
        return hi, top
    for _ in range(iterations):
        if len(best) >= close_enough * max_bytes:
            break
        mid = (lo + hi) / 2
        stream = make(mid)
        if len(stream) <= max_bytes:
            lo, best, best_knob = mid, stream, mid
        else:
            hi = mid
    return best_knob, best


def fit_quality(
    make: Callable[[float], bytes],
    quality: Callable[[bytes], float],
    lo: float,
    hi: float,
    target: float,
    *,
    iterations: int = 14,
) -> bytes:
    """The smallest-knob stream in [lo, hi] whose measured quality reaches ``target``.

    Raises :class:`RateError` when even ``hi`` falls short.
    """
    best = make(hi)
    reached = quality(best)
    if reached < target:
        raise RateError(f"cannot reach {target:.2f} dB: the best this codec gives is {reached:.2f} dB")
    for _ in range(iterations):
        mid = (lo + hi) / 2
        try:
            stream = make(mid)
        except RateError:  # the knob is below what the codec can write: too low
            lo = mid
            continue
        if quality(stream) >= target:
            hi, best = mid, stream
        else:
            lo = mid
    return best
