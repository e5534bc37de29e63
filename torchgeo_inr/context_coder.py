"""Adaptive, context-modelled ANS coding of signed integers (quantised residuals).

Why adaptive and contextual: after a good prediction most residuals are zero,
but not everywhere. Where the neighbours' residuals were large (an edge, a
noisy band) the next one is likely large too; one fixed model would pay for
those everywhere. Each symbol is coded with the model of its *context* (an
activity level the decoder can compute from what it has already decoded), and
each context's model is a table of counts that learns from every batch coded
so far (halved now and then, so it follows the spectrum as it changes). Nothing
about the models is stored: the decoder learns them exactly as the encoder did.

A value is coded as a token (its sign and magnitude class: magnitudes below
:data:`DIRECT` exactly, larger ones by their power of two and the bit below
the leading one) through the context's model, plus the remaining low bits of
large magnitudes as raw bits in a second section. Magnitudes up to 2**:data:`MAX_BITS` are coded.

Batches are coded in order; within a batch, symbols are grouped by context
(stable order), so the decoder, which knows the contexts, reads them back in
the same order with one fixed model per group.

Why parent contexts (optional; error-bound stream v4): a fine context sees few
symbols, so its counts are noisy and it cannot forget quickly. With parents
(coarser contexts, each a merge of finer ones, counted alongside), a context's
model is its own counts plus ``blend`` pseudo-counts of its parent's model, and
so on up to a root that holds the prior. Then every level can forget fast (a
low limit) and follow the spectrum closely: measured on Indian Pines at bound
64, residual 0.516 -> 0.484 bpppb (limit 512 without parents -> limit 48 and
blend 16 with four levels of parents).
"""

from __future__ import annotations

import numpy as np

from .errors import BitstreamError

#: Magnitudes below this get a token of their own.
DIRECT = 16
#: Largest magnitude that can be coded is below 2**MAX_BITS.
MAX_BITS = 48
_DIRECT_BITS = DIRECT.bit_length() - 1  # 16 -> 4
#: Highest magnitude class; tokens run over -TOP..TOP.
TOP = DIRECT + 2 * (MAX_BITS - 1 - _DIRECT_BITS) + 1
ALPHABET = 2 * TOP + 1
#: A context's counts are halved when they pass this: it follows the spectrum as it changes
#: (the default; a coder may forget faster).
LIMIT = 8192.0
_PRIOR = 0.5


def _bit_length(magnitude: np.ndarray) -> np.ndarray:
    """floor(log2(m)) + 1 for m >= 1, exactly (no float rounding), vectorised."""
    out = np.zeros(magnitude.shape, dtype=np.int64)
    m = magnitude.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        big = m >= (1 << shift)
        out[big] += shift
        m[big] >>= shift
    return out + (m > 0)


