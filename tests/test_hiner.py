"""The ``hiner`` codec and its parts, on tiny synthetic scenes with tiny networks (CPU, seconds)."""

import numpy as np
import pytest
import torch
from conftest import synthetic_cube

from torchgeo_inr import compress, entropy, metrics, quantize
from torchgeo_inr.codecs.hiner import HINERCodec
from torchgeo_inr.errors import BitstreamError, RateError
from torchgeo_inr.hiner import HINER, HinerConfig, HinerLoss, cam_degrees, sam_degrees
from torchgeo_inr.hiner.config import choose_strides
from torchgeo_inr.scene import Scene

TINY = dict(max_seconds=600, steps=200, lower_width=6, fc_dim=12, embed_ch=2, seed=1)


def _mean_psnr(cube):
    mean = np.broadcast_to(cube.mean(axis=(1, 2), keepdims=True), cube.shape)
    return metrics.psnr_per_band(cube, mean)


@pytest.fixture(scope="module")
def cube():
    return synthetic_cube(8, 24, 20, seed=0)


@pytest.fixture(scope="module", params=[{"spectral_basis": 0}, {"mode": "basis", "spectral_basis": 4}],
                ids=["plain", "basis"])
def encoded(request, cube):
    codec = HINERCodec(**request.param, **TINY)
    scene = Scene.from_array(cube, wavelengths=np.linspace(450, 900, 8))
    return codec, scene, codec.encode(scene, bpppb=8.0, progress=False)


def test_round_trip_beats_the_band_means(encoded, cube):
    codec, scene, data = encoded
    out = compress.decode(data)
    assert out.shape == cube.shape and out.dtype == np.uint16
    assert out.to_numpy().dtype == np.uint16
    np.testing.assert_allclose(out.wavelengths, scene.wavelengths, atol=1e-2)
    psnr = metrics.psnr_per_band(cube, out.data)
    assert psnr > _mean_psnr(cube) + 6, (psnr, _mean_psnr(cube))


def test_stream_size_is_the_rate(encoded):
    _, scene, data = encoded
    real = metrics.bpppb(len(data), scene.shape)
    assert 0.85 * 8.0 <= real <= 8.0
    assert compress.info(data)["bpppb"] == pytest.approx(real)
    assert compress.info(data)["bytes"] == len(data)


def test_decode_is_deterministic_on_a_fresh_codec(encoded):
    codec, _, data = encoded
    first = codec.decode(data).data
    again = HINERCodec().decode(data).data
    np.testing.assert_array_equal(first, again)


