"""The side information of a whole-scene latent-grid stream (version 6): weights, basis and band numbers, compactly.

Why: at the low rates users start at, the side information is a large part
of the stream. A 0.05 bpppb stream of Indian Pines (25.7 KB) held 2.3 KB of
basis, 2.3 KB of weights, 0.8 KB of per-band scales and means and 1 KB of
JSON header, where PCA + JPEG2000 holds 2.8 KB besides its codestream. Where it was wasted:

- the basis (k x B, each row quantised with its own step) was coded with one
  Laplace for all rows, though rows' symbols spread ten times apart; and each
  row is a spectrum, smooth across bands. Here each row is coded as its
  differences from the band before, under a Laplace of its own scale (a
  scale index, one byte a row, with the tables of
  :mod:`~torchgeo_inr.latent_grid.context_coding`; :func:`pack_rows`):
  2280 -> 1270 bytes on that stream, 6464 -> 4740 at 0.2 bpppb;
- the per-band log2 scale and mean were raw float16, though both change
  little from band to band: the same row coding of their bit patterns, in
  order, keeps them exactly in about half the bytes (800 -> 450);
- the weights' header named every tensor and its shape (what the
  architecture already says), their entropy models were JSON, and each
  channel's zero point was coded though decode never needs it (a symbol is
  already centred on it): here names and shapes come from the architecture,
  the models are binary (:data:`MODEL`) and zero points are not stored.

The values decoded are exactly those of versions 1 to 5 (the same steps,
symbols and float16 numbers): only their coding changed.
"""

from __future__ import annotations

import struct

import numpy as np

from .. import entropy
from ..errors import BitstreamError
from ..packing import header_number, pack_array, unpack_array
from ..quantize import MAX_BITS, MIN_BITS, dequantize, quantise_state, step_bytes
from .basis_precision import MAX_BITS as BASIS_MAX_BITS
from .basis_precision import symbol_bits
from .context_coding import TABLE_TOTAL, ans_bytes, ans_reader, decode_symbols, laplace_counts, laplace_table
from .scale_index import LOG2_RANGE, STEPS

#: An entropy model (:mod:`torchgeo_inr.entropy`) in binary: family, symbol range and float32 mean and scale.
MODEL = np.dtype([("family", "u1"), ("lo", "<i4"), ("hi", "<i4"), ("mean", "<f4"), ("scale", "<f4")])
#: Bits of the basis's values when no precision was chosen for it.
BASIS_BITS = 8
#: Largest basis symbol (:data:`~torchgeo_inr.latent_grid.basis_precision.MAX_BITS` of them), and so of its
#: differences, twice that.
_BASIS_SYMBOL = 2**BASIS_MAX_BITS
_INDICES = (LOG2_RANGE[0] * STEPS, LOG2_RANGE[1] * STEPS - 1)


def float32_model(model: list) -> list:
    """``model`` with its mean and scale as :data:`MODEL` stores them, so that decode builds the encoder's."""
    family, mean, scale, lo, hi = model
    return [family, float(np.float32(mean)), float(np.float32(scale)), lo, hi]


def pack_models(models: list[list]) -> bytes:
    """Models, 17 bytes each in binary: in a JSON header they cost twice that."""
    table = np.zeros(len(models), dtype=MODEL)
    for row, (family, mean, scale, lo, hi) in zip(table, models):
        row["family"], row["lo"], row["hi"], row["mean"], row["scale"] = family, lo, hi, mean, scale
    return table.tobytes()


def unpack_models(blob: bytes, count: int, what: str = "latent models") -> list[list]:
    if len(blob) != count * MODEL.itemsize:
        raise BitstreamError(f"{what} section has {len(blob)} bytes, expected {count * MODEL.itemsize}")
    table = np.frombuffer(blob, dtype=MODEL)
    return [[int(r["family"]), float(r["mean"]), float(r["scale"]), int(r["lo"]), int(r["hi"])] for r in table]


def _step_dtype(head) -> str:
    step_dtype = head.get("step")
    if step_dtype not in ("f2", "f4"):
        raise BitstreamError(f"unknown step precision {step_dtype!r}")
    return step_dtype


def _steps(blob: bytes, step_dtype: str, count: int, what: str) -> np.ndarray:
    steps = unpack_array(blob, step_dtype, count, what).astype(np.float64)
    if not (np.isfinite(steps).all() and (steps > 0).all()):
        raise BitstreamError(f"{what}: quantisation steps must be finite and positive")
    return steps