def to_tokens(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(token index 0..ALPHABET-1, raw bit count, raw bits value) for each signed value."""
    values = np.asarray(values, dtype=np.int64)
    magnitude = np.abs(values)
    if magnitude.size and magnitude.max() >= (1 << MAX_BITS):
        raise ValueError(f"residual magnitude {int(magnitude.max())} is beyond 2**{MAX_BITS}")
    lead = np.maximum(_bit_length(magnitude) - 1, 0)  # position of the leading one
    big = magnitude >= DIRECT
    second = (magnitude >> np.maximum(lead - 1, 0)) & 1  # the bit below the leading one
    level = np.where(big, DIRECT + 2 * (lead - _DIRECT_BITS) + second, magnitude)
    n_raw = np.where(big, lead - 1, 0)
    raw = np.where(big, magnitude & ((np.int64(1) << np.maximum(lead - 1, 0)) - 1), 0)
    return TOP + np.sign(values) * level, n_raw, raw


def _lead_of(level: np.ndarray) -> np.ndarray:
    return (level - DIRECT) // 2 + _DIRECT_BITS


def _token_raw_count(tokens: np.ndarray) -> np.ndarray:
    level = np.abs(tokens - TOP)
    return np.where(level >= DIRECT, _lead_of(level) - 1, 0)


def from_tokens(tokens: np.ndarray, raw: np.ndarray) -> np.ndarray:
    level = np.abs(tokens - TOP)
    sign = np.sign(tokens - TOP)
    big = level >= DIRECT
    lead = np.where(big, _lead_of(level), 1)
    second = (level - DIRECT) % 2
    magnitude = np.where(big, (np.int64(1) << lead) + (second << (lead - 1)) + raw, level)
    return sign * magnitude


class _Models:
    """One table of counts per context; probabilities are the normalised counts (blended with parents')."""

    def __init__(self, n_contexts: int, limit: float = LIMIT, parents=(), blend: float = 0.0):
        if n_contexts < 1:
            raise ValueError("need at least one context")
        self.limit = float(limit)
        self.n_contexts = n_contexts
        #: parents[i] maps a context of level i (0: the coded ones) to one of level i + 1.
        self.parents = [np.asarray(p, dtype=np.int64) for p in parents]
        self.blend = float(blend)
        sizes = [n_contexts]
        for parent in self.parents:
            if len(parent) != sizes[-1] or (parent.size and (parent.min() < 0 or (np.diff(parent) < 0).any())):
                raise ValueError("each parent map needs one entry per context of the level below, >= 0, "
                                 "never decreasing")
            sizes.append(int(parent.max()) + 1)
        #: Every level's rows in one table (level i from offsets[i]): one update and one forget per batch.
        self.offsets = np.concatenate(([0], np.cumsum(sizes)))
        # Before anything is seen: small residuals are likelier, every token is possible.
        level = np.abs(np.arange(ALPHABET) - TOP)
        prior = _PRIOR * np.maximum(0.7 ** level, 1e-4)
        self.table = np.tile(prior, (int(self.offsets[-1]), 1))
        if self.parents:
            self.table[: self.offsets[-2]] = 0.0  # only the root holds the prior; the others start as their parent
        #: ancestors[c]: the table rows of context c and of its parent, grandparent, ... up to the root.
        chain = [np.arange(n_contexts)]
        for parent in self.parents:
            chain.append(parent[chain[-1]])
        self.ancestors = np.stack([c + offset for c, offset in zip(chain, self.offsets)], axis=1)

    def check(self, contexts: np.ndarray) -> np.ndarray:
        contexts = np.asarray(contexts, dtype=np.int64).reshape(-1)
        if contexts.size and (contexts.min() < 0 or contexts.max() >= self.n_contexts):
            raise ValueError(f"contexts must lie in 0..{self.n_contexts - 1}")
        return contexts

    def groups(self, contexts: np.ndarray):
        """(context, positions) in a fixed order both sides compute."""
        order = np.argsort(contexts, kind="stable")
        used, starts = np.unique(contexts[order], return_index=True)
        ends = np.append(starts[1:], len(order))
        return [(int(c), order[s:e]) for c, s, e in zip(used, starts, ends)]

    def probabilities(self, contexts: list[int]) -> list[np.ndarray]:
        """The model of each context (rows of one array when blended: both sides compute it the same way)."""
        if not self.parents:
            return [self.table[c] / self.table[c].sum() for c in contexts]
        rows = self.table[self.ancestors[np.asarray(contexts, dtype=np.int64)]]  # (contexts, levels, tokens)
        p = rows[:, -1] / rows[:, -1].sum(axis=1, keepdims=True)
        for level in range(len(self.parents) - 1, -1, -1):  # root to leaf, one fixed order
            row = rows[:, level] + self.blend * p
            p = row / row.sum(axis=1, keepdims=True)
        return list(p)

    def update(self, contexts: np.ndarray, tokens: np.ndarray) -> None:
        rows, inverse = np.unique(contexts, return_inverse=True)
        # Whole counts first, then one addition: the same floats however they are gathered.
        seen = np.bincount(inverse * ALPHABET + tokens, minlength=len(rows) * ALPHABET).astype(np.float64)
        seen = seen.reshape(len(rows), ALPHABET)
        all_rows, all_seen = [rows], [seen]
        for level, parent in enumerate(self.parents):  # parent maps never decrease: sorted rows merge in runs
            merged = parent[rows]
            starts = np.flatnonzero(np.concatenate(([True], merged[1:] != merged[:-1])))
            rows, seen = merged[starts], np.add.reduceat(seen, starts, axis=0)
            all_rows.append(rows + self.offsets[level + 1])
            all_seen.append(seen)
        if self.parents:
            rows, seen = np.concatenate(all_rows), np.concatenate(all_seen)
        self.table[rows] += seen
        self._forget(rows)

    def _forget(self, rows: np.ndarray) -> None:
        """A context whose counts pass the limit keeps half of them, as often as it takes (exact in floats).

        Only the rows just counted can have passed it. The halvings are counted from the exponents
        (what halving until at most the limit would do, in one step)."""
        totals = self.table[rows].sum(axis=1)
        halvings = np.maximum(np.frexp(totals)[1] - np.frexp(self.limit)[1], 0)
        halvings += np.ldexp(totals, -halvings) > self.limit
        full = halvings > 0
        if full.any():
            self.table[rows[full]] *= np.ldexp(1.0, -halvings[full])[:, None]


def _categorical(probabilities: np.ndarray):
    import constriction

    return constriction.stream.model.Categorical(probabilities, perfect=False)


class ContextEncoder:
    """Collects batches; :meth:`finish` writes (ANS bytes, raw-bit bytes)."""

    def __init__(self, n_contexts: int, limit: float = LIMIT, parents=(), blend: float = 0.0):
        self.models = _Models(n_contexts, limit, parents, blend)
        self._groups: list[tuple[np.ndarray, np.ndarray]] = []  # (tokens int32, probabilities)
        self._raw_counts: list[np.ndarray] = []
        self._raw_values: list[np.ndarray] = []

    def encode(self, values: np.ndarray, contexts: np.ndarray) -> None:
        contexts = self.models.check(contexts)
        values = np.asarray(values, dtype=np.int64).reshape(-1)
        if values.shape != contexts.shape:
            raise ValueError("one context per value")
        tokens, n_raw, raw = to_tokens(values)
        groups = self.models.groups(contexts)
        models = self.models.probabilities([context for context, _ in groups])
        for (_, where), probabilities in zip(groups, models):
            self._groups.append((tokens[where].astype(np.int32), probabilities))
        self._raw_counts.append(n_raw)  # raw bits go in value order, as the decoder reads them
        self._raw_values.append(raw)
        self.models.update(contexts, tokens)

    def finish(self) -> tuple[bytes, bytes]:
        import constriction

        coder = constriction.stream.stack.AnsCoder()
        for tokens, probabilities in reversed(self._groups):  # ANS is a stack
            coder.encode_reverse(tokens, _categorical(probabilities))
        words = np.ascontiguousarray(coder.get_compressed(), dtype="<u4").tobytes()
        return words, _pack_bits(self._raw_counts, self._raw_values)


class ContextDecoder:
    """Reads back what :class:`ContextEncoder` wrote, batch by batch, given the same contexts."""

    def __init__(self, n_contexts: int, words: bytes, raw_bits: bytes, limit: float = LIMIT, parents=(),
                 blend: float = 0.0):
        import constriction

        if len(words) % 4:
            raise BitstreamError(f"residual section has {len(words)} bytes, not a whole number of words")
        self.models = _Models(n_contexts, limit, parents, blend)
        self._coder = constriction.stream.stack.AnsCoder(np.frombuffer(words, dtype="<u4").astype(np.uint32))
        self._bits = np.unpackbits(np.frombuffer(raw_bits, dtype=np.uint8), bitorder="little")
        self._bit_pos = 0

    def decode(self, contexts: np.ndarray) -> np.ndarray:
        contexts = self.models.check(contexts)
        tokens = np.empty(contexts.shape, dtype=np.int64)
        groups = self.models.groups(contexts)
        models = self.models.probabilities([context for context, _ in groups])
        for (_, where), probabilities in zip(groups, models):
            try:
                got = self._coder.decode(_categorical(probabilities), len(where))
            except BaseException as err:  # a Rust panic (pyo3 PanicException) is a BaseException
                if isinstance(err, (KeyboardInterrupt, SystemExit, MemoryError)):
                    raise
                raise BitstreamError(f"residual section is damaged: {err}") from None
            tokens[where] = np.asarray(got, dtype=np.int64)
        if tokens.size and (tokens.min() < 0 or tokens.max() >= ALPHABET):
            raise BitstreamError("residual section decodes to tokens outside the alphabet")
        n_raw = _token_raw_count(tokens)
        raw = self._read_bits(n_raw)
        self.models.update(contexts, tokens)
        return from_tokens(tokens, raw)

    def _read_bits(self, n_raw: np.ndarray) -> np.ndarray:
        total = int(n_raw.sum())
        if self._bit_pos + total > len(self._bits):
            raise BitstreamError("raw residual bits are truncated: the stream is damaged")
        chunk = self._bits[self._bit_pos : self._bit_pos + total].astype(np.int64)
        self._bit_pos += total
        return _gather_bits(chunk, n_raw)

    def finish(self) -> None:
        """Refuse leftovers: a stream that decodes to the end with data to spare is damaged."""
        if not self._coder.is_empty():
            raise BitstreamError("residual section has data left after the last symbol: it is damaged")
        if len(self._bits) - self._bit_pos >= 8:
            raise BitstreamError("raw residual bits have data left over: the stream is damaged")


def _pack_bits(counts: list[np.ndarray], values: list[np.ndarray]) -> bytes:
    """Little-endian bit fields of variable width, concatenated and packed into bytes."""
    n = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    v = np.concatenate(values) if values else np.zeros(0, np.int64)
    keep = n > 0
    n, v = n[keep], v[keep]
    total = int(n.sum())
    if total == 0:
        return b""
    owner = np.repeat(np.arange(len(n)), n)
    position = np.arange(total) - np.repeat(np.cumsum(n) - n, n)
    bits = ((v[owner] >> position) & 1).astype(np.uint8)
    return np.packbits(bits, bitorder="little").tobytes()


def _gather_bits(bits: np.ndarray, n_raw: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_pack_bits` for one batch: the fields of widths ``n_raw``."""
    out = np.zeros(n_raw.shape, dtype=np.int64)
    keep = np.flatnonzero(n_raw > 0)
    if keep.size == 0:
        return out
    n = n_raw[keep]
    owner = np.repeat(np.arange(len(n)), n)
    position = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    sums = np.zeros(len(n), dtype=np.int64)
    np.add.at(sums, owner, bits << position)
    out[keep] = sums
    return out
