"""Per-channel affine quantisation of tensors, fake-quant for QAT, and a whole state dict <-> stream.

A tensor is quantised along its first axis (output channels of a convolution
or linear layer, one row per frame of an embedding table); 0- and 1-D
tensors (biases) use one channel. Channel ``c`` gets a step ``s_c`` and an
integer zero point ``z_c`` such that 0.0 is exactly representable::

    q = clip(round(x / s_c) + z_c, 0, 2**bits - 1)      x_hat = (q - z_c) * s_c

The reconstruction error is at most ``s_c / 2`` (the step is rounded *up* to
the precision it is stored at, so the bound holds for the stored step).

:func:`pack_state` turns a state dict into a JSON-able header (names, shapes,
bits, entropy models, step precision) and two sections: the steps as raw
float16/float32 and one ANS stream (:mod:`torchgeo_inr.entropy`) holding the
centred symbols ``q - z`` and the zero points. :func:`unpack_state` needs the
names and shapes the caller expects (the caller rebuilds its network from its
own header numbers, never from pickles), and checks the stream against them.
"""

from __future__ import annotations

import numpy as np

from . import entropy
from .errors import BitstreamError
from .packing import unpack_array

MIN_BITS, MAX_BITS = 2, 16
_F16_MIN, _F16_MAX = 2.0**-14, 60000.0


def _channels(shape) -> int:
    return int(shape[0]) if len(shape) >= 2 else 1


def _round_up(step: np.ndarray, dtype) -> np.ndarray:
    """``step`` as ``dtype``, never smaller than given (keeps the half-step error bound)."""
    out = step.astype(dtype)
    low = out.astype(np.float64) < step
    if low.any():
        out[low] = np.nextafter(out[low], np.array(np.inf, dtype=dtype))
    return out


def _range_steps(values: np.ndarray, bits: int) -> np.ndarray:
    """Each channel's range (with zero in it) over its ``bits``' levels: its step before rounding to a dtype."""
    x = np.asarray(values, dtype=np.float64).reshape(_channels(np.shape(values)), -1)
    return (np.maximum(x.max(axis=1), 0.0) - np.minimum(x.min(axis=1), 0.0)) / (2**bits - 1)


def channel_steps(values: np.ndarray, bits: int, dtype="f2") -> np.ndarray:
    """Per-channel steps (float64 values of the stored ``dtype``) for ``values``."""
    step = _range_steps(values, bits)
    step = np.where(step > 0, step, 1.0)
    if np.dtype(dtype) == np.float16:
        step = np.maximum(step, _F16_MIN)
    return _round_up(step, np.dtype(dtype)).astype(np.float64)


def quantize(values: np.ndarray, bits: int, step: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centred symbols ``q - z`` with ``values``' shape, steps (C,), zero points (C,))."""
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bits must be {MIN_BITS}..{MAX_BITS}, got {bits}")
    shape = np.shape(values)
    x = np.asarray(values, dtype=np.float64).reshape(_channels(shape), -1)
    if step is None:
        step = channel_steps(x, bits, "f4")
    lo = np.minimum(x.min(axis=1), 0.0)
    top = 2**bits - 1
    zero = np.clip(np.rint(-lo / step), 0, top).astype(np.int64)
    q = np.clip(np.rint(x / step[:, None]) + zero[:, None], 0, top).astype(np.int64)
    return (q - zero[:, None]).reshape(shape), step, zero


def dequantize(symbols: np.ndarray, step: np.ndarray) -> np.ndarray:
    """float32 values from centred symbols and per-channel steps."""
    shape = np.shape(symbols)
    s = np.asarray(symbols, dtype=np.float64).reshape(_channels(shape), -1)
    return (s * np.asarray(step, dtype=np.float64)[:, None]).reshape(shape).astype(np.float32)


def fake_quant(tensor, bits: int):
    """Straight-through per-channel affine fake quantisation (torch): forward quantised, backward identity."""
    import torch

    if tensor.dim() < 2:
        flat = tensor.reshape(1, -1)
    else:
        flat = tensor.reshape(tensor.shape[0], -1)
    with torch.no_grad():
        lo = flat.min(dim=1, keepdim=True).values.clamp(max=0)
        hi = flat.max(dim=1, keepdim=True).values.clamp(min=0)
        step = ((hi - lo) / (2**bits - 1)).clamp(min=_F16_MIN)
        zero = torch.round(-lo / step)
        q = (torch.round(flat / step) + zero).clamp(0, 2**bits - 1)
        deq = ((q - zero) * step).reshape(tensor.shape)
    return tensor + (deq - tensor).detach()


def quantise_state(
    state: dict[str, np.ndarray], bits: dict[str, int], steps: dict[str, np.ndarray] | None = None
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], str]:
    """(centred symbols, steps, zero points, step dtype) of each tensor of a state dict, in its order.

    ``steps`` (name -> one step per channel) replaces the steps ``bits`` would
    give a tensor: the caller chose each channel's precision (``bits`` must
    then hold its symbols). The steps are float16 unless a tensor needs float32.
    """
    names = list(state)
    steps = steps or {}
    arrays = [np.asarray(state[n], dtype=np.float32) for n in names]
    if not all(np.isfinite(a).all() for a in arrays):
        raise ValueError("state holds non-finite values")
    big = any(
        np.abs(a).max(initial=0.0) / (2 ** bits[n] - 1) > _F16_MAX / 2 for n, a in zip(names, arrays)
    ) or any(not (_F16_MIN <= np.asarray(v)).all() or (np.asarray(v) > _F16_MAX).any() for v in steps.values())
    # a tensor whose own steps are below float16's smallest normal would be coded coarser than its bits (when
    # no tensor has 16 bits: float32 steps apply to all, and 16-bit symbols using their whole range would be
    # wider than the entropy coder takes)
    if not big and all(bits[n] <= 15 for n in names):
        own = [_range_steps(a, bits[n]) for n, a in zip(names, arrays) if n not in steps and a.size]
        big = any(((0 < step) & (step < _F16_MIN)).any() for step in own)
    step_dtype = "f4" if big else "f2"
    symbols, zeros, steps_out = [], [], []
    for name, array in zip(names, arrays):
        if name in steps:
            step = _round_up(np.asarray(steps[name], dtype=np.float64), np.dtype(step_dtype)).astype(np.float64)
        else:
            step = channel_steps(array, bits[name], step_dtype)
        sym, step, zero = quantize(array, bits[name], step)
        symbols.append(sym)
        zeros.append(zero)
        steps_out.append(step)
    return symbols, steps_out, zeros, step_dtype


