"""The latents' context model and its coder (:mod:`torchgeo_inr.latent_grid.context`), on synthetic grids."""

import numpy as np
import pytest
import torch

from torchgeo_inr.errors import BitstreamError
from torchgeo_inr.latent_grid.context import level_features, pass_map
from torchgeo_inr.latent_grid.scale_index import (
    FEATURES, STEPS, UNITS, index_scale, log2_scales, quantise_weights, scale_indices,
)
from torchgeo_inr.latent_grid.context_coding import decode_levels, encode_levels
from torchgeo_inr.latent_grid.model import laplace_bits

SIZES = [(9, 7), (5, 4), (3, 2), (2, 1), (1, 1)]


def _levels(seed: int, channels=(3, 2, 2, 1, 1)) -> list[np.ndarray]:
    """Latents whose spread varies over the scene: busy on the left, quiet on the right, in every level."""
    rng = np.random.default_rng(seed)
    out = []
    for c, (h, w) in zip(channels, SIZES):
        spread = np.linspace(6.0, 0.2, w)[None, None, :]
        out.append(np.round(rng.laplace(0, 1, (c, h, w)) * spread).astype(np.int64))
    return out


@pytest.mark.parametrize("lattice", [True, False])
def test_levels_round_trip_bit_exactly(lattice):
    levels = _levels(0)
    rng = np.random.default_rng(1)
    weights = [quantise_weights(rng.normal(0, 0.5, (len(g), 1 + FEATURES))) for g in levels]
    blob, bound = encode_levels(levels, weights, lattice=lattice)
    back = decode_levels(blob, weights, SIZES, bound, lattice=lattice)
    assert bound == max(int(np.abs(g).max()) for g in levels)
    for a, b in zip(levels, back):
        np.testing.assert_array_equal(a, b)


def test_damaged_latents_raise():
    levels = _levels(2)
    weights = [quantise_weights(np.zeros((len(g), 1 + FEATURES))) for g in levels]
    blob, bound = encode_levels(levels, weights)
    with pytest.raises(BitstreamError):
        decode_levels(blob[:-1], weights, SIZES, bound)  # not whole words
    with pytest.raises(BitstreamError):
        decode_levels(blob + bytes(8), weights, SIZES, bound)  # data left over
    bigger = [(h + 3, w + 3) for h, w in SIZES]  # more symbols asked than were coded: the coder empties first
    with pytest.raises(BitstreamError, match="end marker"):
        decode_levels(blob, weights, bigger, bound)


def test_each_pass_sees_only_neighbours_decoded_before_it():
    from torchgeo_inr.latent_grid.lattice import DIAGONAL, EDGE, FIRST

    level = torch.arange(2 * 5 * 6, dtype=torch.float32).reshape(2, 5, 6)
    neighbours = level_features(level, None)[2]
    order = pass_map(5, 6)
    assert (neighbours[:, order == FIRST] == 0).all()  # the first pass has no neighbour feature
    assert (neighbours[:, order != FIRST] > 0).all()
    for later, seeing in ((EDGE, (DIAGONAL, EDGE)), (DIAGONAL, (DIAGONAL,))):
        changed = level.clone()
        changed[:, order == later] += 100  # a pass's values never feed its own or an earlier pass's features
        for kind in seeing:
            assert torch.equal(level_features(changed, None)[2][:, order == kind], neighbours[:, order == kind])
    # the checkerboard (versions 3 to 6): the second half sees the first only
    board = level_features(level, None, lattice=False)[2]
    second = pass_map(5, 6, lattice=False) == EDGE
    assert (board[:, ~second] == 0).all()
    changed = level.clone()
    changed[:, second] += 100
    assert torch.equal(level_features(changed, None, lattice=False)[2][:, second], board[:, second])


