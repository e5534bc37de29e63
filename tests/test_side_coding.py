"""The compact side information of latent-grid streams (version 6, :mod:`torchgeo_inr.latent_grid.side_coding`):
the values decoded are exactly those of the older layout, in fewer bytes, and damage is refused."""

import json

import numpy as np
import pytest

from torchgeo_inr.codecs.latent_grid_read import unpack_basis as unpack_basis_v5
from torchgeo_inr.codecs.latent_grid_stream import pack_basis as pack_basis_v5
from torchgeo_inr.errors import BitstreamError
from torchgeo_inr.latent_grid import side_coding
from torchgeo_inr.latent_grid.basis_precision import finest_steps
from torchgeo_inr.latent_grid.config import LatentConfig, decoder_shapes
from torchgeo_inr.quantize import pack_state, unpack_state


def _weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = decoder_shapes(LatentConfig(components=6, channels=(5, 3, 2, 1), hidden=10))
    return {name: (rng.normal(0, 0.3, shape) + (0.5 if name.endswith("bias") else 0)).astype(np.float32)
            for name, shape in shapes.items()}


def _spectra(rows: int = 12, bands: int = 120, seed: int = 1) -> np.ndarray:
    """Smooth rows of falling amplitude, as a scene's principal directions are."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, bands)
    return np.stack([np.sin(2 * np.pi * (j + 1) * x + rng.uniform(0, 6)) * 40.0 / (j + 1) for j in range(rows)])


def _size(head: dict, sections: dict[str, bytes]) -> int:
    return len(json.dumps(head, separators=(",", ":"))) + sum(len(v) for v in sections.values())


def test_weights_decode_to_the_older_layouts_values_in_fewer_bytes():
    state = _weights()
    expected = {name: value.shape for name, value in state.items()}
    head, sections = side_coding.pack_weights(state, 8)
    assert set(sections) == {"qstep", "qmodels", "qdata"} and set(head) == {"bits", "step"}  # no names, no shapes
    got = side_coding.unpack_weights(head, sections, expected)
    old_head, old_sections = pack_state(state, {name: 8 for name in state})
    want = unpack_state(old_head, old_sections, expected)
    for name in state:
        np.testing.assert_array_equal(got[name], want[name])
    assert _size(head, sections) < 0.9 * _size(old_head, old_sections)


@pytest.mark.parametrize("chosen", [False, True])
def test_basis_rows_decode_to_the_older_layouts_values_in_fewer_bytes(chosen):
    basis = _spectra()
    # chosen steps: finer for the strong rows, as basis_precision gives them
    steps = np.clip(0.02 * np.abs(basis).max(axis=1) ** 0.5, finest_steps(basis), None) if chosen else None
    head, sections = side_coding.pack_basis(basis, steps)
    got = side_coding.unpack_basis(head, sections, *basis.shape)
    old_head, old_sections = pack_basis_v5(basis, steps)
    np.testing.assert_array_equal(got, unpack_basis_v5(old_head, old_sections, *basis.shape))
    assert _size(head, sections) < 0.8 * _size(old_head, old_sections)


def test_a_basis_of_one_band_or_zeros_round_trips():
    for basis in (np.full((3, 1), 2.5), np.zeros((2, 7))):
        head, sections = side_coding.pack_basis(basis)
        got = side_coding.unpack_basis(head, sections, *basis.shape)
        np.testing.assert_allclose(got, basis, atol=float(np.abs(basis).max()) / 200 + 1e-12)


@pytest.fixture(scope="module")
def packed_basis():
    return side_coding.pack_basis(_spectra())


@pytest.mark.parametrize("damage", ["index", "bound", "big bound", "truncated", "odd", "steps", "precision"])
def test_a_damaged_basis_is_refused(packed_basis, damage):
    head, sections = dict(packed_basis[0]), dict(packed_basis[1])
    block = bytearray(sections["bdata"])
    if damage == "index":
        block[4] = 127  # the first row's scale index, beyond the tables
    elif damage == "bound":
        block[:4] = bytes(4)
    elif damage == "big bound":
        block[:4] = (2**31).to_bytes(4, "little")
    elif damage == "truncated":
        block = block[: 4 + 12 + (len(block) - 16) // 2 // 4 * 4]
    elif damage == "odd":
        block = block[:-1]
    elif damage == "steps":
        sections["bstep"] = np.zeros(12, np.float16).tobytes()
    else:
        head["step"] = "f8"
    sections["bdata"] = bytes(block)
    with pytest.raises(BitstreamError):
        side_coding.unpack_basis(head, sections, *_spectra().shape)


@pytest.mark.parametrize("damage", ["models", "range", "bits", "missing"])
def test_damaged_weights_are_refused(damage):
    state = _weights()
    expected = {name: value.shape for name, value in state.items()}
    head, sections = side_coding.pack_weights(state, 6)
    if damage == "models":
        sections["qmodels"] = sections["qmodels"][:-1]
    elif damage == "range":
        models = side_coding.unpack_models(sections["qmodels"], len(state))
        models[0][4] = 2**6  # symbols beyond six bits
        sections["qmodels"] = side_coding.pack_models(models)
    elif damage == "bits":
        head["bits"] = 99
    else:
        head = None
    with pytest.raises(BitstreamError):
        side_coding.unpack_weights(head, sections, expected)


def test_band_scales_and_means_keep_their_float16_values_in_fewer_bytes():
    rng = np.random.default_rng(3)
    bands = 150
    log2_scale = (12 + np.cumsum(rng.normal(0, 0.05, bands))).astype(np.float16)
    mean = (np.linspace(-0.2, 0.6, bands) + rng.normal(0, 0.01, bands)).astype(np.float16)
    mean[[3, 4]] = [0.0, -0.0]
    sections = side_coding.pack_bands(log2_scale, mean)
    got_scale, got_mean = side_coding.unpack_bands(sections, bands)
    np.testing.assert_array_equal(got_scale, log2_scale.astype(np.float64))
    np.testing.assert_array_equal(got_mean, mean.astype(np.float64))
    assert len(sections["bands"]) < 0.7 * 4 * bands  # float16 each: 4 bytes a band


@pytest.mark.parametrize("damage", ["short", "bound", "index", "words", "infinite"])
def test_damaged_band_numbers_are_refused(damage):
    log2_scale = np.full(20, 11.5, np.float16)
    mean = np.linspace(0, 1, 20).astype(np.float16)
    if damage == "infinite":
        mean[5] = np.inf
    block = bytearray(side_coding.pack_bands(log2_scale, mean)["bands"])
    if damage == "short":
        block = block[:5]
    elif damage == "bound":
        block[:4] = (2**20).to_bytes(4, "little")
    elif damage == "index":
        block[4] = 127
    elif damage == "words":
        block = block[:-1]
    with pytest.raises(BitstreamError):
        side_coding.unpack_bands({"bands": bytes(block)}, 20)
