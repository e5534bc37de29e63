"""ANS coding of latent grids under the context model (:mod:`torchgeo_inr.latent_grid.context`).

One ANS stream for all levels, in the decoder's order: levels coarsest
first, a level's channels in order, each channel's passes in order
(:mod:`~torchgeo_inr.latent_grid.lattice`: three in version 7, a
checkerboard's two before). Within a pass, symbols are grouped by scale index (stable
order) and each group is coded with that index's table: a zero-mean Laplace
over [-bound, bound] as integer counts, so that both sides build the same
model from the same integers (a float probability one ulp apart on another
machine could otherwise change the coder's fixed-point model). A table
lookup decodes about eight times faster than constriction's parametric
Laplace. The encoder computes every index at once from the known grids; the
decoder a pass at a time, from what it has decoded. Version 7 ends the
section with a marker symbol (:func:`end_marker`), so that a section read
past its data, or random bytes in its place, fails.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import BitstreamError
from .coded_planes import parent_indices
from .lattice import FIRST, neighbour_sums, passes
from .neighbour_prediction import PREDICTED, coded_values, prediction
from .scale_index import LOG2_RANGE, STEPS, UNITS, index_scale, scale_indices

#: Each table's counts sum to about this (every symbol in range gets at least one).
TABLE_TOTAL = 2**20


def laplace_counts(index: int, symbols: np.ndarray) -> np.ndarray:
    """The integer counts (float64) that scale index ``index``'s table gives ``symbols`` (any integers): its
    zero-mean Laplace's mass on each, times :data:`TABLE_TOTAL`, at least one; the same numbers on every machine."""
    scale = index_scale(index)
    edges = np.asarray(symbols, np.float64)[..., None] + np.array([-0.5, 0.5])
    cdf = np.where(edges < 0, 0.5 * np.exp(np.minimum(edges, 0) / scale),
                   1 - 0.5 * np.exp(-np.maximum(edges, 0) / scale))
    return np.maximum(1.0, np.floor((cdf[..., 1] - cdf[..., 0]) * TABLE_TOTAL + 0.5))


@lru_cache(maxsize=1)
def end_marker():
    """The model of the symbol a version-7 latents section ends with (:data:`END`), almost certain: it costs
    next to nothing, and a section read past its data (an ANS coder that has run empty decodes its first
    symbol, 0, for ever) or from random bytes does not end in it."""
    import constriction

    return constriction.stream.model.Categorical(np.array([1.0, TABLE_TOTAL]) / (TABLE_TOTAL + 1), perfect=False)


#: The symbol of :func:`end_marker` a version-7 latents section ends with.
END = 1


@lru_cache(maxsize=512)
def laplace_table(index: int, bound: int):
    """The categorical model (constriction) of :func:`laplace_counts` (cached per process)."""
    import constriction

    counts = laplace_counts(index, np.arange(-bound, bound + 1))
    return constriction.stream.model.Categorical(counts / counts.sum(), perfect=False)


