"""``error-bound``: the bound holds on every valid element, whatever the values; damage raises."""

import numpy as np
import pytest
from conftest import synthetic_cube

from torchgeo_inr import compress
from torchgeo_inr.codecs.error_bound import resolve_bounds
from torchgeo_inr.context_coder import ContextDecoder, ContextEncoder
from torchgeo_inr.errors import BitstreamError, SceneError
from torchgeo_inr.registry import get_codec
from torchgeo_inr.scene import Scene


def _adversarial(dtype: str) -> np.ndarray:
    """A small cube with spikes, a constant band and the dtype's extremes."""
    cube = synthetic_cube(6, 12, 10, seed=4).astype(np.float64)
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        cube = np.clip(cube - 4000, info.min, info.max)
        cube[1] = 7  # constant band
        cube[2, 3, 4], cube[2, 3, 5] = info.max, info.min  # neighbouring extremes
        cube[3, ::3, ::2] = info.max  # a grid of spikes
        cube[4, 5, :] = info.min
    else:
        cube = cube / 1000
        cube[1] = 0.125
        cube[2, 3, 4], cube[2, 3, 5] = 3e4, -3e4
        cube[3, ::3, ::2] = 1e-7
    return cube.astype(dtype)


def _check(array: np.ndarray, bound, **options) -> bytes:
    codec = get_codec("error-bound", max_error=bound, **options)
    data = codec.encode(array, progress=False)
    back = compress.decode(data).to_numpy()
    assert back.dtype == array.dtype and back.shape == array.shape
    original = Scene.from_array(array).to_numpy().astype(np.float64)  # what the scene holds
    valid = ~np.isnan(original)
    bounds = np.broadcast_to(np.asarray(bound, dtype=np.float64).reshape(-1, 1, 1), array.shape)
    error = np.abs(back.astype(np.float64) - original)
    assert (error[valid] <= bounds[valid]).all(), f"worst excess {np.max(error[valid] - bounds[valid])}"
    assert np.array_equal(np.isnan(back), np.isnan(original)) if back.dtype.kind == "f" else True
    return data


@pytest.mark.parametrize("dtype", ["uint16", "int16", "int32", "uint8", "float32"])
@pytest.mark.parametrize("bound", [0, 1, 4, 16, 256])
def test_bound_holds_on_adversarial_values(dtype, bound):
    _check(_adversarial(dtype), bound, lossy=None)


def test_integer_bound_zero_is_lossless():
    cube = _adversarial("uint16")
    back = compress.decode(get_codec("error-bound", max_error=0, lossy=None).encode(cube, progress=False))
    np.testing.assert_array_equal(back.to_numpy(), cube)


def test_uint16_and_int32_extremes_everywhere():
    for dtype in ("uint16", "int32"):
        info = np.iinfo(dtype)
        cube = np.where(np.random.default_rng(1).random((3, 7, 5)) < 0.5, info.min, info.max).astype(dtype)
        for bound in (0, 16):
            _check(cube, bound, lossy=None)


def test_per_band_bounds_and_relative_bounds():
    cube = synthetic_cube(5, 12, 10, seed=2)
    per_band = [0, 1, 4, 16, 256]
    _check(cube, per_band, lossy=None)
    scene = Scene.from_array(cube)
    bounds = resolve_bounds(scene, relative_error=0.01)
    codec = get_codec("error-bound", relative_error=0.01, lossy=None)
    back = compress.decode(codec.encode(cube, progress=False)).to_numpy().astype(np.float64)
    assert (np.abs(back - cube).max(axis=(1, 2)) <= bounds).all()


def test_nan_and_nodata_stay():
    cube = _adversarial("float32")
    cube[:, 2:4, 3:6] = np.nan
    cube[0, 0, 0] = np.nan
    for bound in (0, 0.01, 1.0):
        _check(cube, bound, lossy=None)
    ints = synthetic_cube(4, 10, 9, seed=3)
    ints[:, 1, 1] = 0
    scene = Scene.from_array(ints, nodata=0)
    codec = get_codec("error-bound", max_error=4, lossy=None)
    back = compress.decode(codec.encode(scene, progress=False))
    assert np.array_equal(back.mask, scene.mask)
    valid = ~scene.mask
    assert np.abs(back.to_numpy().astype(float) - ints)[valid].max() <= 4