def step_bytes(steps: list[np.ndarray], step_dtype: str) -> bytes:
    """The steps of :func:`quantise_state`, as stored (little-endian)."""
    return np.concatenate(steps).astype(np.dtype(step_dtype).newbyteorder("<")).tobytes()


def pack_state(
    state: dict[str, np.ndarray], bits: dict[str, int], steps: dict[str, np.ndarray] | None = None
) -> tuple[dict, dict[str, bytes]]:
    """Quantise (:func:`quantise_state`) and entropy-code a state dict: (JSON-able header, {"qstep": ...,
    "qdata": ...})."""
    names = list(state)
    symbols, steps_out, zeros, step_dtype = quantise_state(state, bits, steps)
    blob, models = entropy.encode_tensors(symbols + zeros)
    header = {
        "names": names,
        "shapes": [list(np.shape(state[n])) for n in names],
        "bits": [int(bits[n]) for n in names],
        "models": models,
        "step": step_dtype,
    }
    return header, {"qstep": step_bytes(steps_out, step_dtype), "qdata": blob}


def unpack_state(header: dict, sections: dict[str, bytes], expected: dict[str, tuple]) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_state`; ``expected`` (name -> shape, in order) is what the caller rebuilt."""
    if not isinstance(header, dict):
        raise BitstreamError("quantisation header is missing")
    names, shapes, bits = header.get("names"), header.get("shapes"), header.get("bits")
    models, step_dtype = header.get("models"), header.get("step")
    if names != list(expected) or not isinstance(shapes, list):
        raise BitstreamError("quantised tensors do not match the network the header describes")
    if [list(s) for s in expected.values()] != shapes:
        raise BitstreamError("quantised tensor shapes do not match the network the header describes")
    if not (isinstance(bits, list) and len(bits) == len(names)) or not all(
        isinstance(b, int) and not isinstance(b, bool) and MIN_BITS <= b <= MAX_BITS for b in bits
    ):
        raise BitstreamError(f"quantisation bit widths are invalid: {bits!r}")
    if step_dtype not in ("f2", "f4"):
        raise BitstreamError(f"unknown step precision {step_dtype!r}")
    if not isinstance(models, list) or len(models) != 2 * len(names):
        raise BitstreamError("quantisation entropy models are missing")
    counts = [int(np.prod(s)) for s in shapes]
    channels = [_channels(s) for s in shapes]
    for i, (b, model) in enumerate(zip(bits + bits, models)):
        _, _, _, lo, hi = entropy.check_model(model, f"tensor {i}")
        low, high = (-(2**b - 1), 2**b - 1) if i < len(names) else (0, 2**b - 1)
        if lo < low or hi > high:
            raise BitstreamError(f"tensor {i}: symbols {lo}..{hi} exceed its {b}-bit range")
    step = unpack_array(sections.get("qstep", b""), step_dtype, sum(channels), "qstep").astype(np.float64)
    if (step <= 0).any():
        raise BitstreamError("quantisation steps must be positive")
    decoded = entropy.decode_tensors(sections.get("qdata", b""), models, counts + channels)
    out, start = {}, 0
    for i, (name, shape, b) in enumerate(zip(names, shapes, bits)):
        sym, zero = decoded[i], decoded[len(names) + i]
        c = channels[i]
        q = sym.reshape(c, -1) + zero[:, None]
        if (q < 0).any() or (q > 2**b - 1).any():
            raise BitstreamError(f"tensor {name!r} holds symbols beyond its {b}-bit range")
        out[name] = dequantize(sym.reshape(shape), step[start : start + c])
        start += c
    return out
