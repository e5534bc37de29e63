"""Entropy coding of integer symbol arrays with ANS (``constriction``).

Each array ("tensor") is coded with one quantized Laplace or Gaussian model,
whichever gives the shorter code; the model's family, mean, scale and symbol
range are returned as a small JSON-able list that the caller stores in its
header. All tensors of one call share one ANS stream (one section, one
flush). The models are fitted, then rounded to what JSON keeps, and only
then used to code, so the decoder rebuilds exactly the encoder's models.

Decoding checks everything before it reaches ``constriction`` (whose invalid
parameters would panic): family, finite positive scale, a bounded symbol
range, a bounded symbol count, a whole number of 32-bit words; anything wrong
raises :class:`~torchgeo_inr.errors.BitstreamError`.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import BitstreamError

#: Model families, by the id written in the stream.
FAMILIES = ("laplace", "gaussian")
#: Widest symbol range a model may span (constriction needs probabilities > 0 on each).
MAX_RANGE = 1 << 16
#: Most symbols one stream may announce (guards decode against absurd headers).
MAX_SYMBOLS = 1 << 28
_MIN_SCALE = 1e-3


def _model(family: int, lo: int, hi: int, mean: float | None = None, scale: float | None = None):
    import constriction

    cls = constriction.stream.model.QuantizedLaplace if family == 0 else constriction.stream.model.QuantizedGaussian
    if mean is None:
        return cls(lo, hi + 1 if hi == lo else hi)
    return cls(lo, hi + 1 if hi == lo else hi, mean, scale)


def _round(value: float) -> float:
    """A float that survives JSON exactly and is short in it."""
    return float(f"{value:.6g}")


def _bits(symbols: np.ndarray, family: int, lo: int, hi: int, mean: float, scale: float) -> float:
    """Ideal code length (bits) of ``symbols`` under the quantized model (with constriction's support)."""
    x = np.arange(lo, hi + 1, dtype=np.float64)
    if family == 0:
        def cdf(v):
            z = (v - mean) / scale
            return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0)), 1 - 0.5 * np.exp(-np.maximum(z, 0)))
    else:
        from scipy.special import ndtr

        def cdf(v):
            return ndtr((v - mean) / scale)
    p = cdf(x + 0.5) - cdf(x - 0.5)
    p = np.maximum(p, 2.0**-24)  # constriction gives every symbol in range at least one quantum
    p /= p.sum()
    counts = np.bincount(symbols - lo, minlength=hi - lo + 1)
    return float(-(counts * np.log2(p)).sum())


def fit_model(symbols: np.ndarray) -> list:
    """The shorter of a Laplace and a Gaussian model for ``symbols``: ``[family, mean, scale, lo, hi]``."""
    symbols = np.asarray(symbols, dtype=np.int64).reshape(-1)
    if symbols.size == 0:
        return [0, 0.0, 1.0, 0, 0]
    lo, hi = int(symbols.min()), int(symbols.max())
    if hi - lo + 1 > MAX_RANGE:
        raise ValueError(f"symbol range {lo}..{hi} is wider than {MAX_RANGE}")
    if lo == hi:
        return [0, float(lo), 1.0, lo, hi]
    x = symbols.astype(np.float64)
    candidates = []
    med = float(np.median(x))
    b = max(float(np.mean(np.abs(x - med))), _MIN_SCALE)
    candidates.append([0, _round(med), _round(b), lo, hi])
    mu = float(x.mean())
    sd = max(float(x.std()), _MIN_SCALE)
    candidates.append([1, _round(mu), _round(sd), lo, hi])
    return min(candidates, key=lambda m: _bits(symbols, m[0], lo, hi, m[1], m[2]))


def encode_tensors(arrays: list[np.ndarray], models: list[list] | None = None) -> tuple[bytes, list[list]]:
    """Code integer arrays into one ANS stream; return (bytes, one model description per array).

    ``models`` (as :func:`fit_model` gives them, possibly with mean and scale
    rounded to what the caller stores) replaces the fitted ones.
    """
    import constriction

    models = [fit_model(a) for a in arrays] if models is None else models
    coder = constriction.stream.stack.AnsCoder()
    # ANS is a stack: encode the last array first so that decoding reads them in order.
    for array, (family, mean, scale, lo, hi) in reversed(list(zip(arrays, models))):
        flat = np.asarray(array, dtype=np.int32).reshape(-1)
        if flat.size == 0 or lo == hi:
            continue  # a constant array is described by its model alone
        coder.encode_reverse(flat, _model(family, lo, hi, mean, scale))
    words = coder.get_compressed()
    return np.ascontiguousarray(words, dtype="<u4").tobytes(), models


def check_model(model, what: str = "tensor") -> tuple[int, float, float, int, int]:
    """Validate a model description read from a stream (before constriction sees it)."""
    if not (isinstance(model, list) and len(model) == 5):
        raise BitstreamError(f"entropy model of {what} is malformed: {model!r}")
    family, mean, scale, lo, hi = model
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (family, lo, hi))
    floats = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (mean, scale))
    if not (ints and floats):
        raise BitstreamError(f"entropy model of {what} has wrong types: {model!r}")
    if not 0 <= family < len(FAMILIES):
        raise BitstreamError(f"entropy model of {what} has unknown family {family}")
    if not (math.isfinite(mean) and math.isfinite(scale) and scale >= _MIN_SCALE / 2 and abs(mean) < 1e9):
        raise BitstreamError(f"entropy model of {what} has invalid mean/scale {mean!r}/{scale!r}")
    if not (-(1 << 30) <= lo <= hi < (1 << 30) and hi - lo + 1 <= MAX_RANGE):
        raise BitstreamError(f"entropy model of {what} has an invalid symbol range {lo}..{hi}")
    return family, float(mean), float(scale), lo, hi


def decode_tensors(blob: bytes, models: list, counts: list[int]) -> list[np.ndarray]:
    """Inverse of :func:`encode_tensors`: ``counts[i]`` symbols under ``models[i]`` each."""
    import constriction

    if not isinstance(models, list) or len(models) != len(counts):
        raise BitstreamError("entropy models do not match the tensors they describe")
    if sum(counts) > MAX_SYMBOLS or any(c < 0 for c in counts):
        raise BitstreamError(f"stream announces {sum(counts)} symbols, more than supported")
    if len(blob) % 4:
        raise BitstreamError(f"entropy-coded section has {len(blob)} bytes, not a whole number of words")
    checked = [check_model(m, f"tensor {i}") for i, m in enumerate(models)]
    words = np.frombuffer(blob, dtype="<u4").astype(np.uint32)
    try:
        coder = constriction.stream.stack.AnsCoder(words)
        out = []
        for count, (family, mean, scale, lo, hi) in zip(counts, checked):
            if count == 0 or lo == hi:
                out.append(np.full(count, lo, dtype=np.int64))
                continue
            out.append(np.asarray(coder.decode(_model(family, lo, hi, mean, scale), count), dtype=np.int64))
        empty = coder.is_empty()
    except (ValueError, RuntimeError, TypeError, OverflowError) as err:
        raise BitstreamError(f"entropy-coded section is damaged: {err}") from None
    except BaseException as err:  # a Rust panic (pyo3 PanicException) is a BaseException
        if isinstance(err, (KeyboardInterrupt, SystemExit, MemoryError)):
            raise
        raise BitstreamError(f"entropy-coded section is damaged: {err}") from None
    if not empty:
        raise BitstreamError("entropy-coded section has data left after the last symbol: it is damaged")
    return out
