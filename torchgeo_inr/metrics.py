"""Quality and rate measures, always on the original grid and value scale.

PSNR comes two ways: per band (mean over bands of 10 log10(max_b^2 / MSE_b),
as HINER reports it) and global (peak = data range of the whole cube). SAM is
the mean spectral angle in degrees. Classification uses OA, AA and kappa from
torchmetrics.
"""

from __future__ import annotations

import numpy as np

#: Cap for a band reproduced exactly (MSE = 0), so means stay finite.
PSNR_CAP_DB = 150.0


def _pair(original, decoded, mask=None):
    a = np.asarray(original, dtype=np.float64)
    b = np.asarray(decoded, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: original {a.shape}, decoded {b.shape}")
    if a.ndim == 2:
        a, b = a[None], b[None]
    valid = np.ones(a.shape, dtype=bool) if mask is None else ~np.asarray(mask, dtype=bool)
    valid &= np.isfinite(a) & np.isfinite(b)
    return a, b, valid


def _psnr(peak: float, mse: float) -> float:
    if mse <= 0:
        return PSNR_CAP_DB
    if peak <= 0:
        return float("-inf")
    return float(min(PSNR_CAP_DB, 10.0 * np.log10(peak**2 / mse)))


def psnr_per_band(original, decoded, mask=None) -> float:
    """Mean over bands of 10 log10(max_b^2 / MSE_b); peak = the band's maximum (HINER's definition).

    A band that is zero everywhere has no peak of its own; it is measured
    against the cube's peak so that one dead band cannot make the mean -inf.
    """
    a, b, valid = _pair(original, decoded, mask)
    bands = a.shape[0]
    a, b, valid = a.reshape(bands, -1), b.reshape(bands, -1), valid.reshape(bands, -1)
    squared, peaks = np.zeros(bands), np.zeros(bands)
    block = max(1, 2**22 // max(1, a.shape[1]))  # bands at a time: temporaries of a few million values at most
    with np.errstate(invalid="ignore"):  # gaps (NaN, inf) are left out by ``valid``, not computed with
        for start in range(0, bands, block):
            rows = slice(start, start + block)
            squared[rows] = np.where(valid[rows], (a[rows] - b[rows]) ** 2, 0.0).sum(1)
            peaks[rows] = np.where(valid[rows], np.abs(a[rows]), 0.0).max(1, initial=0.0)
    counts = valid.sum(1)
    cube_peak = float(peaks.max(initial=0.0))
    # one pass over the cube, not a loop of boolean indexing per band (a tenth of a pca-jpeg2000 probe's time)
    return float(np.mean([_psnr(float(peak) or cube_peak, float(total / count))
                          for peak, total, count in zip(peaks, squared, counts) if count]))


def psnr_global(original, decoded, mask=None) -> float:
    """PSNR with peak = data range (max - min) of the whole cube and MSE over every element."""
    a, b, valid = _pair(original, decoded, mask)
    err = a[valid] - b[valid]
    peak = float(a[valid].max() - a[valid].min())
    return _psnr(peak, float(np.mean(err**2)))


def sam_degrees(original, decoded, mask=None) -> float:
    """Mean spectral angle (degrees) between original and decoded pixel spectra."""
    a, b, valid = _pair(original, decoded, mask)
    pixel_valid = valid.all(axis=0)
    x = a.reshape(a.shape[0], -1)[:, pixel_valid.reshape(-1)]
    y = b.reshape(b.shape[0], -1)[:, pixel_valid.reshape(-1)]
    dot = (x * y).sum(0)
    norms = np.linalg.norm(x, axis=0) * np.linalg.norm(y, axis=0)
    ok = norms > 0
    cos = np.clip(dot[ok] / norms[ok], -1.0, 1.0)
    return float(np.degrees(np.arccos(cos)).mean()) if cos.size else 0.0


def ssim(original, decoded, mask=None) -> float:
    """Mean SSIM over bands (Gaussian window, torchmetrics), each band on the cube's data range."""
    import torch
    from torchmetrics.functional.image import structural_similarity_index_measure

    a, b, valid = _pair(original, decoded, mask)
    a = np.where(valid, a, 0.0)
    b = np.where(valid, b, 0.0)
    lo, hi = float(a.min()), float(a.max())
    data_range = hi - lo if hi > lo else 1.0
    ta = torch.from_numpy(a - lo).float()[:, None]
    tb = torch.from_numpy(b - lo).float()[:, None]
    kernel = max(3, min(11, (min(a.shape[1:]) // 2) * 2 - 1))
    return float(
        structural_similarity_index_measure(tb, ta, data_range=data_range, kernel_size=kernel)
    )


def bpppb(n_bytes: int, shape) -> float:
    """Bits per pixel per band: 8 * bytes / (B * H * W) of the original scene."""
    return 8.0 * n_bytes / float(np.prod(shape))


def compression_ratio(n_bytes: int, shape, bits_per_sample: int = 16) -> float:
    """Original size at ``bits_per_sample`` over the stream's size (16-bit data: 16 / bpppb)."""
    return float(np.prod(shape)) * bits_per_sample / 8.0 / n_bytes


def quality_report(original, decoded, mask=None, *, with_ssim: bool = False) -> dict[str, float]:
    """PSNR both ways and SAM (and SSIM on request) in one dict."""
    report = {
        "psnr_band": psnr_per_band(original, decoded, mask),
        "psnr_global": psnr_global(original, decoded, mask),
        "sam": sam_degrees(original, decoded, mask),
    }
    if with_ssim:
        report["ssim"] = ssim(original, decoded, mask)
    return report


def classification_scores(preds, target, num_classes: int) -> dict[str, float]:
    """OA (micro accuracy), AA (mean per-class recall) and Cohen's kappa, via torchmetrics."""
    import torch
    from torchmetrics.functional.classification import (
        multiclass_accuracy,
        multiclass_cohen_kappa,
    )

    preds = torch.as_tensor(preds)
    target = torch.as_tensor(target)
    return {
        "oa": float(multiclass_accuracy(preds, target, num_classes, average="micro")),
        "aa": float(multiclass_accuracy(preds, target, num_classes, average="macro")),
        "kappa": float(multiclass_cohen_kappa(preds, target, num_classes)),
    }