def _groups(indices: np.ndarray):
    """(scale index, positions) in the order both sides compute."""
    order = np.argsort(indices, kind="stable")
    used, starts = np.unique(indices[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    return [(int(i), order[s:e]) for i, s, e in zip(used, starts, ends)]


def encode_levels(levels: list[np.ndarray], weights: list[np.ndarray], features: list | None = None,
                  predict: list[np.ndarray] | None = None, lattice: bool = True,
                  parents: list[int | None] | None = None) -> tuple[bytes, int]:
    """(ANS bytes, symbol bound) of integer grids (C, h, w), finest first, under stored ``weights`` (C, 5) each;
    ``features``: :func:`~torchgeo_inr.latent_grid.context.features_of` the grids (with the same ``lattice``),
    when the caller has them; ``predict``: per level, each channel's
    :mod:`~torchgeo_inr.latent_grid.neighbour_prediction` weights (C, 2) (version 5 on; None: none);
    ``lattice``: three passes and an end marker (version 7) or a checkerboard's two; ``parents``: each grid's
    parent (:func:`~torchgeo_inr.latent_grid.coded_planes.parent_indices`)."""
    import constriction

    if features is None:
        from .context import features_of  # the encoder's features, in torch (the decoder's: numpy, below)

        features = features_of(levels, lattice, parents)
    orders = [passes(*g.shape[1:], lattice) for g in levels]
    coded = levels if predict is None else [coded_values(g, p, o) for g, p, o in zip(levels, predict, orders)]

    bound = max(1, max(int(np.abs(g).max(initial=0)) for g in coded))
    groups = []  # (symbols shifted to 0..2 bound, scale index), in decode order
    for index in reversed(range(len(levels))):
        indices = scale_indices(weights[index], [f.numpy() for f in features[index]])
        for channel in range(len(levels[index])):
            for kind in (FIRST, *PREDICTED):
                at = orders[index] == kind
                symbols = coded[index][channel][at] + bound
                groups.extend((symbols[here], i) for i, here in _groups(indices[channel][at]))
    coder = constriction.stream.stack.AnsCoder()
    if lattice:  # version 7: decoded last, so encoded first (ANS is a stack)
        coder.encode_reverse(np.array([END], np.int32), end_marker())
    for symbols, i in reversed(groups):
        coder.encode_reverse(symbols.astype(np.int32), laplace_table(i, bound))
    return ans_bytes(coder), bound


def decode_levels(blob: bytes, weights: list[np.ndarray], sizes: list[tuple[int, int]], bound: int,
                  predict: list[np.ndarray] | None = None, lattice: bool = True,
                  parents: list[int | None] | None = None) -> list[np.ndarray]:
    """Inverse of :func:`encode_levels`: grids (C, h, w) int64, finest first; damage raises BitstreamError.

    The features are those of :func:`~torchgeo_inr.latent_grid.context.level_features`, computed in numpy one
    pass at a time and only where they are new (the round-trip tests hold the two to each other).
    """
    coder = ans_reader(blob)
    parents = parent_indices(len(sizes), parents)

    def decode(units: np.ndarray) -> np.ndarray:
        indices = np.clip(units // (UNITS // STEPS), LOG2_RANGE[0] * STEPS, LOG2_RANGE[1] * STEPS - 1)
        values = np.empty(indices.size, np.int64)
        for i, at in _groups(indices):
            values[at] = decode_symbols(coder, laplace_table(i, bound), at.size)
        return values - bound

    levels: list = [None] * len(sizes)
    for index in reversed(range(len(sizes))):
        (height, width), table = sizes[index], weights[index]
        level = np.zeros((len(table), height, width), np.int64)
        parent = np.zeros((height, width), np.int64)
        if parents[index] is not None:
            total = np.abs(levels[parents[index]]).sum(0)
            rows, cols = (np.minimum(np.arange(n) // 2, m - 1) for n, m in zip((height, width), total.shape))
            parent = total[rows][:, cols]
        parent = _activity(parent.reshape(-1))
        order = passes(height, width, lattice).reshape(-1)
        positions = {kind: np.flatnonzero(order == kind) for kind in (FIRST, *PREDICTED)}
        earlier = np.zeros(height * width, np.int64)
        for channel, w in enumerate(table):
            plane = level[channel].reshape(-1)
            base = w[0] + w[1] * parent + w[2] * _activity(earlier)
            plane[positions[FIRST]] = decode(base[positions[FIRST]])
            for column, kind in enumerate(PREDICTED):  # each pass's neighbours are all decoded before it
                at = positions[kind]
                if not at.size:
                    continue
                around = neighbour_sums(np.abs(level[channel]), kind).reshape(-1)[at]
                plane[at] = decode(base[at] + w[3] * _activity(around) + w[4])
                if predict is not None:
                    plane[at] += prediction(level[channel], int(predict[index][channel][column]), kind).reshape(-1)[at]
            earlier += np.abs(plane)
        levels[index] = level
    if lattice and int(decode_symbols(coder, end_marker(), 1)[0]) != END:
        raise BitstreamError("latents section does not end in its end marker: it is damaged")
    if not coder.is_empty():
        raise BitstreamError("latents section has data left after the last symbol: it is damaged")
    return levels


def _activity(sums: np.ndarray) -> np.ndarray:
    """:func:`~torchgeo_inr.latent_grid.context.activity` in numpy."""
    return np.frexp(sums.astype(np.float64))[1].astype(np.int64)


def ans_bytes(coder) -> bytes:
    """What a constriction ANS encoder holds, as the little-endian words :func:`ans_reader` reads."""
    return np.ascontiguousarray(coder.get_compressed(), dtype="<u4").tobytes()


def ans_reader(blob: bytes, what: str = "latents"):
    """A constriction ANS decoder over section ``blob``; a damaged one raises BitstreamError naming it."""
    import constriction

    if len(blob) % 4:
        raise BitstreamError(f"{what} section has {len(blob)} bytes, not a whole number of words")
    try:
        return constriction.stream.stack.AnsCoder(np.frombuffer(blob, dtype="<u4").astype(np.uint32))
    except ValueError as err:  # e.g. a last word of zero, which no encoder writes
        raise BitstreamError(f"{what} section is damaged: {err}") from None


def decode_symbols(coder, model, count: int, what: str = "latents") -> np.ndarray:
    """``count`` symbols of ``model`` from ANS ``coder``; damage (constriction's errors and panics) raises
    BitstreamError naming the section (``what``)."""
    try:
        return np.asarray(coder.decode(model, count))
    except BaseException as err:  # a Rust panic (pyo3 PanicException) is a BaseException
        if isinstance(err, (KeyboardInterrupt, SystemExit, MemoryError)):
            raise
        raise BitstreamError(f"{what} section is damaged: {err}") from None