def test_scale_indices_are_integer_arithmetic():
    stored = np.array([[3 * UNITS, UNITS // 2, 0, 0, 0]])
    feats = [np.array([[[0, 2]]]), *(np.zeros((1, 1, 2), np.int64) for _ in range(3))]
    indices = scale_indices(stored, feats)
    np.testing.assert_array_equal(indices, [[[3 * STEPS, 4 * STEPS]]])
    assert 8.0 <= index_scale(int(indices[0, 0, 0])) < 2.0 ** (3 + 1 / STEPS)


def test_fitted_context_costs_fewer_bits_than_one_scale_per_channel():
    """The point of the model: where activity varies, scales that follow it code the latents in fewer bits."""
    levels = [torch.from_numpy(g).float() for g in _levels(3)]
    static = sum(laplace_bits(g, g.abs().mean().clamp_min(0.1)) for g in levels)
    weights = [torch.zeros(len(g), 1 + FEATURES, requires_grad=True) for g in levels]
    opt = torch.optim.Adam(weights, lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        bits = sum(laplace_bits(g, torch.exp2(log2_scales(w, level_features(g, levels[i + 1] if i + 1 < len(levels)
                                                                             else None))))
                   for i, (g, w) in enumerate(zip(levels, weights)))
        bits.backward()
        opt.step()
    assert float(bits.detach()) < 0.95 * float(static)
    # and the coder spends about what the model estimates
    stored = [quantise_weights(w.detach().numpy()) for w in weights]
    blob, _ = encode_levels([g.long().numpy() for g in levels], stored)
    assert 8 * len(blob) < 1.05 * float(bits.detach()) + 64


# -- second-pass prediction from decoded neighbours (stream version 5) ----------------------------------------------
def test_neighbour_prediction_is_the_rounded_weighted_mean_of_the_edge_neighbours():
    from torchgeo_inr.latent_grid.lattice import DIAGONAL
    from torchgeo_inr.latent_grid.neighbour_prediction import prediction

    plane = np.array([[1, 2, 3], [4, -5, 6], [7, 8, 10]])
    full = prediction(plane, UNITS)
    assert full[1, 1] == round((2 + 4 + 6 + 8) / 4)  # 5
    assert full[0, 0] == 3  # (2 + 4) / 2: two neighbours at a corner
    assert full[1, 0] == 1  # (1 + 7 - 5) / 3 = 1
    assert full[0, 1] == 0  # (1 + 3 - 5) / 3 = -1/3, rounded half up -> 0
    assert prediction(plane, UNITS // 2)[1, 1] == 3  # half the mean 5: 2.5 rounds up
    assert (prediction(plane, 0) == 0).all()
    assert (prediction(np.zeros((1, 1), np.int64), UNITS) == 0).all()  # no neighbour at all
    diagonal = prediction(plane, UNITS, DIAGONAL)  # the lattice's second pass (version 7)
    assert diagonal[1, 1] == round((1 + 3 + 7 + 10) / 4)  # 5
    assert diagonal[0, 0] == -5 and diagonal[2, 1] == (4 + 6) // 2


def test_levels_with_prediction_round_trip_and_code_smooth_latents_smaller():
    from torchgeo_inr.latent_grid.lattice import passes
    from torchgeo_inr.latent_grid.neighbour_prediction import CHOICES, choose_weights

    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:9, 0:7]
    smooth = np.round(20 * np.sin(y / 3.0) + 15 * np.cos(x / 2.0)).astype(np.int64)  # a coefficient image
    levels = _levels(5)
    levels[0] = np.stack([smooth, levels[0][1], smooth + levels[0][2]])
    weights = [quantise_weights(rng.normal(0, 0.3, (len(g), 1 + FEATURES))) for g in levels]
    sizes = {}
    for lattice in (True, False):
        predict = [choose_weights(g, passes(*g.shape[1:], lattice)) for g in levels]
        assert predict[0].shape == (3, 2) and set(np.concatenate(predict).ravel()) <= set(CHOICES)
        assert predict[0][0, 1] == UNITS and (predict[0][0, 0] == UNITS) == lattice  # no diagonal pass on a board
        blob, bound = encode_levels(levels, weights, predict=predict, lattice=lattice)
        back = decode_levels(blob, weights, SIZES, bound, predict, lattice=lattice)
        for a, b in zip(levels, back):
            np.testing.assert_array_equal(a, b)
        plain, _ = encode_levels(levels, weights, lattice=lattice)
        assert len(blob) < len(plain)
        sizes[lattice] = len(blob)
        try:  # the prediction is part of the code: read without it, the latents come out otherwise, or damaged
            wrong = decode_levels(blob, weights, SIZES, bound, lattice=lattice)
        except BitstreamError:
            wrong = None
        assert wrong is None or not all(np.array_equal(a, b) for a, b in zip(levels, wrong))
    assert sizes[True] < sizes[False]  # the lattice predicts half the board's first pass too


def test_the_rate_term_codes_what_the_stream_codes():
    """The fit's rate estimate (LatentGridModel.rate_bits) sees the predicted passes' latents less the same
    predictions."""
    from torchgeo_inr.latent_grid.lattice import passes
    from torchgeo_inr.latent_grid.model import _predictions
    from torchgeo_inr.latent_grid.neighbour_prediction import coded_values

    level = _levels(6)[0]
    weights = np.array([[UNITS, UNITS // 2], [0, UNITS], [3 * UNITS // 4, 0]])
    want = coded_values(level, weights, passes(*level.shape[1:]))
    latents = torch.from_numpy(level.astype(np.float32))
    got = (latents - _predictions(torch.round(latents), weights)).numpy()  # what rate_bits costs
    np.testing.assert_array_equal(got, want)
