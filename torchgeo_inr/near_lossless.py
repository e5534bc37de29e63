"""Closed-loop predictive quantisation of a cube: the residual layer of ``error-bound`` (streams v2 to v4).

Why closed loop: each value is predicted from values the decoder already has
(the *reconstructed* previous bands, the already-decoded part of the current
band, and optionally a lossy layer's decode), so the quantisation error never
accumulates and every value lands within half a step of the original. With a
step of 2e + 1 on integer data (2e, a hair less, on floats) that is the
bound e.

Why band by band in four interleaved passes: a pixel-by-pixel loop (what
CCSDS 123 does) is far too slow in Python. Each band is coded as the four
phases of its 2 x 2 lattice, each one vectorised step: the first quarter is
predicted from earlier bands only, the second from its four diagonal
neighbours in this band as well, the last two from four (then eight) known
neighbours. Two passes (a checkerboard, stream v1) left half the pixels
without any neighbour of their own band; measured on Indian Pines at bound
64 without a lossy layer, four passes and six prediction bands take the
residual from 0.738 to 0.696 bpppb (whole stream 0.751 -> 0.711).

The predictor of each (band, pass) is a small linear model fitted by least
squares on the encoder. Its coefficients are stored as integers in units of
step / 16 over each feature's power-of-two range (both sides compute that
range exactly from decoded values), entropy-coded: measured, less than half
the bytes of float16 (0.015 against 0.035 bpppb), the prediction within 1/32
of a step per feature. The prediction is rounded to the integer grid for
integer data, so both sides compute it exactly: only elementwise float64 arithmetic in a fixed
order is used (no BLAS, no transcendental functions) on the decoder's side.

Quantised residuals are coded by :mod:`torchgeo_inr.context_coder` with a
context from the magnitudes of the residuals already coded around the pixel
(previous two bands, 3 x 3; the known neighbours in this band). Version 3
(the prediction is the same as in version 2) adds to that context a scale
class per band and pass (the encoder sends it: a few noisy bands carry most
of the bits, and a context shared across bands learned that too slowly), how
far and which way the prediction moved from the previous band's value, and
codes each pass in chunks that double in size, so that a context's model
adapts within a band. Measured on Indian Pines at bound 64: residual 0.629 ->
0.526 bpppb.

Version 4 (same prediction again) adds the signal level: the sensor's noise
grows with the signal, so where the prediction is bright a large residual is
likelier. Each band sends its mean level (an integer in eighths of an octave,
coded with the coefficients) and each residual's context gains the bin of its
prediction against that level. The coder blends each context's model with its
parents' (the context without level, then without direction, ...; see
:mod:`torchgeo_inr.context_coder`), which lets every model forget far faster,
and the encoder codes the residual with two such models (fast and slow
forgetting) and keeps the smaller. Measured on Indian Pines at bound 64, lossy
layer at 0.037 bpppb: residual words 0.527 -> 0.516 (level, six bins) -> 0.484
(parents, fast forgetting) -> 0.481 bpppb (eight bins); whole stream 0.581 ->
0.536 bpppb. Lossless, 6.255 -> 6.236 (the slow model wins there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .context_coder import ContextDecoder, ContextEncoder
from .errors import BitstreamError

#: Previous bands the predictor looks at (CCSDS 123 uses up to 15); chosen, not tuned: each costs coefficients.
DEPTH = 6
#: The four passes: (row parity, column parity), in coding order.
PHASES = ((0, 0), (1, 1), (0, 1), (1, 0))
#: Feature columns of every pass (the constant comes first); unused ones are zero and get slope 0.
FEATURES = 1 + 1 + (DEPTH - 1) + 2 + 2 + 4
#: Activity levels of the entropy coder's context, per pass, plus one "nothing known yet".
LEVELS = 24
#: activity >= _THRESHOLDS[k] <=> floor(2 log2(1 + activity)) >= k + 1, in exact integers.
_THRESHOLDS = np.array([int(np.ceil(2 ** ((k + 1) / 2) - 1 - 1e-9)) for k in range(LEVELS - 1)], dtype=np.int64)
N_CONTEXTS = len(PHASES) * (LEVELS + 1)
#: The stream version :func:`encode` writes (:func:`decode` reads 2 to 4).
VERSION = 4

#: Stream version 3's residual context (measured on Indian Pines at bound 64, lossy layer at 0.04
#: bpppb: residual 0.629 -> 0.528 bpppb): a scale class per (band, pass), sent with the coefficients;
#: the activity level above in groups of four; how far the prediction moved from the previous band's
#: value, against the class's scale; and which way. The class is worth 0.04, the distance 0.035,
#: the direction 0.014 (flipping the residual's sign by it instead gains nothing: the models differ
#: by more than a mirror).
#: Scale classes: floor(2 log2(rms residual / step)) + _CLASS_ZERO, clipped to 0.._CLASSES - 1.
_CLASSES = 32
_CLASS_ZERO = 9
#: Activity levels per group (LEVELS + 1 of them -> 7 groups).
_LEVEL_GROUP = 4
_GROUPS = (LEVELS + _LEVEL_GROUP) // _LEVEL_GROUP
#: |prediction - previous band| against the class's scale: bin edges.
_MOVE_EDGES = (0.35, 0.7, 1.4, 2.8)
N_CONTEXTS_V3 = _CLASSES * _GROUPS * (len(_MOVE_EDGES) + 1) * 2
#: v3 forgets faster than the default (measured with the scale class alone: 0.594 at 8192, 0.587 at
#: 1024; with the whole context: 0.537 at 1024, 0.528 at 512).
LIMIT_V3 = 512.0
#: v3 codes each pass in chunks that double from this size, so a context new to a band adapts
#: inside it rather than only after it (measured: 0.626 -> 0.594 with the scale classes).
_FIRST_CHUNK = 64

#: Version 4: the prediction against the band's level (sent per band): bin edges (measured at bound 64:
#: six bins 0.527 -> 0.484 with the parents below, eight 0.481; four 0.488).
_LEVEL_EDGES = (0.65, 0.78, 0.9, 1.0, 1.1, 1.22, 1.4)
N_CONTEXTS_V4 = N_CONTEXTS_V3 * (len(_LEVEL_EDGES) + 1)
#: The band level is round(8 log2(mean / step)), clipped to +-_LEVEL_LIMIT (sent as the change from the last band).
_LEVEL_LIMIT = 400
#: v4's residual models, (limit, blend): the encoder codes with each and keeps the smaller. Blended with
#: their parents, models can forget far faster (measured at bound 64: limit 512 without parents 0.516;
#: 512 / blend 64 0.510; 128 / 32 0.490; 48 / 16 0.484; 32 / 16 0.485), but not when the residual is
#: wide: lossless, 48 / 16 costs 4.723 against 4.692 for v3, and 1024 / 64 4.672.
MODELS_V4 = ((48.0, 16.0), (1024.0, 64.0))

_DIRECT = ((-1, 0), (1, 0), (0, -1), (0, 1))
_DIAGONAL = ((-1, -1), (-1, 1), (1, -1), (1, 1))


@dataclass
class Plan:
    """What both sides know before the residual layer: grid, steps, mask, side information."""

    shape: tuple[int, int, int]
    steps: np.ndarray  # (B,) quantisation step per band
    snaps: np.ndarray  # (B,) grid predictions are rounded to (0: none)
    valid: np.ndarray | None  # (B, H, W) bool, or None when everything is valid
    side: np.ndarray | None  # (B, H, W) float64 lossy-layer decode, or None
    reference: float  # a level near the data, so the level feature stays small
    low: float  # the value range the reconstruction is clipped to (the dtype's, or +-inf)
    high: float


def _shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """image[y + dy, x + dx], zero outside."""
    height, width = image.shape
    padded = np.zeros((height + 2, width + 2), dtype=image.dtype)
    padded[1:-1, 1:-1] = image
    return padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]


def _neighbour_sum(image: np.ndarray, offsets, weight: np.ndarray | None = None) -> np.ndarray:
    total = np.zeros(image.shape, dtype=image.dtype)
    source = image if weight is None else image * weight
    for dy, dx in offsets:
        total += _shifted(source, dy, dx)
    return total


class _Lattice:
    """Pixels of each pass, and for each pass and neighbour set, how many neighbours are known."""

    def __init__(self, height: int, width: int):
        rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
        phase = np.zeros((height, width), dtype=np.int64)
        for k, (py, px) in enumerate(PHASES):
            phase[(rows % 2 == py) & (cols % 2 == px)] = k
        self.where = [np.flatnonzero(phase.reshape(-1) == k) for k in range(len(PHASES))]
        inside = np.ones((height, width))
        self.known = []  # per pass: float mask of pixels decoded before it in the same band
        self.counts = []  # per pass: (all-neighbour counts N8 in band b-1, known direct, known diagonal)
        for k in range(len(PHASES)):
            known = (phase < k).astype(np.float64)
            self.known.append(known)
            self.counts.append((
                _neighbour_sum(inside, _DIRECT).reshape(-1)[self.where[k]],
                _neighbour_sum(inside, _DIAGONAL).reshape(-1)[self.where[k]],
                _neighbour_sum(known, _DIRECT).reshape(-1)[self.where[k]],
                _neighbour_sum(known, _DIAGONAL).reshape(-1)[self.where[k]],
            ))


class _Walk:
    """The loop both sides run; the encoder's and decoder's only difference is where q comes from."""

    def __init__(self, plan: Plan):
        self.plan = plan
        _, height, width = plan.shape
        self.recon = np.zeros(plan.shape)
        self.q = np.zeros(plan.shape, dtype=np.int64)
        self.lattice = _Lattice(height, width)
        self.passes = self.lattice.where

    def features(self, b: int, k: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """(base, feature columns) for the pixels of pass ``k`` of band ``b``."""
        plan = self.plan
        where = self.passes[k]
        zero = np.zeros(len(where))
        n_direct, n_diagonal, k_direct, k_diagonal = self.lattice.counts[k]
        prev = [self.recon[b - j].reshape(-1)[where] if b >= j else None for j in range(1, DEPTH + 1)]
        p1 = prev[0] if prev[0] is not None else zero
        cols = [np.ones(len(where)), p1 - plan.reference if prev[0] is not None else zero]
        for j in range(DEPTH - 1):
            cols.append(prev[j] - prev[j + 1] if prev[j + 1] is not None else zero)
        if b >= 1:
            image = self.recon[b - 1]
            cols.append(_neighbour_sum(image, _DIRECT).reshape(-1)[where] / n_direct - p1)
            cols.append(_neighbour_sum(image, _DIAGONAL).reshape(-1)[where] / n_diagonal - p1)
        else:
            cols += [zero, zero]
        if plan.side is not None:
            cols.append(plan.side[b].reshape(-1)[where] - p1)
            cols.append(plan.side[b - 1].reshape(-1)[where] - p1 if b >= 1 else zero)
        else:
            cols += [zero, zero]
        known = self.lattice.known[k]
        for offsets, count in ((_DIRECT, k_direct), (_DIAGONAL, k_diagonal)):
            if not count.any():
                cols += [zero, zero]
                continue
            div = np.maximum(count, 1.0)
            here = _neighbour_sum(self.recon[b], offsets, known).reshape(-1)[where] / div
            if b >= 1:
                before = _neighbour_sum(self.recon[b - 1], offsets, known).reshape(-1)[where] / div
                change, level = here - before, here - p1
            else:
                change, level = zero, here
            cols += [np.where(count > 0, change, 0.0), np.where(count > 0, level, 0.0)]
        return p1, cols

    def contexts(self, b: int, k: int) -> np.ndarray:
        """Half-octave level of the residual magnitudes already coded around each pixel."""
        where = self.passes[k]
        activity = np.zeros(len(where), dtype=np.int64)
        if b >= 1:
            m1 = np.abs(self.q[b - 1])
            activity += 2 * m1.reshape(-1)[where] + _neighbour_sum(m1, _DIRECT + _DIAGONAL).reshape(-1)[where]
        if b >= 2:
            activity += np.abs(self.q[b - 2]).reshape(-1)[where]
        if k > 0:
            known = self.lattice.known[k].astype(np.int64)
            activity += 2 * _neighbour_sum(np.abs(self.q[b]), _DIRECT + _DIAGONAL, known).reshape(-1)[where]
        level = np.searchsorted(_THRESHOLDS, activity, side="right")
        if b == 0 and k == 0:
            level[:] = LEVELS  # nothing coded yet: a context of its own
        return k * (LEVELS + 1) + level

    def contexts_v3(self, b: int, k: int, scale_class: int, prediction: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Version 3: (scale class, activity group, how far and which way the prediction moved) as one index."""
        group = (self.contexts(b, k) - k * (LEVELS + 1) + _LEVEL_GROUP - 1) // _LEVEL_GROUP
        scale = self.plan.steps[b] * 2.0 ** ((scale_class - _CLASS_ZERO) / 2 + 0.25)
        moved = np.zeros(len(prediction), dtype=np.int64)
        change = np.abs(prediction - base)
        for edge in _MOVE_EDGES:
            moved += change >= edge * scale
        up = (prediction > base).astype(np.int64)
        return ((scale_class * _GROUPS + group) * (len(_MOVE_EDGES) + 1) + moved) * 2 + up

    def contexts_v4(self, b: int, k: int, scale_class: int, prediction: np.ndarray, base: np.ndarray,
                    level: int) -> np.ndarray:
        """Version 4: version 3's context, then the bin of the prediction against the band's level."""
        reference = self.plan.steps[b] * 2.0 ** (level / 8)
        bins = np.digitize(prediction, [edge * reference for edge in _LEVEL_EDGES])
        return self.contexts_v3(b, k, scale_class, prediction, base) * (len(_LEVEL_EDGES) + 1) + bins

    def predict(self, b: int, base, cols: list[np.ndarray], ints: np.ndarray, units: np.ndarray) -> np.ndarray:
        prediction = _combine(ints, units, cols, base)
        snap = self.plan.snaps[b]
        if snap > 0:
            prediction = np.rint(prediction / snap) * snap
        return np.clip(prediction, self.plan.low, self.plan.high)

    def store(self, b: int, k: int, prediction: np.ndarray, q: np.ndarray) -> None:
        where = self.passes[k]
        values = np.clip(prediction + q * self.plan.steps[b], self.plan.low, self.plan.high)
        self.recon[b].reshape(-1)[where] = values
        self.q[b].reshape(-1)[where] = q

    def valid_of(self, b: int, k: int) -> np.ndarray | None:
        if self.plan.valid is None:
            return None
        return self.plan.valid[b].reshape(-1)[self.passes[k]]


