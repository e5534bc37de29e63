"""SIREN per image and meta-learned modulated SIREN: training, round trips, rate, the shipped base (CPU, seconds)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from conftest import mean_baseline, synthetic_cube

from torchgeo_inr import bitstream, metrics
from torchgeo_inr.codecs.meta_siren import MetaSirenCodec
from torchgeo_inr.codecs.siren import SirenCodec
from torchgeo_inr.errors import BitstreamError, RateError
from torchgeo_inr.registry import get_codec
from torchgeo_inr.siren import base as base_mod
from torchgeo_inr.siren.meta import TrainConfig, TrainScene, load_checkpoint, train
from torchgeo_inr.siren.network import MetaSirenConfig


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small networks run fastest on one thread (and a busy CI machine agrees)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


TINY = MetaSirenConfig(width=24, depth=2, features=8, latent_dim=16, head_width=16, head_freqs=4,
                       patch_sizes=[4, 6], max_patch=8, inner_steps=2, inner_lr=5e-2)


@pytest.fixture(scope="module")
def tiny_trained(tmp_path_factory):
    """A tiny base meta-trained on two synthetic scenes of different band counts."""
    out = tmp_path_factory.mktemp("meta")
    corpus = [
        TrainScene.from_array(synthetic_cube(12, 24, 20, seed=1).astype(np.float32), np.linspace(400, 1000, 12)),
        TrainScene.from_array(synthetic_cube(7, 20, 20, seed=2).astype(np.float32), np.linspace(450, 2400, 7)),
    ]
    model, history = train(corpus, TINY, TrainConfig(steps=150, batch_pixels=256, lr=3e-3, log_every=10,
                                                     checkpoint_every=40), out_dir=out, progress=False)
    return out, model, history


def test_meta_training_lowers_the_loss(tiny_trained):
    out, model, history = tiny_trained
    assert history[-1]["mse"] < 0.8 * history[0]["mse"]
    loaded, adam, step, hist = load_checkpoint(out / "checkpoint.safetensors")
    assert step == 150 and len(hist) == len(history) and adam
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)


def test_meta_siren_round_trip_with_a_custom_base(tiny_trained, tmp_path):
    _, model, _ = tiny_trained
    path = tmp_path / "tiny.safetensors"
    digest = base_mod.save_base(model, path, "tiny-test")
    base = base_mod.load_base_file(path, expected_sha256=digest, base_id="tiny-test")
    codec = MetaSirenCodec(base=base)
    cube = synthetic_cube(9, 20, 22, seed=4)  # a band count it was not trained on
    data = codec.encode(cube, bpppb=4.0, progress=False)
    assert 8 * len(data) / cube.size <= 4.0
    out = codec.decode(data)
    assert out.shape == cube.shape and out.dtype == np.uint16
    # a tiny base trained for seconds: it must decode sanely, not well
    assert metrics.psnr_per_band(cube, out.to_numpy()) > mean_baseline(cube) - 1.0
    assert bitstream.unpack(data).header["base"] == {"id": "tiny-test", "sha256": digest}


def test_siren_round_trip_and_rate():
    cube = synthetic_cube(16, 32, 32, seed=2)
    codec = SirenCodec(steps=300)
    for rate in (2.0, 4.0):
        encoded = codec.encode_with_report(cube, bpppb=rate, progress=False)
        data = encoded.data
        real = 8 * len(data) / cube.size
        assert 0.9 * rate <= real <= rate, (rate, real, encoded.report)
        assert encoded.report.steps > 0 and encoded.report.bpppb == real
        out = codec.decode(data)
        assert out.shape == cube.shape and out.dtype == np.uint16
        assert metrics.psnr_per_band(cube, out.to_numpy()) > mean_baseline(cube) + 1.0
    np.testing.assert_array_equal(codec.decode(data).data, codec.decode(data).data)  # decode is deterministic


@pytest.mark.parametrize("codec", ["siren", "meta-siren"])
def test_dead_saturated_and_nan_pixels_stay_finite(codec):
    """A band at uint16's top (beyond float16) and an all-zero band must not poison the normalisation."""
    cube = np.random.default_rng(0).normal(1000, 50, (12, 20, 18)).astype(np.float32)
    cube[5], cube[7] = 0.0, 65535.0
    cube[2, 3:6, 4:9] = np.nan
    options = {"steps": 100} if codec == "siren" else {}
    out = get_codec(codec, **options).encode(cube, bpppb=4.0, progress=False)
    back = get_codec(codec).decode(out).to_numpy()
    assert np.isnan(back[2, 3:6, 4:9]).all() and np.isfinite(np.delete(back, 2, axis=0)).all()
    assert np.abs(back[7] - 65535).max() < 0.05 * 65535 and np.abs(back[5]).max() < 0.05 * 65535


