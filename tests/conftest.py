"""Shared fixtures: tiny synthetic scenes and the real data folder.

Real-data tests read the folder named by ``TORCHGEO_INR_DATA`` (CI points it
at ../shared/data). When the variable is set and a file is missing, those
tests fail; when it is not set, they are skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REAL_DATA_ENV = "TORCHGEO_INR_DATA"


def synthetic_cube(bands: int = 12, height: int = 24, width: int = 20, seed: int = 0) -> np.ndarray:
    """A smooth, spectrally correlated uint16 cube (B, H, W), like a small reflectance scene."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    endmembers = rng.uniform(0.2, 1.0, size=(3, bands)) * np.linspace(0.6, 1.2, bands)
    abundance = np.stack(
        [np.sin(3 * xx + 1) ** 2, np.cos(2 * yy) ** 2, 0.5 + 0.5 * np.sin(4 * xx * yy)], axis=0
    )
    abundance /= abundance.sum(0, keepdims=True)
    cube = np.einsum("kb,khw->bhw", endmembers, abundance)
    cube += 0.01 * rng.standard_normal(cube.shape)
    return np.clip(1000 + 6000 * cube, 0, 65535).astype(np.uint16)


def mean_baseline(cube: np.ndarray) -> float:
    """Per-band PSNR of the trivial decoder that gives each band its mean: what any codec must beat."""
    from torchgeo_inr import metrics

    return metrics.psnr_per_band(cube, np.broadcast_to(cube.mean(axis=(1, 2), keepdims=True), cube.shape))


@pytest.fixture
def cube() -> np.ndarray:
    return synthetic_cube()


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder with the real scenes; fails if CI named it and it is absent, skips otherwise."""
    value = os.environ.get(REAL_DATA_ENV)
    if not value:
        pytest.skip(f"{REAL_DATA_ENV} is not set: real-data tests skipped")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"{REAL_DATA_ENV}={value} does not exist")
    return path


def require(path: Path) -> Path:
    """Fail (not skip) when a real data file named by the environment is missing."""
    if not path.exists():
        pytest.fail(f"real data file missing: {path} (set by {REAL_DATA_ENV})")
    return path


#: Options that make each registered codec fit in seconds on the tiny test scenes (few steps, one thread).
TINY_OPTIONS = {
    "hiner": dict(steps=40, lower_width=6, seed=1, threads=1),
    "latent-grid": dict(steps=200, seed=1, threads=1),
    "siren": dict(steps=100, seed=1),
}


def every_codec() -> list[str]:
    """Every registered codec the shared tests run (all of them but wrappers that need another codec's name)."""
    from torchgeo_inr.registry import available_codecs

    return [name for name in available_codecs() if name != "error-bound"]


def tiny(codec: str) -> dict:
    return dict(TINY_OPTIONS.get(codec, {}))
