"""The context weights refitted to the symbols a stream codes (:mod:`torchgeo_inr.latent_grid.context_fit`)."""

import numpy as np
import torch

from torchgeo_inr.latent_grid.context import features_of
from torchgeo_inr.latent_grid.context_coding import decode_levels, encode_levels
from torchgeo_inr.latent_grid import context_fit
from torchgeo_inr.latent_grid.context_fit import stored_context_weights
from torchgeo_inr.latent_grid.scale_index import FEATURES, UNITS, quantise_weights


def _sparse_levels(seed: int) -> list[np.ndarray]:
    """A busy channel and a sparse one (nine in ten zeros, a few ones, one outlier) at full size, one coarse level."""
    rng = np.random.default_rng(seed)
    busy = np.round(rng.laplace(0, 4, (16, 20)))
    sparse = np.where(rng.random((16, 20)) < 0.1, rng.choice([-1, 1], (16, 20)), 0)
    sparse[3, 4] = 9
    coarse = np.round(rng.laplace(0, 2, (1, 8, 10)))
    return [np.stack([busy, sparse]).astype(np.int64), coarse.astype(np.int64)]


def test_refit_codes_the_symbols_in_fewer_bytes_than_weights_trained_on_something_else(monkeypatch):
    levels = _sparse_levels(0)
    features = features_of(levels)
    planes = [[f.numpy() for f in feats] for feats in features]
    # weights as a fit on noisy latents might leave them: one scale of about 1, a slope on the parent
    trained = [torch.tensor([[0.0, 0.5, 0.0, 0.0, 0.0]] * len(g), dtype=torch.float64) for g in levels]
    stale = [quantise_weights(w.numpy()) for w in trained]
    refitted = stored_context_weights(trained, levels, planes)
    assert all(r.dtype == np.int64 and r.shape == (len(g), 1 + FEATURES) for r, g in zip(refitted, levels))
    with monkeypatch.context() as patch:  # the bias alone refitted, as the writer did before the full refit
        patch.setattr(context_fit, "refit", lambda start, counts: start.detach().double())
        biased = stored_context_weights(trained, levels, planes)
    before, bound = encode_levels(levels, stale, features)
    bias_only, _ = encode_levels(levels, biased, features)
    after, bound_after = encode_levels(levels, refitted, features)
    assert bound_after == bound and len(after) < 0.97 * len(bias_only) and len(bias_only) < 0.85 * len(before)
    # what the writer stores decodes: the weights are the stream's, not the trainer's
    sizes = [g.shape[1:] for g in levels]
    for a, b in zip(levels, decode_levels(after, refitted, sizes, bound)):
        np.testing.assert_array_equal(a, b)


def test_refit_never_stores_weights_that_cost_more_than_the_trained_ones():
    """Well-fitted weights are kept (or bettered): the writer picks, per channel, the cheapest it was offered."""
    levels = _sparse_levels(1)
    features = features_of(levels)
    planes = [[f.numpy() for f in feats] for feats in features]
    good = stored_context_weights([torch.zeros(len(g), 1 + FEATURES, dtype=torch.float64) for g in levels], levels,
                                  planes)
    again = stored_context_weights([torch.from_numpy(w / UNITS) for w in good], levels, planes)
    first, _ = encode_levels(levels, good, features)
    second, _ = encode_levels(levels, again, features)
    assert len(second) <= len(first) + 4
