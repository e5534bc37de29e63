"""The latent-grid fit's warm start: PCA + scalar quantisation, and the skip that carries it (CPU, seconds)."""

import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_cube

from torchgeo_inr import bitstream, compress, metrics
from torchgeo_inr.codecs.latent_grid import LatentData
from torchgeo_inr.errors import BitstreamError, RateError
from torchgeo_inr.latent_grid.fit import RateDistortionLoss
from torchgeo_inr.latent_grid.config import LatentConfig
from torchgeo_inr.latent_grid.model import LatentGridModel
from torchgeo_inr.latent_grid.warm_start import uniform_step, warm_start
from torchgeo_inr.scene import Scene

V3 = Path(__file__).parent / "data" / "latent_grid_v3"


def _started(bits: float):
    scene = Scene(synthetic_cube(12, 24, 20))
    torch.manual_seed(0)
    data = LatentData(scene, 6, torch.device("cpu"), tilt=False)
    model = LatentGridModel(LatentConfig(6, (5, 2), 12, tilt=False), 24, 20, context=True)
    loss = RateDistortionLoss(data.basis, data.target, scene.data.size)
    truncation = loss.psnr(loss.coeffs)
    info = warm_start(model, loss, bits, data.rescale)
    return model, loss, info, truncation


def test_the_started_model_is_the_coefficients_on_a_uniform_grid():
    """Before any step the skipped components are their coefficients exactly (in the rescaled unit), the others
    start near zero; rounding adds about a twelfth of a step squared; the rescaled basis loses no truncation."""
    model, loss, info, truncation = _started(24 * 20 * 5 * 4.0)
    assert info["skip"] == 5 and model.cfg.skip == 5
    assert abs(loss.psnr(loss.coeffs) - truncation) < 0.1
    with torch.no_grad():
        exact = model.synthesize(list(model.latents)).reshape(6, -1)
        rounded = model.synthesize(model.quantised_grids("round")).reshape(6, -1)
    torch.testing.assert_close(exact[:5], loss.coeffs[:5], rtol=0, atol=1e-4)
    mse = float((rounded[:5] - loss.coeffs[:5]).square().mean())
    assert 1 / 12 * 0.8 < mse < 1 / 12 * 1.2  # one coefficient unit is the step


def test_the_step_spends_the_bits_it_was_given():
    """More bits, a finer step; the rounded coefficients' zero-order entropy lands on the bits asked."""
    coeffs = np.random.default_rng(0).laplace(size=(4, 5000))
    fine, coarse = uniform_step(coeffs, 4 * 5000 * 5.0), uniform_step(coeffs, 4 * 5000 * 2.0)
    assert fine < coarse

    def entropy(step):
        total = 0.0
        for row in coeffs:
            _, counts = np.unique(np.rint(row / step), return_counts=True)
            p = counts / row.size
            total -= row.size * (p * np.log2(p)).sum()
        return total

    assert abs(entropy(fine) / (4 * 5000 * 5.0) - 1) < 0.02


def test_a_warm_started_stream_has_a_skip_and_decodes_to_what_the_fit_measured():
    """The skip and its step travel in the header: a decoder that ignored them would decode garbage."""
    cube = synthetic_cube(12, 24, 20)
    encoded = compress.encode_with_report(cube, "latent-grid", bpppb=3.0, steps=60, progress=False)
    stream = bitstream.unpack(encoded.data)
    assert stream.codec_version == 8 and stream.header["arch"]["skip"] >= 1 and stream.header["skip_step"] > 0
    assert stream.header["arch"]["wavelet"] == 1  # a 24 x 20 scene: one level leaves a 12 x 10 low-pass band
    decoded = compress.decode(encoded.data).to_numpy()
    assert abs(metrics.psnr_per_band(cube, decoded) - encoded.report.psnr_estimate) < 0.5
    cold = bitstream.unpack(compress.encode(cube, "latent-grid", bpppb=3.0, steps=60, warm_start=False,
                                            progress=False))
    assert cold.codec_version == 8 and "skip" not in cold.header["arch"] and "wavelet" not in cold.header["arch"]


@pytest.mark.parametrize("version", [3, 4, 5, 6, 7])
def test_older_streams_still_decode(version):
    """Version 3 written at 63120b7, before the skip; version 4 at c5a6ea0, before the neighbour prediction;
    version 5 at cb6b103, before the compact side information; version 6 at 43b132d, before the lattice;
    version 7 at 5736490, before the wavelet subbands (tests/data/latent_grid_v*/make_streams.py)."""
    folder = V3.parent / f"latent_grid_v{version}"
    data = (folder / f"s{version}.inr").read_bytes()
    assert bitstream.unpack(data).codec_version == version
    np.testing.assert_array_equal(compress.decode(data).to_numpy(), np.load(folder / f"s{version}.npy"))


@pytest.fixture(scope="module")
def skipped_stream() -> bytes:
    return compress.encode(synthetic_cube(12, 24, 20), "latent-grid", bpppb=3.0, steps=60, progress=False)