# -- the synthesis weights ------------------------------------------------------------------------------------


def pack_weights(state: dict[str, np.ndarray], bits: int) -> tuple[dict, dict[str, bytes]]:
    """The weights (by name, in the architecture's order) at ``bits`` each: header and sections ``qstep``,
    ``qmodels`` and ``qdata``."""
    symbols, steps, _, step_dtype = quantise_state(state, {n: bits for n in state})
    models = [float32_model(entropy.fit_model(s)) for s in symbols]
    blob, models = entropy.encode_tensors(symbols, models)
    return {"bits": int(bits), "step": step_dtype}, {
        "qstep": step_bytes(steps, step_dtype), "qmodels": pack_models(models), "qdata": blob}


def unpack_weights(head, sections: dict[str, bytes], expected: dict[str, tuple]) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_weights`; ``expected`` (name -> shape, in order) is what the header's architecture
    says; any inconsistency raises :class:`BitstreamError`."""
    if not isinstance(head, dict):
        raise BitstreamError("quantisation header is missing")
    bits = header_number(head, "bits", int, MIN_BITS, MAX_BITS)
    step_dtype = _step_dtype(head)
    shapes = list(expected.values())
    channels = [int(s[0]) if len(s) >= 2 else 1 for s in shapes]
    models = unpack_models(sections.get("qmodels", b""), len(shapes), "weight models")
    for name, model in zip(expected, models):
        _, _, _, lo, hi = entropy.check_model(model, name)
        if lo < -(2**bits - 1) or hi > 2**bits - 1:
            raise BitstreamError(f"{name}: symbols {lo}..{hi} exceed its {bits}-bit range")
    step = _steps(sections.get("qstep", b""), step_dtype, sum(channels), "qstep")
    decoded = entropy.decode_tensors(sections.get("qdata", b""), models, [int(np.prod(s)) for s in shapes])
    out, start = {}, 0
    for (name, shape), sym, c in zip(expected.items(), decoded, channels):
        out[name] = dequantize(sym.reshape(shape), step[start:start + c])
        start += c
    return out


# -- integer rows, each coded as its differences along the row -------------------------------------------------


def _row_bits(residuals: np.ndarray, index: int, bound: int) -> float:
    """About the bits of a row's differences under scale index ``index``'s table (its total taken as
    :data:`~torchgeo_inr.latent_grid.context_coding.TABLE_TOTAL` plus a count for each symbol): the choice
    of an index needs no table of the whole range."""
    total = TABLE_TOTAL + 2 * bound + 1
    return float(-np.log2(laplace_counts(index, residuals) / total).sum())


def _row_index(residuals: np.ndarray, bound: int) -> int:
    """The scale index that codes a row's differences in about the fewest bits: near its maximum-likelihood
    scale."""
    scale = max(float(np.abs(residuals).mean()), 2.0**LOG2_RANGE[0])
    guess = int(np.clip(np.floor(np.log2(scale) * STEPS), *_INDICES))
    near = range(max(_INDICES[0], guess - 3), min(_INDICES[1], guess + 3) + 1)
    return min(near, key=lambda i: _row_bits(residuals, i, bound))


def pack_rows(rows: np.ndarray) -> bytes:
    """Integer rows (r, n) as one block: the differences' bound (uint32), each row's scale index (int8) and the
    differences along each row (the first against zero), ANS-coded under a zero-mean Laplace of that scale."""
    import constriction

    residuals = np.diff(np.asarray(rows, np.int64), axis=1, prepend=0)
    bound = max(1, int(np.abs(residuals).max(initial=0)))
    indices = np.array([_row_index(row, bound) for row in residuals], np.int64)
    coder = constriction.stream.stack.AnsCoder()
    for row, index in zip(residuals[::-1], indices[::-1]):  # ANS is a stack
        coder.encode_reverse((row + bound).astype(np.int32), laplace_table(int(index), bound))
    return struct.pack("<I", bound) + pack_array(indices, "i1") + ans_bytes(coder)


def unpack_rows(block: bytes, count: int, length: int, largest: int, what: str) -> np.ndarray:
    """Inverse of :func:`pack_rows`: ``count`` rows of ``length`` int64 values, each at most ``largest`` in
    magnitude; any inconsistency raises :class:`BitstreamError` naming the section (``what``)."""
    if len(block) < 4 + count:
        raise BitstreamError(f"{what} section has {len(block)} bytes, too few for its {count} rows")
    (bound,) = struct.unpack("<I", block[:4])
    if not 1 <= bound <= 2 * largest:
        raise BitstreamError(f"{what} section declares differences up to {bound}, beyond {2 * largest}")
    indices = np.frombuffer(block[4:4 + count], np.int8).astype(np.int64)
    if ((indices < _INDICES[0]) | (indices > _INDICES[1])).any():
        raise BitstreamError(f"{what} section has scale indices out of range")
    coder = ans_reader(block[4 + count:], what)
    residuals = [decode_symbols(coder, laplace_table(int(i), bound), length, what) - bound for i in indices]
    if not coder.is_empty():
        raise BitstreamError(f"{what} section has data left after the last symbol: it is damaged")
    rows = np.cumsum(np.array(residuals, np.int64).reshape(count, length), axis=1)
    if np.abs(rows).max(initial=0) > largest:
        raise BitstreamError(f"{what} section holds values out of range")
    return rows


# -- the spectral basis ---------------------------------------------------------------------------------------


def basis_quantisation(basis: np.ndarray, steps: np.ndarray | None) -> tuple[dict, dict | None]:
    """The ``bits`` and ``steps`` of :func:`~torchgeo_inr.quantize.quantise_state` for the basis (k, B): each row
    on its own chosen step, or, with ``steps`` None, its range over :data:`BASIS_BITS` levels (every layout)."""
    if steps is None:
        return {"basis": BASIS_BITS}, None
    return {"basis": symbol_bits(basis, steps)}, {"basis": steps}


def pack_basis(basis: np.ndarray, steps: np.ndarray | None = None) -> tuple[dict, dict[str, bytes]]:
    """The basis (k, B) quantised by :func:`basis_quantisation`: header and sections ``bstep`` and ``bdata`` (the
    rows' symbols, :func:`pack_rows`: a spectrum is smooth across bands)."""
    (symbols,), (step,), _, step_dtype = quantise_state({"basis": basis}, *basis_quantisation(basis, steps))
    return {"step": step_dtype}, {"bstep": step_bytes([step], step_dtype), "bdata": pack_rows(symbols)}


def unpack_basis(head, sections: dict[str, bytes], components: int, bands: int) -> np.ndarray:
    """Inverse of :func:`pack_basis`: the basis (k, B) float32; any inconsistency raises :class:`BitstreamError`."""
    if not isinstance(head, dict):
        raise BitstreamError("basis quantisation header is missing")
    step = _steps(sections.get("bstep", b""), _step_dtype(head), components, "bstep")
    symbols = unpack_rows(sections.get("bdata", b""), components, bands, _BASIS_SYMBOL, "bdata")
    return dequantize(symbols, step)


# -- the per-band scale and mean -------------------------------------------------------------------------------


def _ordered(halves: np.ndarray) -> np.ndarray:
    """float16 values as integers in their order (sign and magnitude to a signed integer; -0 becomes 0)."""
    bits = np.asarray(halves, np.float16).view(np.uint16).astype(np.int64)
    return np.where(bits & 0x8000, -(bits & 0x7FFF), bits)


def _halves(ordered: np.ndarray) -> np.ndarray:
    bits = np.where(ordered < 0, 0x8000 | -ordered, ordered).astype(np.uint16)
    return bits.view(np.float16)


def pack_bands(log2_scale: np.ndarray, mean: np.ndarray) -> dict[str, bytes]:
    """The per-band log2 scale and mean (float16, exactly): section ``bands``, the two as rows of :func:`pack_rows`
    (a scene's band peaks and means change little from band to band): about half their 4 bytes a band."""
    return {"bands": pack_rows(np.stack([_ordered(log2_scale), _ordered(mean)]))}


def unpack_bands(sections: dict[str, bytes], bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack_bands`: (log2 scale, mean) float64 (B,) each; non-finite values are refused."""
    rows = unpack_rows(sections.get("bands", b""), 2, bands, 0x7FFF, "bands")
    log2_scale, mean = (_halves(row).astype(np.float64) for row in rows)
    if not (np.isfinite(log2_scale).all() and np.isfinite(mean).all()):
        raise BitstreamError("bands section holds non-finite scales or means")
    return log2_scale, mean
