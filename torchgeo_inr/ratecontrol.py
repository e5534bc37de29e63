"""The one rate control every codec uses: the real byte count and the real decode, never an estimate.

Two levels. :func:`meet_target` keeps the promise for every codec (a
``bpppb`` stream in [0.9 b, b], a ``psnr`` stream whose decode is within
[t, t + 1] dB, or :class:`RateError`): it asks the codec for its best stream
at a byte budget and corrects the budget by what came out. Inside a codec,
:func:`fit_bytes` turns the codec's last monotone knob (more knob -> more
bytes: a JPEG2000 quality, a bit width, a dead zone) until the written
stream fits the budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from . import limits
from .errors import RateError

#: When neither bpppb nor psnr is given.
DEFAULT_BPPPB = 0.1
#: Bytes beyond ``limits.MAX_BPPPB`` a target may ask for: a tiny scene's stream is mostly headers.
HEADER_HEADROOM_BYTES = 1 << 16
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
        # above the widest sample type only a tiny scene needs more (the stream's headers): allow that headroom
        if bpppb is not None and (bpppb - limits.MAX_BPPPB) * n / 8 > HEADER_HEADROOM_BYTES:
            raise RateError(
                f"bpppb {bpppb:g} is more than any scene needs: no sample type has more than "
                f"{limits.MAX_BPPPB:g} bits (uint16 scenes have 16); ask for at most the raw bits per sample"
            )
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


# ---------------------------------------------------------------------- the promise, for every codec
#: The per-band PSNR a ``psnr=`` target may overshoot by (the stream's quality lies in [t, t + this]).
PSNR_SLACK_DB = 1.0
#: Encodes a bpppb target may take (the first aims at the budget, the others correct by the bytes seen).
BPPPB_ROUNDS = 4
#: Encodes a psnr target may take (a secant search in log-rate).
PSNR_PROBES = 12
#: Where a psnr search starts, and the range of rates it may probe (bpppb).
PSNR_START_BPPPB, PSNR_MIN_BPPPB, PSNR_MAX_BPPPB = 0.5, 1e-3, 32.0


@dataclass
class Attempt:
    """One encode rate control asked for: the budget it gave, the bytes and quality it got."""

    bpppb_asked: float
    bytes: int | None
    psnr: float | None = None
    note: str | None = None  # why it was not kept: a RateError, or saturation

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def meet_target(
    target: Target,
    encode_at: Callable[[Target], bytes],
    quality: Callable[[bytes], float],
    *,
    name: str,
) -> tuple[bytes, list[Attempt]]:
    """The one rate control: a stream that keeps the target's promise, or :class:`RateError`.

    ``encode_at(budget)`` is the codec's best effort for a byte budget (its own knobs, searched
    with :func:`fit_bytes`); ``quality(stream)`` is the per-band PSNR of the stream's real decode.
    ``bpppb``: a stream in [``LOWER_FRACTION`` b, b], re-asked with a corrected budget when the codec
    lands outside it. ``psnr``: a stream whose decode is in [t, t + ``PSNR_SLACK_DB``], found by a
    secant search on log-rate over real encodes and decodes.
    """
    if target.bpppb is not None:
        return _meet_bytes(target, encode_at, name)
    return _meet_quality(target, encode_at, quality, name)


def _meet_bytes(target: Target, encode_at, name: str) -> tuple[bytes, list[Attempt]]:
    attempts: list[Attempt] = []
    aim = (1 + LOWER_FRACTION) / 2 * target.max_bytes  # the middle of the promised range
    under: tuple[float, int] | None = None  # (budget asked, bytes) of the largest stream under the range
    over: tuple[float, int] | None = None  # and of the smallest one over it
    ask = target.bpppb
    streams_under: dict[bytes, float] = {}  # streams under the range -> the budget that gave them
    for _ in range(BPPPB_ROUNDS):
        stream = encode_at(Target(ask, None, target.n_elements))
        attempts.append(Attempt(ask, len(stream)))
        if target.min_bytes <= len(stream) <= target.max_bytes:
            return stream, attempts
        if len(stream) < target.min_bytes:
            if stream in streams_under and streams_under[stream] != ask:
                # a larger budget gave the very same bytes: the codec has nothing more to spend it on
                # (lossless, or its best); the stream is under the budget and the report says so
                attempts[-1].note = "saturated: a larger budget gives the same stream"
                return stream, attempts
            streams_under[stream] = ask
            under = (ask, len(stream)) if under is None or ask > under[0] else under
        else:
            over = (ask, len(stream)) if over is None or ask < over[0] else over
        if under is not None and over is not None and over[1] > under[1]:
            # between a budget that gave too little and one that gave too much: interpolate in log-log
            t = math.log(aim / under[1]) / math.log(over[1] / under[1])
            ask = under[0] * (over[0] / under[0]) ** min(max(t, 0.1), 0.9)
        else:  # correct the budget by what the codec did with the last one (by a quarter at least)
            ask = ask * aim / max(len(stream), 1)
            if len(stream) < target.min_bytes and over is None:
                ask = max(ask, 1.25 * attempts[-1].bpppb_asked)
    sizes = ", ".join(f"{target.bpppb_of(a.bytes):.4g}" for a in attempts)
    smallest = min(a.bytes for a in attempts)
    raise RateError(
        f"{name} cannot write a stream in [{LOWER_FRACTION * target.bpppb:.4g}, {target.bpppb:.4g}] bpppb "
        f"on this scene: {len(attempts)} encodes gave {sizes} bpppb",
        smallest=smallest if smallest > target.max_bytes else None,
    )


def _meet_quality(target: Target, encode_at, quality, name: str) -> tuple[bytes, list[Attempt]]:
    goal, top = target.psnr, target.psnr + PSNR_SLACK_DB
    aim = goal + PSNR_SLACK_DB / 2
    attempts: list[Attempt] = []
    low: tuple[float, float] | None = None  # (log2 bpppb, psnr) below the goal
    high: tuple[float, float] | None = None  # (log2 bpppb, psnr) above the top
    rate = PSNR_START_BPPPB
    seen: set[int] = set()  # stream sizes: a codec that cannot spend more repeats itself
    floor = math.log2(PSNR_MIN_BPPPB)  # below the smallest stream the codec can write
    for _ in range(PSNR_PROBES):
        asked = Target(rate, None, target.n_elements)
        try:
            stream = encode_at(asked)
        except RateError as err:
            attempts.append(Attempt(rate, err.smallest, note=str(err)))
            if err.smallest is None:
                break
            # below (or at the edge of) the smallest stream the codec can write: ask no lower than it
            floor = max(floor, math.log2(1.05 * target.bpppb_of(err.smallest)))
            rate = max(1.5 * rate, 2.0**floor) if high is None else 2.0**floor
            if rate > PSNR_MAX_BPPPB or (high is not None and math.log2(rate) >= high[0]):
                break
            continue
        reached = float(quality(stream))
        attempts.append(Attempt(rate, len(stream), round(reached, 3)))
        if goal <= reached <= top:
            return stream, attempts
        if len(stream) in seen and reached < goal and low is not None and rate >= 2.0 ** low[0]:
            break  # more budget gave the same stream: the codec has reached its best
        seen.add(len(stream))
        x_now = math.log2(rate)  # the search runs on the budget asked, the knob it controls
        if reached < goal:
            low = (x_now, reached) if low is None or x_now > low[0] else low
        else:
            high = (x_now, reached) if high is None or x_now < high[0] else high
        if low is not None and high is not None:  # secant between the bracket's ends, kept inside it
            (x0, y0), (x1, y1) = low, high
            if x1 - x0 < 0.01:
                break  # a step in quality between two budgets this close: nothing between them
            t = (aim - y0) / max(y1 - y0, 1e-6)
            x = x0 + min(max(t, 0.15), 0.85) * (x1 - x0)
        else:  # about 3 dB per doubling of the rate, the low-rate slope of these codecs
            x = x_now + (aim - reached) / 3.0
            if low is not None and high is None:
                x = max(x, x_now + 0.25)
            elif high is not None and low is None:
                x = min(x, x_now - 0.25)
        x = min(max(x, floor), math.log2(PSNR_MAX_BPPPB))
        if abs(x - x_now) < 1e-4:
            break  # already at the floor (the smallest stream is too good) or at the top
        rate = 2.0**x
    reached = [a.psnr for a in attempts if a.psnr is not None]
    what = (f"its streams decoded to {min(reached):.2f}-{max(reached):.2f} dB over {len(attempts)} encodes "
            f"({', '.join(f'{a.psnr:.2f} dB at {target.bpppb_of(a.bytes):.3g}' for a in attempts if a.psnr)} bpppb)"
            if reached else "it wrote no stream")
    if reached and min(reached) > top and floor > math.log2(PSNR_MIN_BPPPB):
        what += "; even its smallest stream decodes above the range (a lower PSNR needs a smaller model)"
    elif reached and max(reached) < goal:
        what += "; more bytes did not bring it up to the range"
    raise RateError(
        f"{name} cannot reach a per-band PSNR in [{goal:g}, {top:g}] dB on this scene: {what}",
        smallest=None,
    )
