"""The 9/7 wavelet the skipped latent channels hold (stream version 8) and the coded planes that split them."""

import numpy as np
import pytest
import torch

from torchgeo_inr.latent_grid import wavelet
from torchgeo_inr.latent_grid.coded_planes import coded_planes, join, split
from torchgeo_inr.latent_grid.config import LatentConfig
from torchgeo_inr.latent_grid.context_coding import decode_levels, encode_levels
from torchgeo_inr.latent_grid.scale_index import FEATURES, UNITS

SIZES = [(24, 20), (17, 9), (145, 145), (2, 3), (56, 56)]


@pytest.mark.parametrize("height,width", SIZES)
def test_the_transform_inverts_in_numpy_and_torch(height, width):
    levels = max(1, wavelet.levels_for(height, width))
    assert wavelet.valid_levels(height, width, levels)
    x = np.random.default_rng(height).normal(size=(3, height, width))
    packed = wavelet.forward(x, levels)
    np.testing.assert_allclose(wavelet.inverse(packed, levels), x, atol=1e-10)
    from_torch = wavelet.inverse(torch.from_numpy(packed), levels).numpy()
    np.testing.assert_allclose(from_torch, x, atol=1e-10)
    # float32 in either library: the same products, agreeing to rounding (numpy decodes, torch trains)
    f32 = packed.astype(np.float32)
    np.testing.assert_allclose(wavelet.inverse(f32, levels), wavelet.inverse(torch.from_numpy(f32), levels).numpy(),
                               rtol=0, atol=1e-5 * np.abs(x).max())


def test_the_lifting_is_cdf_9_7_and_close_to_orthonormal():
    """A constant leaves nothing in the detail bands (the 9/7 has four vanishing moments: a ramp neither), the
    low-pass gains sqrt 2 a level on it, and white noise keeps its energy within a few percent (one step
    suits every subband)."""
    height, width, levels = 64, 48, 3
    flat = wavelet.forward(np.full((height, width), 3.0), levels)
    assert max(np.abs(flat[r, c]).max() for r, c, _ in wavelet.subbands(height, width, levels)[:-1]) < 1e-6
    ramp = np.add.outer(np.arange(height) * 0.5, np.arange(width) * -0.25)
    packed = wavelet.forward(ramp, 1)
    interior = [packed[r, c][3:-3, 3:-3] for r, c, _ in wavelet.subbands(height, width, 1)[:-1]]  # mirrored ends
    assert max(np.abs(b).max() for b in interior) < 1e-6
    np.testing.assert_allclose(flat[:8, :6], 3.0 * 2.0**levels, rtol=1e-6)
    noise = np.random.default_rng(0).normal(size=(height, width))
    assert abs((wavelet.forward(noise, levels) ** 2).sum() / (noise**2).sum() - 1) < 0.1


def test_the_inverse_is_differentiable_and_its_gradient_the_adjoint():
    x = torch.randn(2, 11, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: wavelet.inverse(t, 2), (x,))


def test_levels_leave_a_low_pass_band_of_eight():
    assert [wavelet.levels_for(n, n) for n in (8, 14, 15, 28, 29, 56, 145, 4000)] == [0, 0, 1, 1, 2, 2, 4, 5]
    assert wavelet.levels_for(145, 12) == 0 and wavelet.levels_for(16, 300) == 1
    assert not wavelet.valid_levels(3, 40, 3) and wavelet.valid_levels(3, 40, 2) and not wavelet.valid_levels(9, 9, -1)


@pytest.mark.parametrize("height,width,levels", [(24, 20, 1), (17, 9, 2), (145, 145, 4), (33, 18, 3)])
def test_subbands_tile_the_plane_and_each_parent_covers_its_child(height, width, levels):
    bands = wavelet.subbands(height, width, levels)
    assert len(bands) == 3 * levels + 1
    covered = np.zeros((height, width), int)
    for rows, cols, parent in bands:
        covered[rows, cols] += 1
        if parent is not None:
            child = (rows.stop - rows.start, cols.stop - cols.start)
            prows, pcols, _ = bands[parent]
            for n, half in zip(child, (prows.stop - prows.start, pcols.stop - pcols.start)):
                assert 2 * half - 1 <= n <= 2 * half + 1  # a position's parent is at its index halved, or the last
    assert (covered == 1).all()