#: Coefficients are integers in units of step / _PRECISION over each feature's power-of-two range.
_PRECISION = 16.0


def _units(cols: list[np.ndarray], step: float) -> np.ndarray:
    """Value of one integer unit of each coefficient: step / _PRECISION / (power of two >= max |feature|).

    Both sides compute it from the same decoded features; max and frexp are exact."""
    units = np.zeros(len(cols))
    units[0] = step / _PRECISION
    for j, col in enumerate(cols[1:], start=1):
        peak = float(np.abs(col).max()) if col.size else 0.0
        if peak > 0 and np.isfinite(peak):
            units[j] = step / _PRECISION / np.ldexp(1.0, int(np.frexp(peak)[1]))
    return units


def _fit(base, cols, target, valid, units) -> np.ndarray:
    """Least-squares slopes, as integers of ``units``, then the integer offset that centres what they leave.

    Encoder only (the decoder reads the integers), so the normal equations' BLAS is fine here."""
    n = len(cols)
    ints = np.zeros(n, dtype=np.int64)
    y = target - base
    if valid is not None:
        y = y[valid]
        cols = [c[valid] for c in cols]
    if y.size == 0:
        return ints
    use = units[1:] > 0
    if y.size > n and use.any():
        design = np.stack([c for c, u in zip(cols[1:], use) if u], axis=1)
        scale = np.abs(design).max(axis=0)
        a = np.column_stack([np.ones(len(y)), design / scale])
        gram = a.T @ a + 1e-9 * np.eye(a.shape[1])
        try:
            solved = np.linalg.solve(gram, a.T @ y)
        except np.linalg.LinAlgError:
            solved = np.linalg.lstsq(a, y, rcond=None)[0]
        slopes = np.zeros(n - 1)
        slopes[use] = solved[1:] / scale
        ints[1:][use] = np.clip(np.nan_to_num(np.rint(slopes[use] / units[1:][use])), -(2**40), 2**40).astype(np.int64)
    left = y - _combine(ints, units, cols, np.zeros_like(y))
    offset = float(np.median(left))
    ints[0] = int(np.clip(np.rint(offset / units[0]), -(2**40), 2**40)) if np.isfinite(offset) else 0
    return ints