@pytest.mark.parametrize("change", [{"skip": 99}, {"skip": -1}, {"skip": "2"}, {"skip": 0}, {"skip_step": None},
                                    {"skip_step": -1.0}, {"wavelet": 0}, {"wavelet": 9}, {"wavelet": "1"},
                                    {"wavelet": 2}, {"version": 7}])
def test_a_tampered_skip_is_refused(change, skipped_stream):
    """The skip and its wavelet levels (a version 8 header) must fit the scene, each other and the latents."""
    stream = bitstream.unpack(skipped_stream)
    header = dict(stream.header)
    arch = dict(header["arch"])
    arch.update({k: v for k, v in change.items() if k in ("skip", "wavelet")})
    if "skip_step" in change:
        header["skip_step"] = change["skip_step"]
    header["arch"] = arch
    version = change.get("version", stream.codec_version)  # a version 7 stream has no wavelet
    tampered = bitstream.pack(stream.codec, version, header, dict(stream.sections))
    with pytest.raises(BitstreamError):
        compress.decode(tampered)


def test_warm_started_latents_get_the_gentler_learning_rate(monkeypatch):
    """Warm-started latents (the skipped channels) start where they belong: the main fit moves them at
    WARM_LATENT_LR, the others at LATENT_LR (a cold start, or a rate the user gave, moves all alike)."""
    from torchgeo_inr.latent_grid import fit

    rates = []
    original = fit.fit_latent

    def spy(*args, **kwargs):
        if kwargs.get("phase") is None:
            rates.append((kwargs["lr_latent"], kwargs.get("warm_lr")))
        return original(*args, **kwargs)

    monkeypatch.setattr(fit, "fit_latent", spy)
    cube = synthetic_cube(12, 24, 20)
    for options, want in (({}, (fit.LATENT_LR, fit.WARM_LATENT_LR)), ({"warm_start": False}, (fit.LATENT_LR, None)),
                          ({"latent_lr": 0.2}, (0.2, None))):
        rates.clear()
        # 20 steps on a tiny scene may not land in the promised range (a float's rounding decides it); the fits'
        # rates are what this test is about, and they are recorded by then
        with contextlib.suppress(RateError):
            compress.encode(cube, "latent-grid", bpppb=3.0, steps=20, progress=False, **options)
        assert rates and set(rates) == {want}  # every fit of the encode (rate control may ask more than once)


def test_longer_fits_move_the_warm_latents_more_slowly():
    """The skipped channels' travel (peak rate times steps) is capped: a 5,000-step fit moves them at a fifth of
    a 1,000-step one's rate, short fits at WARM_LATENT_LR."""
    from torchgeo_inr.latent_grid import fit

    assert fit.warm_latent_lr(20) == fit.warm_latent_lr(1000) == fit.WARM_LATENT_LR
    assert fit.warm_latent_lr(5000) == pytest.approx(fit.WARM_LATENT_LR / 5)
    assert fit.warm_latent_lr(5000) * 5000 == pytest.approx(fit.warm_latent_lr(2000) * 2000)


def test_the_skipped_channels_move_at_their_own_rate():
    """fit_latent's ``warm_lr`` scales each step on the skipped channels only."""
    from torchgeo_inr.latent_grid.fit import fit_latent

    steps = {}
    for warm_lr in (None, 0.05):
        model, loss, _, _ = _started(24 * 20 * 5 * 4.0)
        start = [z.detach().clone() for z in model.latents]
        fit_latent(model, loss, target_bits=24 * 20 * 5 * 4.0, steps=5, weight_bits=8, lr_latent=0.15, progress=False,
                   warm_lr=warm_lr)
        moved = [(z.detach() - s).abs().mean() for z, s in zip(model.latents, start)]
        steps[warm_lr] = moved  # level 0: the five skipped channels; level 1: cold latents
    assert steps[0.05][0] < 0.5 * steps[None][0]  # the skipped channels: a third of the step, about
    torch.testing.assert_close(steps[0.05][1], steps[None][1], rtol=0.2, atol=0)  # the others: alike


def test_components_under_clean_bands_get_finer_steps():
    """The step allocation for ``mean_b log MSE_b``: a component that a clean band rests on (small error there)
    is rounded more finely than one that only noisy bands hold; equal power and equal bands, one step."""
    from torchgeo_inr.latent_grid.warm_start import component_steps

    rng = np.random.default_rng(0)
    coeffs = torch.from_numpy(rng.laplace(size=(2, 4000))).float()
    noise = torch.tensor([1e-4, 1e-4, 0.3, 0.3]).sqrt()[:, None]  # bands 0-1 clean, 2-3 noisy
    basis = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    target = basis.T @ coeffs + noise * torch.from_numpy(rng.standard_normal((4, 4000))).float()
    loss = RateDistortionLoss(basis, target, target.numel())
    relative = component_steps(loss.coeffs.double().numpy(), loss, 4000 * 2 * 3.0)
    assert relative[0] < 0.8 * relative[1]
    assert abs(np.log(relative).mean()) < 1e-9  # relative to the common step

    even = RateDistortionLoss(basis, basis.T @ coeffs, target.numel())
    np.testing.assert_allclose(component_steps(even.coeffs.double().numpy(), even, 4000 * 2 * 3.0), 1.0, rtol=0.05)
