"""Soft rounding, the latent-grid fit's noise-phase stand-in for rounding."""

import pytest
import torch

from torchgeo_inr.latent_grid import soft_rounding
from torchgeo_inr.latent_grid.soft_rounding import noisy_soft_round, soft_round, temperature_at


def test_soft_round_runs_from_the_identity_to_rounding():
    x = torch.linspace(-3.0, 3.0, 601)
    assert torch.allclose(soft_round(x, 50.0), x, atol=1e-3)  # hot: the identity
    off_edges = (x - x.round()).abs() < 0.45
    assert torch.allclose(soft_round(x, 0.01)[off_edges], x.round()[off_edges], atol=1e-4)  # cold: rounding
    mid = soft_round(x, 0.4)
    assert (mid - x.round()).abs().mean() < 0.85 * (x - x.round()).abs().mean()  # in between: pulled to the centres
    assert torch.all(mid[1:] >= mid[:-1])  # and still ordered
    integers = torch.arange(-3.0, 4.0)
    assert torch.allclose(soft_round(integers, 0.4), integers, atol=1e-5)  # centres stay put


def test_noisy_soft_round_passes_gradients_and_stays_near_its_bin():
    torch.manual_seed(0)
    z = torch.linspace(-2.0, 2.0, 1000, requires_grad=True)
    y = noisy_soft_round(z, 0.3)
    y.sum().backward()
    assert torch.all(z.grad > 0)  # a gradient everywhere (rounding alone has none)
    assert (y - z).abs().max() <= 1.0


def test_temperature_falls_over_the_noise_phase():
    start, end = soft_rounding.TEMPERATURES
    assert temperature_at(0.0) == pytest.approx(start) and temperature_at(1.0) == pytest.approx(end)
    assert start > temperature_at(0.5) > end and temperature_at(2.0) == pytest.approx(end)


def test_the_fit_soft_rounds_the_noise_phase_and_rounds_after(monkeypatch):
    """The fit asks for noise at a temperature falling from the first to the last, then for rounding."""
    from test_latent_grid import _small_fit

    from torchgeo_inr.latent_grid import fit

    _, _, model, loss, _, _ = _small_fit((4, 2), 1.0)
    asked = []
    quantised = type(model).quantised_grids

    def recording(self, how, temperature=None):
        asked.append((how, temperature))
        return quantised(self, how, temperature)

    monkeypatch.setattr(type(model), "quantised_grids", recording)
    fit.fit_latent(model, loss, target_bits=1e4, steps=20, weight_bits=8, noise_fraction=0.5, progress=False)
    noise = [t for how, t in asked if how == "noise"]
    assert [how for how, _ in asked] == ["noise"] * len(noise) + ["ste"] * (20 - len(noise)) and len(noise) >= 9
    assert noise == sorted(noise, reverse=True) and noise[0] < soft_rounding.TEMPERATURES[0] + 1e-9
    assert noise[-1] == pytest.approx(soft_rounding.TEMPERATURES[1], rel=0.1)
    asked.clear()
    fit.fit_latent(model, loss, target_bits=1e4, steps=4, weight_bits=8, temperatures=None, progress=False)
    assert all(t is None for _, t in asked)  # uniform noise alone, as before
