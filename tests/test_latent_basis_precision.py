"""The latent-grid basis's precision, chosen for the fit's rate-distortion trade-off (CPU, seconds)."""

import numpy as np
import pytest
import torch
from conftest import synthetic_cube

from torchgeo_inr import bitstream, compress, metrics
from torchgeo_inr.codecs.latent_grid import LatentData, LatentGridCodec
from torchgeo_inr.codecs.latent_grid_read import unpack_basis
from torchgeo_inr.codecs.latent_grid_stream import pack_basis
from torchgeo_inr.latent_grid.basis_precision import MAX_BITS, choose_steps, symbol_bits
from torchgeo_inr.quantize import pack_state, unpack_state
from torchgeo_inr.scene import Scene


@pytest.fixture(scope="module")
def data():
    return LatentData(Scene(synthetic_cube(24, 32, 32, seed=5)), 8, torch.device("cpu"), tilt=False)


def _bytes(packed) -> int:
    return sum(len(v) for v in packed[1].values())


def test_chosen_steps_are_stored_and_decode_within_half_a_step(data):
    rng = np.random.default_rng(0)
    steps = np.exp(rng.uniform(-6, -1, size=data.scaled_basis.shape[0]))
    packed = pack_basis(data.scaled_basis, steps)
    decoded = unpack_basis(packed[0], packed[1], *data.scaled_basis.shape)
    stored = np.frombuffer(packed[1]["bstep"], "<f2" if packed[0]["step"] == "f2" else "<f4").astype(np.float64)
    assert (stored >= steps * (1 - 1e-12)).all() and (stored <= steps * 1.001).all()
    err = np.abs(decoded.astype(np.float64) - data.scaled_basis).max(axis=1)
    assert (err <= stored / 2 + 1e-6 * np.abs(data.scaled_basis).max()).all()
    assert packed[0]["bits"] == [symbol_bits(data.scaled_basis, stored)] and packed[0]["bits"][0] <= MAX_BITS


def test_pack_state_takes_a_step_per_channel():
    x = np.random.default_rng(1).normal(size=(3, 50)).astype(np.float32)
    steps = np.array([0.5, 0.01, 0.1])
    head, sections = pack_state({"w": x}, {"w": 12}, {"w": steps})
    back = unpack_state(head, sections, {"w": (3, 50)})["w"]
    assert (np.abs(back - x).max(axis=1) <= steps / 2 * 1.001 + 1e-7).all()
    assert np.abs(back - x)[0].max() > 10 * np.abs(back - x)[1].max()  # the steps were used, not 12 bits' own


def test_the_price_of_a_bit_sets_the_precision(data):
    """A high rate weight buys a coarser basis (fewer bytes), a low one a finer basis (less error), and the
    choice never loses against the present packing in the fit's own loss."""
    k, bands = data.scaled_basis.shape
    mse = np.full(bands, 1e-4)
    values = 24 * 32 * 32
    present = _bytes(data.basis_packed)

    def pack(steps):
        return data.basis_packed if steps is None else data.pack(steps)

    coarse, report = choose_steps(data.scaled_basis, data.coeff_power, mse, 50.0, values, pack, data.decoded)
    fine, _ = choose_steps(data.scaled_basis, data.coeff_power, mse, 1e-4, values, pack, data.decoded)
    assert coarse is not None and fine is not None
    assert _bytes(pack(coarse)) < present < _bytes(pack(fine))
    assert report["basis_loss_gain"] > 0
    # equal distortion per row: rows whose coefficients carry less power get coarser steps
    order = np.argsort(data.coeff_power)
    assert coarse[order[0]] > coarse[order[-1]]
    # however dear a bit, no row rounds to nothing (the fit keeps its k components: a zero row left the
    # least-squares projection singular)
    dearest, _ = choose_steps(data.scaled_basis, data.coeff_power, mse, 1e9, values, pack, data.decoded)
    assert (np.abs(data.decoded(pack(dearest))).max(axis=1) > 0).all()


def test_an_encode_chooses_its_basis_precision_and_reports_it():
    cube = synthetic_cube(16, 40, 40, seed=2)
    # 0.6 bpppb: at 0.5 this tiny scene's sizes jump between rate control's asks (one component below about
    # 0.53, two above) and no 300-step encode lands in [0.45, 0.5]; the basis choice is what is tested here
    encoded = LatentGridCodec(steps=300, seed=0, threads=1).encode_with_report(cube, bpppb=0.6, progress=False)
    basis = encoded.report.details["basis"]
    stream = bitstream.unpack(encoded.data)
    assert basis["basis_bytes"] == len(stream.section("bstep")) + len(stream.section("bdata"))
    assert basis["lam"] > 0
    out = compress.decode(encoded.data)
    assert metrics.psnr_per_band(cube, out.data) == pytest.approx(encoded.report.psnr_estimate, abs=0.3)