@pytest.mark.parametrize("cfg", [LatentConfig(6, (5, 3, 2), 8), LatentConfig(6, (5, 3, 2), 8, skip=2, wavelet=2),
                                 LatentConfig(6, (3, 1), 8, skip=3, wavelet=1)])
def test_coded_planes_split_and_join_and_code_with_their_parents(cfg):
    """Version 8's planes: the levels when nothing is held as subbands; else each subband of the skipped
    channels a plane (no empty plane when every full-resolution channel is skipped), each parent after its
    child; the context coder codes them and decodes them back."""
    height, width = 21, 18
    planes = coded_planes(cfg, height, width)
    sizes = cfg.grid_sizes(height, width)
    if not cfg.wavelet:
        assert [(p.level, p.channels, p.size) for p in planes] == [(i, c, s) for i, (c, s) in
                                                                    enumerate(zip(cfg.channels, sizes))]
    else:
        assert sum(p.channels for p in planes) == sum(cfg.channels) + cfg.skip * 3 * cfg.wavelet
        assert all(p.channels for p in planes)
    assert all(p.parent is None or i < p.parent < len(planes) for i, p in enumerate(planes))
    rng = np.random.default_rng(1)
    levels = [rng.integers(-6, 7, size=(c, h, w)) for c, (h, w) in zip(cfg.channels, sizes)]
    coded = split(levels, planes)
    for got, want in zip(join(coded, planes, cfg, height, width), levels):
        np.testing.assert_array_equal(got, want)
    weights = [np.tile([3 * UNITS, 8, 8, -8, 0][: 1 + FEATURES], (p.channels, 1)) for p in planes]
    predict = [np.tile([UNITS // 2, UNITS // 2], (p.channels, 1)) for p in planes]
    parents = [p.parent for p in planes]
    blob, bound = encode_levels(coded, weights, predict=predict, parents=parents)
    decoded = decode_levels(blob, weights, [p.size for p in planes], bound, predict, parents=parents)
    for got, want in zip(decoded, coded):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="parent"):
        decode_levels(blob, weights, [p.size for p in planes], bound, predict, parents=[0] * len(planes))


def test_the_rate_term_costs_the_packed_subbands_as_each_plane_alone():
    """LatentGridModel.rate_bits costs the subbands in one pass over their packed layout: the same bits and
    gradients as costing each coded plane under its own weights, features and predictions."""
    from torchgeo_inr.latent_grid.context import pyramid_features
    from torchgeo_inr.latent_grid.model import LatentGridModel, _predictions, laplace_bits
    from torchgeo_inr.latent_grid.scale_index import LOG2_RANGE, log2_scales

    torch.manual_seed(0)
    model = LatentGridModel(LatentConfig(4, (3, 2, 1), 8, skip=2, wavelet=2), 33, 18, context=True)
    with torch.no_grad():
        for z in [*model.latents, *model.context]:
            z.normal_(0, 3 if z.dim() == 4 else 0.3)
    model.neighbour_weights = [np.random.default_rng(i).integers(0, UNITS + 1, size=(p.channels, 2))
                               for i, p in enumerate(model.planes)]
    grids = model.quantised_grids("noise")
    got = model.rate_bits(grids)
    rounded = model.coded([torch.round(g.detach()) for g in grids])
    features = pyramid_features(rounded, parents=[p.parent for p in model.planes])
    offsets = [_predictions(r, w) for r, w in zip(rounded, model.neighbour_weights)]
    want = sum(laplace_bits(c - o, torch.exp2(log2_scales(w, f).clamp(*LOG2_RANGE)))
               for c, w, f, o in zip(model.coded(grids), model.context, features, offsets))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=0)
    for a, b in zip(torch.autograd.grad(got, [model.latents[0], *model.context], retain_graph=True),
                    torch.autograd.grad(want, [model.latents[0], *model.context])):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))
