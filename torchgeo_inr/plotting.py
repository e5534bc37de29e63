"""Pictures of results: false-colour previews and rate-distortion curves.

Figures are built with matplotlib's object API (no pyplot), so they are
written to files on machines without a display (CI, servers), nothing opens a
window, and a user's own backend (Jupyter, Qt) is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

#: Red, green and blue of a natural-colour picture, in nm.
RGB_NM = (640.0, 550.0, 460.0)
#: Each channel is stretched between these percentiles, so a few bright pixels do not wash it out.
STRETCH_PERCENTILES = (2.0, 98.0)


def rgb_bands(wavelengths, bands: int) -> list[int]:
    """Indices of the bands nearest 640/550/460 nm; without wavelengths, three bands spread over the cube."""
    if wavelengths is None:
        return [int(bands * f) for f in (0.75, 0.5, 0.25)]
    wavelengths = np.asarray(wavelengths, dtype=np.float64)
    return [int(np.argmin(np.abs(wavelengths - nm))) for nm in RGB_NM]


def false_colour(data, wavelengths, *, reference=None) -> np.ndarray:
    """(H, W, 3) float RGB in [0, 1] of a (B, H, W) cube.

    The stretch comes from ``reference`` (default: ``data`` itself): give the
    original scene there so that decoded scenes are drawn on the same scale
    and their colour errors stay visible.
    """
    data = np.asarray(data)
    bands = rgb_bands(wavelengths, data.shape[0])
    rgb = data[bands].astype(np.float64)
    ref = rgb if reference is None else np.asarray(reference)[bands].astype(np.float64)
    low, high = np.percentile(ref, STRETCH_PERCENTILES, axis=(1, 2), keepdims=True)
    rgb = np.clip((rgb - low) / np.maximum(high - low, 1e-12), 0.0, 1.0)
    return np.moveaxis(rgb, 0, -1)


def plot_rate_distortion(rows: Iterable[Mapping], path, *, title: str | None = None) -> Path:
    """Per-band PSNR against the real bpppb, one line per codec; rows without a PSNR are skipped.

    Each row needs ``codec``, ``bpppb`` and ``psnr_band`` (a dict or a dataclass turned into one).
    """
    curves: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        if row.get("psnr_band") is not None:
            curves.setdefault(row["codec"], []).append((row["bpppb"], row["psnr_band"]))
    fig = Figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.subplots()
    for codec, points in sorted(curves.items()):
        x, y = zip(*sorted(points))
        ax.plot(x, y, marker="o", label=codec)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 0.1, 0.2, 0.5, 1 ...
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("bits per pixel per band (bpppb)")
    ax.set_ylabel("per-band PSNR (dB)")
    ax.grid(True, which="both", alpha=0.3)
    if curves:
        ax.legend()
    if title:
        ax.set_title(title)
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path


def plot_preview(original, decoded_by_name: Mapping[str, np.ndarray], wavelengths, path, *, title=None) -> Path:
    """The original and each decoded (B, H, W) cube side by side in false colour, on the original's stretch."""
    panels = {"original": original, **decoded_by_name}
    fig = Figure(figsize=(3.2 * len(panels), 3.8), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (name, cube) in zip(axes[0], panels.items()):
        ax.imshow(false_colour(cube, wavelengths, reference=original), interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path