def test_damaged_stream_raises(encoded):
    _, _, data = encoded
    for cut in (len(data) // 2, len(data) - 3):
        with pytest.raises(BitstreamError):
            compress.decode(data[:cut])
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x55
    with pytest.raises(BitstreamError):
        compress.decode(bytes(flipped))


def test_tampered_payload_with_valid_checksum_raises(encoded):
    """Damage behind a recomputed CRC (header and sections) still gives BitstreamError, never a crash."""
    from torchgeo_inr import bitstream

    _, _, data = encoded
    s = bitstream.unpack(data)
    rng = np.random.default_rng(0)
    cases = []
    q = dict(s.header["q"])
    cases.append(({**s.header, "q": {**q, "models": q["models"][:-1]}}, s.sections))
    cases.append(({**s.header, "arch": {**s.header["arch"], "fc_dim": 10**9}}, s.sections))
    cases.append(({**s.header, "arch": {**s.header["arch"], "embed_ch": 3}}, s.sections))
    bad_models = [list(m) for m in q["models"]]
    bad_models[0][2] = -1.0
    cases.append(({**s.header, "q": {**q, "models": bad_models}}, s.sections))
    cases.append((s.header, {**s.sections, "qdata": rng.integers(0, 256, 64, dtype=np.uint8).tobytes()}))
    cases.append((s.header, {**s.sections, "qstep": s.sections["qstep"][:-2]}))
    for header, sections in cases:
        forged = bitstream.pack(s.codec, s.codec_version, header, sections)
        with pytest.raises(BitstreamError):
            compress.decode(forged)


# -- latent mode (the default) ---------------------------------------------------
LATENT_TINY = dict(max_seconds=120, steps=1000, seed=1)


@pytest.fixture(scope="module")
def latent_cube():
    return synthetic_cube(16, 48, 40, seed=0)


@pytest.fixture(scope="module")
def latent_encoded(latent_cube):
    codec = HINERCodec(**LATENT_TINY)
    scene = Scene.from_array(latent_cube, wavelengths=np.linspace(450, 900, 16))
    return codec, scene, codec.encode(scene, bpppb=1.0, progress=False)


def test_latent_is_the_default_mode_and_round_trips(latent_encoded, latent_cube):
    codec, scene, data = latent_encoded
    cube = latent_cube
    from torchgeo_inr import bitstream

    assert codec.mode == "latent" and bitstream.unpack(data).header["mode"] == "latent"
    out = compress.decode(data)
    assert out.shape == cube.shape and out.dtype == np.uint16
    psnr = metrics.psnr_per_band(cube, out.data)
    assert psnr > _mean_psnr(cube) + 10, (psnr, _mean_psnr(cube))
    # the training's own estimate is what decode gives (the stream holds what was trained)
    assert psnr == pytest.approx(codec.last_report["psnr_estimate"], abs=0.3)


def test_latent_stream_size_is_the_rate(latent_encoded):
    _, scene, data = latent_encoded
    real = metrics.bpppb(len(data), scene.shape)
    assert 0.9 * 1.0 <= real <= 1.0
    assert compress.info(data)["bytes"] == len(data)
    assert compress.info(data)["bpppb"] == pytest.approx(real)


def test_latent_rate_follows_the_budget(latent_cube):
    data = HINERCodec(**LATENT_TINY).encode(latent_cube, bpppb=2.0, progress=False)
    assert 0.9 * 2.0 <= metrics.bpppb(len(data), latent_cube.shape) <= 2.0


def test_latent_decode_is_deterministic(latent_encoded):
    codec, _, data = latent_encoded
    np.testing.assert_array_equal(codec.decode(data).data, HINERCodec().decode(data).data)


def test_latent_damaged_and_tampered_streams_raise(latent_encoded):
    from torchgeo_inr import bitstream

    _, _, data = latent_encoded
    for cut in (len(data) // 2, len(data) - 3):
        with pytest.raises(BitstreamError):
            compress.decode(data[:cut])
    s = bitstream.unpack(data)
    arch, models = s.header["arch"], s.sections["lmodels"]
    bad_scale = bytearray(models)
    bad_scale[13:17] = np.array([-1.0], dtype="<f4").tobytes()  # first model's scale
    rng = np.random.default_rng(0)
    cases = [
        ({**s.header, "arch": {**arch, "channels": [10**6]}}, s.sections),
        ({**s.header, "arch": {**arch, "channels": arch["channels"] * 9}}, s.sections),
        ({**s.header, "arch": {**arch, "components": 10**6}}, s.sections),
        ({**s.header, "arch": {**arch, "hidden": arch["hidden"] + 1}}, s.sections),
        (s.header, {**s.sections, "lmodels": models[:-17]}),
        (s.header, {**s.sections, "lmodels": bytes(bad_scale)}),
        (s.header, {**s.sections, "latents": rng.integers(0, 256, 64, dtype=np.uint8).tobytes()}),
        (s.header, {**s.sections, "bstep": s.sections["bstep"][:-2]}),
        ({k: v for k, v in s.header.items() if k != "qb"}, s.sections),
    ]
    for header, sections in cases:
        forged = bitstream.pack(s.codec, s.codec_version, header, sections)
        with pytest.raises(BitstreamError):
            compress.decode(forged)


def test_latent_odd_size_comes_back_at_its_own_size():
    cube = synthetic_cube(11, 37, 53, seed=5)
    data = HINERCodec(**{**LATENT_TINY, "steps": 150}).encode(cube, bpppb=3.0, progress=False)
    out = compress.decode(data)
    assert out.shape == (11, 37, 53)
    assert metrics.bpppb(len(data), cube.shape) <= 3.0
    assert metrics.psnr_per_band(cube, out.data) > _mean_psnr(cube) + 6


def test_latent_config_shrinks_to_small_budgets():
    from torchgeo_inr.hiner.latent import auto_config

    big = auto_config(0.2, 200, 145, 145)
    assert big.components == 37 and big.channels[0] == 12 and len(big.channels) == 7
    small = auto_config(0.5, 11, 37, 53)
    assert small.side_values(11) <= 0.35 * 0.5 * 11 * 37 * 53 / 8 + 1
    assert len(auto_config(1.0, 5, 3, 2).channels) == 2  # no level below one pixel


def test_latent_synthesis_is_wider_than_its_basis():
    """A synthesis narrower than the basis caps the coefficients' rank (1 dB lost at 0.5 bpppb on Indian Pines)."""
    from torchgeo_inr.hiner.latent import auto_config

    for bpppb in (0.2, 0.5, 1.0, 2.0):
        cfg = auto_config(bpppb, 200, 145, 145)
        assert cfg.hidden >= cfg.components, (bpppb, cfg)


def test_high_rates_give_every_component_a_full_resolution_channel_and_no_tilt():
    """From 0.5 bpppb coding error dominates: tilting the bands cost 0.9 dB at 1.0 on Indian Pines."""
    from torchgeo_inr.codecs.hiner_latent import LatentData
    from torchgeo_inr.hiner.latent import MAX_CHANNELS, auto_config

    low, high = auto_config(0.2, 200, 145, 145), auto_config(1.0, 200, 145, 145)
    assert low.tilt and low.channels[0] < low.components
    assert not high.tilt and high.channels[0] == min(high.components, MAX_CHANNELS)
    assert high.channels[1] == round(12 * 5**0.6 / 2)  # coarser levels keep the rule below
    cube = synthetic_cube(12, 16, 16, seed=3)
    peaks = np.abs(cube.reshape(12, -1)).max(axis=1)
    plain = LatentData(Scene(cube), 4, torch.device("cpu"), tilt=False)
    np.testing.assert_array_equal(plain.log2_scale, np.log2(peaks).astype(np.float16))
    tilted = LatentData(Scene(cube), 4, torch.device("cpu"), tilt=True)
    assert not np.array_equal(tilted.log2_scale, plain.log2_scale)


def test_odd_size_comes_back_at_its_own_size():
    cube = synthetic_cube(11, 37, 53, seed=5)
    codec = HINERCodec(spectral_basis=0, **{**TINY, "steps": 40})
    data = codec.encode(cube, bpppb=4.0, progress=False)
    out = compress.decode(data)
    assert out.shape == (11, 37, 53)
    assert metrics.bpppb(len(data), cube.shape) <= 4.0


def test_registry_and_options():
    data = compress.encode(
        synthetic_cube(6, 16, 16, seed=2), "hiner", bpppb=48.0, progress=False, **{**TINY, "steps": 30}
    )
    assert compress.info(data)["codec"] == "hiner"
    with pytest.raises(RateError):
        compress.encode(synthetic_cube(6, 16, 16), "hiner", psnr=40.0, progress=False, **TINY)


def test_progress_false_prints_nothing(capsys):
    HINERCodec(**{**TINY, "steps": 20}).encode(synthetic_cube(4, 12, 12, seed=3), bpppb=128.0, progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# -- parts ---------------------------------------------------------------------
def test_entropy_round_trip_and_garbage():
    rng = np.random.default_rng(0)
    arrays = [
        np.rint(rng.laplace(0, 6, 5000)).astype(np.int64),
        np.rint(rng.normal(3, 2, (40, 7))).astype(np.int64),
        np.full(10, 7),
        np.zeros(0, dtype=np.int64),
    ]
    blob, models = entropy.encode_tensors(arrays)
    back = entropy.decode_tensors(blob, models, [a.size for a in arrays])
    for a, b in zip(arrays, back):
        np.testing.assert_array_equal(a.reshape(-1), b)
    assert len(blob) * 8 < 5280 * 6  # well under a fixed-width (7-bit) code
    counts = [a.size for a in arrays]
    with pytest.raises(BitstreamError):
        entropy.decode_tensors(blob[:-1], models, counts)
    with pytest.raises(BitstreamError):
        entropy.decode_tensors(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes(), models, counts)
    with pytest.raises(BitstreamError):
        entropy.decode_tensors(blob, [[0, 0.0, 0.0, -5, 5]] + models[1:], counts)
    with pytest.raises(BitstreamError):
        entropy.decode_tensors(blob, [[0, 0.0, 1.0, -(2**20), 2**20]] + models[1:], counts)
    with pytest.raises(BitstreamError):
        entropy.decode_tensors(blob, models, [10**12, 1, 1, 0])


@pytest.mark.parametrize("bits", [4, 8, 11])
def test_quantisation_error_is_at_most_half_a_step(bits):
    rng = np.random.default_rng(bits)
    w = rng.normal(0, 1, (16, 8, 3, 3)).astype(np.float32) * rng.uniform(0.01, 3, (16, 1, 1, 1)).astype(np.float32)
    b = rng.normal(0.5, 0.1, 16).astype(np.float32)
    state = {"w": w, "b": b, "z": np.zeros((3, 4), np.float32)}
    header, sections = quantize.pack_state(state, {"w": bits, "b": bits, "z": bits})
    back = quantize.unpack_state(header, sections, {k: v.shape for k, v in state.items()})
    steps = np.frombuffer(sections["qstep"], "<f2").astype(np.float64)
    err_w = np.abs(back["w"] - w).reshape(16, -1).max(axis=1)
    assert (err_w <= steps[:16] / 2 * (1 + 1e-5) + 1e-7).all()
    assert np.abs(back["b"] - b).max() <= steps[16] / 2 * (1 + 1e-5) + 1e-7
    np.testing.assert_array_equal(back["z"], 0)
    with pytest.raises(BitstreamError):
        quantize.unpack_state(header, sections, {"w": w.shape, "b": (15,), "z": (3, 4)})


def test_fake_quant_passes_gradients():
    x = torch.randn(4, 10, requires_grad=True)
    y = quantize.fake_quant(x, 4)
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    assert len(torch.unique(y[0])) <= 16


def test_network_shapes_and_losses():
    strides, eh, ew = choose_strides(37, 53, 36)
    cfg = HinerConfig(frames=5, out_channels=1, embed_ch=4, embed_h=eh, embed_w=ew, strides=strides, fc_dim=16)
    assert cfg.out_height >= 37 and cfg.out_width >= 53
    model = HINER(cfg, torch.linspace(0, 1, 5))
    out = model(torch.tensor([0, 3]))
    assert out.shape == (2, 1, cfg.out_height, cfg.out_width)
    assert out.min() >= 0 and out.max() <= 1
    assert sum(p.numel() for p in model.decoder.parameters()) == cfg.decoder_params()
    assert HinerConfig.from_header(cfg.to_header()) == cfg
    a = torch.rand(6, 10, 10)
    assert float(cam_degrees(a, a)) < 1e-3 and float(sam_degrees(a, 2 * a)) < 1e-3
    assert float(cam_degrees(a, torch.rand(6, 10, 10))) > 1
    loss = HinerLoss(gamma=0.01, sam_weight=0.1)(a + 0.1, a)
    assert loss.item() > 0.1


def test_truncation_tilt_raises_the_mean_band_psnr_of_a_truncated_pca():
    """Weighted PCA: the mean per-band PSNR of a 3-component truncation rises by several dB."""
    from torchgeo_inr.hiner.spectral import MAX_TILT, peak_normalise, principal_basis, truncation_tilt

    rng = np.random.default_rng(0)
    factors = rng.normal(size=(4, 400)) * np.array([[4], [2], [1], [0.5]])
    cube = rng.normal(size=(12, 4)) @ factors + 0.01 * rng.normal(size=(12, 400))
    cube[5] = 3 * rng.normal(size=400)  # a loud band of pure noise
    cube = (cube - cube.min() + 1).reshape(12, 20, 20)

    def mean_band_psnr_loss(tilt):  # mean over bands of 10 log10 MSE, in the cube's own units
        log2_scale, _, centred = peak_normalise(cube, tilt)
        basis = principal_basis(centred, 3)
        residual = (centred - basis.T @ (basis @ centred)) * np.exp2(log2_scale.astype(np.float64))[:, None]
        return np.mean(10 * np.log10((residual**2).mean(axis=1)))

    tilt = truncation_tilt(cube, 3)
    assert tilt.shape == (12,) and 0 < np.abs(tilt).max() <= MAX_TILT
    assert mean_band_psnr_loss(tilt) < mean_band_psnr_loss(None) - 3.0  # measured: 5.2 dB