def test_with_a_lossy_layer_the_bound_still_holds():
    cube = synthetic_cube(8, 32, 32, seed=6)
    codec = get_codec("error-bound", max_error=16, lossy="pca-jpeg2000", lossy_rates=[3.0])
    data = _check(cube, 16, lossy="pca-jpeg2000", lossy_rates=[3.0])
    assert compress.info(data)["codec"] == "error-bound"
    codec.encode(cube, progress=False)
    rates = [c["lossy_rate"] for c in codec.report["candidates"]]
    assert rates == [None, 3.0]  # the split was measured, and the smaller stream kept
    assert codec.report["bpppb"] == min(c["bpppb"] for c in codec.report["candidates"])


def test_target_is_reported_the_bound_wins():
    cube = synthetic_cube(4, 12, 10, seed=1)
    codec = get_codec("error-bound", max_error=1, lossy=None)
    encoded = codec.encode_with_report(cube, bpppb=0.5, progress=False)
    assert encoded.report.details["over_budget_bpppb"] > 0  # the bound cost more than asked
    back = compress.decode(encoded.data).to_numpy().astype(float)
    assert np.abs(back - cube).max() <= 1


def test_damaged_streams_raise():
    cube = synthetic_cube(4, 12, 10, seed=5)
    data = get_codec("error-bound", max_error=4, lossy=None).encode(cube, progress=False)
    for cut in (len(data) // 3, len(data) - 5):
        with pytest.raises(BitstreamError):
            compress.decode(data[:cut])
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0xFF
    with pytest.raises(BitstreamError):
        compress.decode(bytes(damaged))


def test_damaged_residual_payload_raises():
    """Damage the checksum-protected payload too (re-sealed): the residual decoder must refuse it."""
    from torchgeo_inr import bitstream

    cube = synthetic_cube(4, 12, 10, seed=5)
    stream = bitstream.unpack(get_codec("error-bound", max_error=4, lossy=None).encode(cube, progress=False))
    words = bytearray(stream.sections["residual"])
    words[len(words) // 2] ^= 0x5A
    sections = {**stream.sections, "residual": bytes(words[:-4])}
    resealed = bitstream.pack(stream.codec, stream.codec_version, stream.header, sections)
    with pytest.raises(BitstreamError):
        compress.decode(resealed)


def test_bad_bounds_are_refused():
    cube = synthetic_cube(3, 8, 8)
    for bad in (-1, float("nan"), [1, 2]):
        with pytest.raises(SceneError):
            get_codec("error-bound", max_error=bad).encode(cube, progress=False)


def test_context_coder_round_trips_wide_values():
    rng = np.random.default_rng(0)
    batches = [np.rint(rng.laplace(0, s, 500)).astype(np.int64) for s in (0.1, 3, 1e4)]
    batches.append(np.array([-(2**40), 2**40 + 5, 0, 15, 16, -17, 2**47 - 1]))
    contexts = [rng.integers(0, 4, len(b)) for b in batches]
    encoder = ContextEncoder(4)
    for values, ctx in zip(batches, contexts):
        encoder.encode(values, ctx)
    words, raw = encoder.finish()
    decoder = ContextDecoder(4, words, raw)
    for values, ctx in zip(batches, contexts):
        np.testing.assert_array_equal(decoder.decode(ctx), values)
    decoder.finish()


def test_version_1_streams_still_decode():
    """An error-bound v1 stream (checkerboard, float16 coefficients; tests/data/error_bound_v1) decodes bit for bit."""
    from pathlib import Path

    from torchgeo_inr import bitstream

    here = Path(__file__).parent / "data" / "error_bound_v1"
    data = (here / "e4.inr").read_bytes()
    assert bitstream.unpack(data).codec_version == 1
    np.testing.assert_array_equal(compress.decode(data).to_numpy(), np.load(here / "e4.npy"))


def test_version_2_streams_still_decode():
    """An error-bound v2 stream (one context per pass and activity; tests/data/error_bound_v2) decodes bit for bit."""
    from pathlib import Path

    from torchgeo_inr import bitstream

    here = Path(__file__).parent / "data" / "error_bound_v2"
    data = (here / "e4.inr").read_bytes()
    assert bitstream.unpack(data).codec_version == 2
    np.testing.assert_array_equal(compress.decode(data).to_numpy(), np.load(here / "e4.npy"))


def test_version_3_streams_still_decode():
    """An error-bound v3 stream (scale classes, no band level; tests/data/error_bound_v3) decodes bit for bit."""
    from pathlib import Path

    from torchgeo_inr import bitstream

    here = Path(__file__).parent / "data" / "error_bound_v3"
    data = (here / "e4.inr").read_bytes()
    assert bitstream.unpack(data).codec_version == 3
    np.testing.assert_array_equal(compress.decode(data).to_numpy(), np.load(here / "e4.npy"))


@pytest.mark.parametrize("name", ["e4", "e16"])
def test_version_4_streams_still_decode(name):
    """Error-bound v4 streams (band levels, blended models; tests/data/error_bound_v4) decode bit for bit."""
    from pathlib import Path

    from torchgeo_inr import bitstream

    here = Path(__file__).parent / "data" / "error_bound_v4"
    data = (here / f"{name}.inr").read_bytes()
    assert bitstream.unpack(data).codec_version == 4
    np.testing.assert_array_equal(compress.decode(data).to_numpy(), np.load(here / f"{name}.npy"))


def test_context_coder_with_parents_round_trips():
    """Blended models (parents, fast forgetting) decode what they encoded, over wide and narrow values."""
    rng = np.random.default_rng(1)
    parents = [np.arange(12) // 3, np.arange(4) // 2]
    batches = [np.rint(rng.laplace(0, s, n)).astype(np.int64) for s, n in ((0.3, 700), (40, 300), (2, 50))]
    batches.append(np.array([2**40, -3, 0, 0, 1]))
    contexts = [rng.integers(0, 12, len(b)) for b in batches]
    for limit, blend in ((8.0, 4.0), (1024.0, 64.0)):
        encoder = ContextEncoder(12, limit, parents, blend)
        for values, ctx in zip(batches, contexts):
            encoder.encode(values, ctx)
        words, raw = encoder.finish()
        decoder = ContextDecoder(12, words, raw, limit, parents, blend)
        for values, ctx in zip(batches, contexts):
            np.testing.assert_array_equal(decoder.decode(ctx), values)
        decoder.finish()
    with pytest.raises(ValueError):
        ContextEncoder(12, 64.0, [np.arange(12)[::-1] // 3], 4.0)  # a parent map must never decrease


def test_residual_model_is_chosen_by_bytes():
    """v4 codes the residual with each of its models and keeps the smaller: never worse than either alone."""
    from torchgeo_inr import near_lossless
    from torchgeo_inr.codecs.error_bound import ErrorBoundCodec, reference_values
    from torchgeo_inr.scene import Scene

    cube = synthetic_cube(3, 40, 36, seed=9)
    scene = Scene.from_array(cube)
    codec = ErrorBoundCodec(max_error=0, lossy=None)
    plan = codec._plan(scene, np.zeros(3), None)
    _, _, words, raw = near_lossless.encode(plan, reference_values(scene))
    sizes = []
    for model in range(len(near_lossless.MODELS_V4)):
        saved = near_lossless.MODELS_V4
        try:
            near_lossless.MODELS_V4 = (saved[model],)
            _, _, w, r = near_lossless.encode(plan, reference_values(scene))
        finally:
            near_lossless.MODELS_V4 = saved
        sizes.append(len(w) + len(r))
    assert len(words) + len(raw) == min(sizes)


def test_passes_coded_in_several_chunks_with_gaps_keep_the_bound():
    """Passes long enough to be coded in several chunks (v3), with NaN holes and a noisy band."""
    from torchgeo_inr import near_lossless

    rng = np.random.default_rng(3)
    cube = synthetic_cube(3, 40, 36, seed=9).astype(np.float32)
    cube[1] += rng.normal(0, 300, cube[1].shape).astype(np.float32)  # a noisy band: other scale classes
    cube[:, 5:9, 3:30] = np.nan
    assert len(list(near_lossless._chunks(40 * 36 // 4 - 60))) >= 3
    for bound in (0.5, 8, 64):
        _check(cube, bound, lossy=None)


def test_damaged_coefficients_raise():
    from torchgeo_inr import bitstream

    cube = synthetic_cube(4, 12, 10, seed=5)
    stream = bitstream.unpack(get_codec("error-bound", max_error=4, lossy=None).encode(cube, progress=False))
    assert stream.codec_version == 4
    for blob in (b"", b"\xff\xff\xff\x7f", stream.sections["coefficients"][:-3]):
        resealed = bitstream.pack(stream.codec, stream.codec_version, stream.header,
                                  {**stream.sections, "coefficients": blob})
        with pytest.raises(BitstreamError):
            compress.decode(resealed)