def _combine(ints, units, cols, base):
    prediction = base + ints[0] * units[0]
    for m, u, col in zip(ints[1:], units[1:], cols[1:]):
        if m != 0:
            prediction = prediction + (m * u) * col
    return prediction


def _scale_class(error: np.ndarray, step: float) -> int:
    """Half-octave class of the rms prediction error in steps (encoder only: the class is sent)."""
    rms = float(np.sqrt(np.mean(np.square(error / step)))) if error.size else 0.0
    if not rms > 0 or not np.isfinite(rms):
        return 0
    return int(np.clip(np.floor(2 * np.log2(rms)) + _CLASS_ZERO, 0, _CLASSES - 1))


def _band_level(values: np.ndarray, step: float, last: int) -> int:
    """round(8 log2(mean / step)) of a band, clipped; the last band's level when it has no mean (encoder only)."""
    mean = float(np.mean(values)) if values.size else math.nan
    if not math.isfinite(mean):
        return last
    if mean <= 0:
        return -_LEVEL_LIMIT
    return int(np.clip(np.rint(8 * np.log2(mean / step)), -_LEVEL_LIMIT, _LEVEL_LIMIT))


def _parents_v4() -> list[np.ndarray]:
    """Version 4's parent contexts: drop the level bin, then the direction, the move, the activity (to the class)."""
    parents, n = [], N_CONTEXTS_V4
    for merged in (len(_LEVEL_EDGES) + 1, 2, len(_MOVE_EDGES) + 1, _GROUPS):
        parents.append(np.arange(n) // merged)
        n //= merged
    return parents


def _chunks(n: int):
    """Chunk bounds of one pass in version 3: sizes _FIRST_CHUNK, twice that, ..."""
    start, size = 0, _FIRST_CHUNK
    while start < n:
        yield start, min(n, start + size)
        start, size = start + size, 2 * size


#: Coefficient coder contexts: one per feature, then the scale class (v3), the band level and the
#: residual model (v4).
_CLASS_CONTEXT = FEATURES
_LEVEL_CONTEXT = FEATURES + 1
_MODEL_CONTEXT = FEATURES + 2


def _coders(version: int, model: int = 0) -> tuple[int, dict, int]:
    """(residual contexts, residual coder options, coefficient contexts) of a stream version."""
    if version >= 4:
        limit, blend = MODELS_V4[model]
        return N_CONTEXTS_V4, {"limit": limit, "parents": _parents_v4(), "blend": blend}, FEATURES + 3
    if version == 3:
        return N_CONTEXTS_V3, {"limit": LIMIT_V3}, FEATURES + 1
    return N_CONTEXTS, {}, FEATURES


def _code(n_contexts: int, options: dict, batches: list) -> tuple[bytes, bytes]:
    coder = ContextEncoder(n_contexts, **options)
    for values, contexts in batches:
        coder.encode(values, contexts)
    return coder.finish()


def encode(plan: Plan, target: np.ndarray, version: int = VERSION) -> tuple[np.ndarray, bytes, bytes, bytes]:
    """(reconstruction, coded coefficients, residual words, raw bits) for ``target``.

    The walk only collects what is to be coded (symbols and contexts do not depend on the coder's
    models), so version 4 can code the residual with each of its models and keep the smaller."""
    walk = _Walk(plan)
    n_contexts, _, n_coefficient_contexts = _coders(version)
    batches, coefficient_batches = [], []
    level = 0
    for b in range(plan.shape[0]):
        flat = target[b].reshape(-1)
        if version >= 4:
            band_valid = flat if plan.valid is None else flat[plan.valid[b].reshape(-1)]
            last, level = level, _band_level(band_valid, plan.steps[b], level)
            coefficient_batches.append((np.array([level - last]), np.array([_LEVEL_CONTEXT])))
        for k, where in enumerate(walk.passes):
            if len(where) == 0:
                continue
            base, cols = walk.features(b, k)
            valid = walk.valid_of(b, k)
            units = _units(cols, plan.steps[b])
            ints = _fit(base, cols, flat[where], valid, units)
            coefficient_batches.append((ints, np.arange(FEATURES)))
            prediction = walk.predict(b, base, cols, ints, units)
            q = np.rint((flat[where] - prediction) / plan.steps[b]).astype(np.int64)
            if valid is not None:
                q[~valid] = 0
            if version >= 3:
                error = flat[where] - prediction
                scale_class = _scale_class(error if valid is None else error[valid], plan.steps[b])
                coefficient_batches.append((np.array([scale_class]), np.array([_CLASS_CONTEXT])))
                if version >= 4:
                    context = walk.contexts_v4(b, k, scale_class, prediction, base, level)
                else:
                    context = walk.contexts_v3(b, k, scale_class, prediction, base)
            else:
                context = walk.contexts(b, k)
            walk.store(b, k, prediction, q)
            symbols, contexts = (q, context) if valid is None else (q[valid], context[valid])
            if version >= 3:
                batches += [(symbols[start:stop], contexts[start:stop]) for start, stop in _chunks(len(symbols))]
            else:
                batches.append((symbols, contexts))
    if version >= 4:
        coded = [_code(n_contexts, _coders(version, m)[1], batches) for m in range(len(MODELS_V4))]
        model = min(range(len(coded)), key=lambda m: len(coded[m][0]) + len(coded[m][1]))
        words, raw = coded[model]
        coefficient_batches.insert(0, (np.array([model]), np.array([_MODEL_CONTEXT])))
    else:
        words, raw = _code(n_contexts, _coders(version)[1], batches)
    return walk.recon, _join(*_code(n_coefficient_contexts, {}, coefficient_batches)), words, raw


def _join(words: bytes, raw: bytes) -> bytes:
    return len(words).to_bytes(4, "little") + words + raw


def _split(blob: bytes) -> tuple[bytes, bytes]:
    n = int.from_bytes(blob[:4], "little") if len(blob) >= 4 else -1
    if n < 0 or n > len(blob) - 4:
        raise BitstreamError("coefficients section is truncated")
    return blob[4 : 4 + n], blob[4 + n :]


def decode(plan: Plan, coefficient_blob: bytes, words: bytes, raw: bytes, version: int = VERSION) -> np.ndarray:
    """The reconstruction :func:`encode` made, from its coded coefficients and residuals."""
    walk = _Walk(plan)
    _, _, n_coefficient_contexts = _coders(version)
    coefficient_coder = ContextDecoder(n_coefficient_contexts, *_split(coefficient_blob))
    model = 0
    if version >= 4:
        model = int(coefficient_coder.decode(np.array([_MODEL_CONTEXT]))[0])
        if not 0 <= model < len(MODELS_V4):
            raise BitstreamError("coefficients section names a residual model that does not exist")
    n_contexts, options, _ = _coders(version, model)
    coder = ContextDecoder(n_contexts, words, raw, **options)
    level = 0
    for b in range(plan.shape[0]):
        if version >= 4:
            level += int(coefficient_coder.decode(np.array([_LEVEL_CONTEXT]))[0])
            if not -_LEVEL_LIMIT <= level <= _LEVEL_LIMIT:
                raise BitstreamError("coefficients section holds a band level out of range")
        for k, where in enumerate(walk.passes):
            if len(where) == 0:
                continue
            base, cols = walk.features(b, k)
            units = _units(cols, plan.steps[b])
            ints = coefficient_coder.decode(np.arange(FEATURES))
            prediction = walk.predict(b, base, cols, ints, units)
            if version >= 3:
                scale_class = int(coefficient_coder.decode(np.array([_CLASS_CONTEXT]))[0])
                if not 0 <= scale_class < _CLASSES:
                    raise BitstreamError("coefficients section holds a scale class out of range")
                if version >= 4:
                    context = walk.contexts_v4(b, k, scale_class, prediction, base, level)
                else:
                    context = walk.contexts_v3(b, k, scale_class, prediction, base)
            else:
                context = walk.contexts(b, k)
            valid = walk.valid_of(b, k)
            q = np.zeros(len(where), dtype=np.int64)
            contexts = context if valid is None else context[valid]
            if version >= 3:
                symbols = np.concatenate([coder.decode(contexts[start:stop]) for start, stop in _chunks(len(contexts))]
                                         or [np.zeros(0, dtype=np.int64)])
            else:
                symbols = coder.decode(contexts)
            if valid is None:
                q = symbols
            else:
                q[valid] = symbols
            walk.store(b, k, prediction, q)
    coder.finish()
    coefficient_coder.finish()
    return walk.recon
