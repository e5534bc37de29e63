import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import multiclass_confusion_matrix

from torchgeo_inr import metrics


def test_psnr_per_band_by_hand():
    a = np.zeros((2, 2, 2))
    a[0] = 10.0
    a[1] = 4.0
    b = a.copy()
    b[0, 0, 0] += 1.0  # MSE 0.25, peak 10
    b[1] += 2.0  # MSE 4, peak 4
    expected = (10 * np.log10(100 / 0.25) + 10 * np.log10(16 / 4)) / 2
    assert metrics.psnr_per_band(a, b) == pytest.approx(expected)


def test_psnr_per_band_of_an_all_zero_band_uses_the_cube_peak():
    a = np.zeros((2, 2, 2))
    a[0] = 10.0
    b = a.copy()
    b[1] += 1.0  # band 1 is zero everywhere: MSE 1 against the cube's peak 10
    expected = (metrics.PSNR_CAP_DB + 10 * np.log10(100 / 1.0)) / 2
    assert metrics.psnr_per_band(a, b) == pytest.approx(expected)


def test_psnr_global_by_hand():
    a = np.array([[[0.0, 8.0]]])
    b = np.array([[[1.0, 8.0]]])
    assert metrics.psnr_global(a, b) == pytest.approx(10 * np.log10(64 / 0.5))


def test_psnr_ignores_masked():
    a = np.ones((1, 2, 2))
    b = a.copy()
    b[0, 0, 0] = 100.0
    mask = np.zeros_like(a, dtype=bool)
    mask[0, 0, 0] = True
    assert metrics.psnr_per_band(a, b, mask) == metrics.PSNR_CAP_DB


def test_sam_degrees():
    a = np.array([1.0, 0.0]).reshape(2, 1, 1)
    b = np.array([1.0, 1.0]).reshape(2, 1, 1)
    assert metrics.sam_degrees(a, b) == pytest.approx(45.0)
    assert metrics.sam_degrees(a, 3 * a) == pytest.approx(0.0, abs=1e-6)


def test_ssim_identical_is_one(cube):
    assert metrics.ssim(cube, cube) == pytest.approx(1.0, abs=1e-4)
    assert metrics.ssim(cube, cube + np.random.default_rng(0).normal(0, 500, cube.shape)) < 0.9


def test_rate_measures():
    assert metrics.bpppb(1000, (200, 10, 10)) == pytest.approx(0.4)
    assert metrics.compression_ratio(1000, (200, 10, 10)) == pytest.approx(40.0)


def test_classification_scores_match_confusion_matrix():
    target = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    preds = torch.tensor([0, 0, 1, 0, 1, 2, 2, 2, 0, 2])
    cm = multiclass_confusion_matrix(preds, target, 3).double()
    oa = cm.trace() / cm.sum()
    aa = (cm.diag() / cm.sum(1)).mean()
    pe = (cm.sum(0) * cm.sum(1)).sum() / cm.sum() ** 2
    kappa = (oa - pe) / (1 - pe)
    scores = metrics.classification_scores(preds, target, 3)
    assert scores["oa"] == pytest.approx(0.7)
    assert scores["oa"] == pytest.approx(float(oa))
    assert scores["aa"] == pytest.approx(float(aa))
    assert scores["kappa"] == pytest.approx(float(kappa))


def test_psnr_per_band_is_the_per_band_definition():
    """The one-pass PSNR gives the definition's numbers band by band: gaps left out, a dead band against the
    cube's peak, an exact band at the cap, a band with no valid value skipped."""
    rng = np.random.default_rng(0)
    cube = rng.integers(0, 5000, (12, 16, 16)).astype(np.float64)
    cube[3], cube[4] = 0, 7
    decoded = cube + rng.normal(0, 3, cube.shape)
    decoded[3], decoded[4] = 0.5, 7.0
    cube[5, 0, 0] = np.nan
    mask = np.zeros(cube.shape, dtype=bool)
    mask[:, 2:5, 3:9] = True
    mask[6] = True

    def reference(m):
        valid = ~m & np.isfinite(cube) & np.isfinite(decoded)
        cube_peak = np.abs(cube[valid]).max()
        values = []
        for band in range(cube.shape[0]):
            v = valid[band]
            if v.any():
                mse = np.mean((cube[band][v] - decoded[band][v]) ** 2)
                peak = np.abs(cube[band][v]).max() or cube_peak
                values.append(metrics.PSNR_CAP_DB if mse == 0 else min(metrics.PSNR_CAP_DB, 10 * np.log10(peak**2 / mse)))
        return np.mean(values)

    for m in (np.zeros_like(mask), mask):
        assert metrics.psnr_per_band(cube, decoded, m) == pytest.approx(reference(m), abs=1e-9)