def test_band_norm_shifts_values_float16_cannot_hold():
    from torchgeo_inr.siren.tiles import BandNorm

    for scale in (1e-12, 1.0, 1e12):
        values = np.random.default_rng(1).uniform(0.5, 1.0, (3, 50)) * scale
        norm = BandNorm.fit(values)
        assert np.isfinite(norm.mean.astype(float)).all() and np.isfinite(norm.scale.astype(float)).all()
        assert (norm.exponent == 0) == (scale == 1.0)
        np.testing.assert_allclose(norm.denormalise(norm.normalise(values)), values, rtol=1e-6)


def test_siren_is_registered_and_refuses_impossible_rates():
    codec = get_codec("siren", steps=50)
    with pytest.raises(RateError, match="smallest stream"):
        codec.encode(synthetic_cube(12, 24, 20), bpppb=0.01, progress=False)
    with pytest.raises(RateError, match="PSNR"):
        codec.encode(synthetic_cube(12, 24, 20), psnr=140, progress=False)


def test_shipped_base_loads_without_code_and_is_hash_checked(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("pickle/torch.load must not be used")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    base_mod.installed_base.cache_clear()
    base = base_mod.installed_base()
    name, digest = base_mod.SHIPPED[base_mod.DEFAULT_BASE]
    assert base.sha256 == digest == base_mod.sha256_bytes((base_mod.PRETRAINED_DIR / name).read_bytes())
    assert base.size_bytes < 4 * 2**20  # a few MB at most
    assert base.model.param_count() > 0


def test_tampered_base_is_refused(tmp_path):
    name, digest = base_mod.SHIPPED[base_mod.DEFAULT_BASE]
    raw = bytearray((base_mod.PRETRAINED_DIR / name).read_bytes())
    raw[-10] ^= 0x01  # one bit of one weight
    path = tmp_path / name
    path.write_bytes(bytes(raw))
    with pytest.raises(base_mod.BaseNetworkError, match="sha256"):
        base_mod.load_base_file(path, expected_sha256=digest, base_id=base_mod.DEFAULT_BASE)


@pytest.fixture(scope="module")
def shipped_stream():
    cube = synthetic_cube(16, 32, 32, seed=6)
    codec = get_codec("meta-siren")
    encoded = codec.encode_with_report(cube, bpppb=2.0, progress=False)
    return cube, codec, encoded.data, encoded.report


def test_meta_siren_round_trip_with_the_shipped_base(shipped_stream):
    cube, codec, data, report = shipped_stream
    assert 8 * len(data) / cube.size <= 2.0
    out = codec.decode(data)
    assert out.shape == cube.shape and out.dtype == np.uint16
    assert metrics.psnr_per_band(cube, out.to_numpy()) > mean_baseline(cube)
    np.testing.assert_array_equal(codec.decode(data).data, out.data)
    assert report.details["base_bytes"] > 0 and report.details["base_bpppb_one_scene"] > 0


def test_damaged_streams_raise_bitstream_error(shipped_stream):
    cube, codec, data, _ = shipped_stream
    broken = bytearray(data)
    broken[len(broken) // 2] ^= 0xFF
    with pytest.raises(BitstreamError):
        codec.decode(bytes(broken))
    with pytest.raises(BitstreamError):
        codec.decode(data[:-7])
    # a well-formed container whose latents section is damaged (checksum recomputed)
    s = bitstream.unpack(data)
    sections = dict(s.sections)
    sections["qdata"] = sections["qdata"][:-4]
    with pytest.raises(BitstreamError):
        codec.decode(bitstream.pack(s.codec, s.codec_version, s.header, sections))


def test_stream_with_another_base_hash_is_refused(shipped_stream):
    _, codec, data, _ = shipped_stream
    s = bitstream.unpack(data)
    header = {**s.header, "base": {**s.header["base"], "sha256": "ab" * 32}}
    forged = bitstream.pack(s.codec, s.codec_version, header, s.sections)
    with pytest.raises(BitstreamError, match=f"base network {base_mod.DEFAULT_BASE} with hash abab"):
        codec.decode(forged)
    header = {**s.header, "base": {"id": "no-such-base", "sha256": "ab" * 32}}
    with pytest.raises(BitstreamError, match="no-such-base"):
        codec.decode(bitstream.pack(s.codec, s.codec_version, header, s.sections))


def test_meta_siren_refuses_impossible_rates():
    with pytest.raises(RateError, match="smallest stream"):
        get_codec("meta-siren").encode(synthetic_cube(12, 24, 20), bpppb=0.05, progress=False)
