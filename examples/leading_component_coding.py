"""How well the latent-grid coder spends bytes on a smooth image, against JPEG2000: the low-rate gap's diagnosis.

At 0.05 bpppb most of a ``latent-grid`` stream is its leading full-resolution
latent channels, the scene's first principal-component images rounded on a
uniform grid. This codes those images alone, three ways, and prints bytes
and MSE (in the component's own units):

- ``lattice``: rounded with a step of 1/4, 1/8 and 1/16 of the image's
  spread, coded as one latent channel is coded (lattice passes, neighbour
  prediction, context weights fitted to the symbols);
- ``pyramid``: a closed-loop two-level pyramid of the same step (the half-
  resolution level carries the image, bilinearly upsampled as the model
  upsamples; the full-resolution level its residual);
- ``wavelet``: the CDF 9/7 wavelet (JPEG2000's irreversible one, four
  levels, open loop), every subband rounded with the same step and coded
  as one latent channel is: this codec's entropy coder on a transform,
  what stream version 8 holds the leading channels in;
- ``jpeg2000``: OpenJPEG's 9/7 wavelet at the largest stream that is no
  larger than the lattice's (the knob stepped over 60 compression ratios).

Writes ``leading_component_coding.png`` (bytes against MSE) next to ``--out``.

    python examples/leading_component_coding.py --components 2
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import imagecodecs
import numpy as np
import torch
import torch.nn.functional as F

from torchgeo_inr.io import read_mat
from torchgeo_inr.codecs.latent_grid_stream import encode_latents
from torchgeo_inr.latent_grid import wavelet
from torchgeo_inr.latent_grid.scale_index import FEATURES


def principal_images(cube: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` principal-component images (count, H, W) of the bands standardised."""
    bands, height, width = cube.shape
    x = cube.reshape(bands, -1).astype(np.float64)
    x = (x - x.mean(1, keepdims=True)) / np.maximum(x.std(1, keepdims=True), 1e-12)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    return (s[:count, None] * vt[:count]).reshape(count, height, width)


def latent_bytes(symbols: np.ndarray) -> int:
    """Bytes of one integer plane (h, w) coded as a latent channel (its ``lctx`` row included, as the int16 that
    version 7 stored; version 8 codes the table in about half), its context weights fitted from zero."""
    blob, _, table, _ = encode_latents([np.asarray(symbols, np.int64)[None]],
                                       [torch.zeros(1, 1 + FEATURES, dtype=torch.float64)])
    return len(blob) + 2 * table.size


def upsampled(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """A half-resolution grid to (height, width) as the latent-grid model upsamples (bilinear, corners not
    aligned)."""
    t = torch.from_numpy(grid)[None, None]
    up = F.interpolate(t, size=(2 * grid.shape[0], 2 * grid.shape[1]), mode="bilinear", align_corners=False)
    return up[0, 0, :height, :width].numpy()


def pyramid(image: np.ndarray, step: float) -> tuple[int, float]:
    """(bytes, MSE) of a closed-loop two-level pyramid with ``step`` on both levels."""
    height, width = image.shape
    padded = np.pad(image, ((0, height % 2), (0, width % 2)), mode="edge")
    coarse = np.round(padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).mean((1, 3)) / step)
    base = upsampled(coarse * step, height, width)
    fine = np.round((image - base) / step)
    recon = base + fine * step
    return latent_bytes(coarse) + latent_bytes(fine), float(np.mean((recon - image) ** 2))


def wavelet_coding(image: np.ndarray, step: float, levels: int = 4) -> tuple[int, float]:
    """(bytes, MSE) of ``image`` through ``levels`` of the 2-d 9/7 wavelet (:mod:`torchgeo_inr.latent_grid.wavelet`,
    what stream version 8 holds the leading channels in), every subband rounded with ``step`` and coded as a latent
    channel on its own (open loop: no parent contexts)."""
    symbols = np.round(wavelet.forward(image, levels) / step)
    size = sum(latent_bytes(symbols[rows, cols]) for rows, cols, _ in wavelet.subbands(*image.shape, levels))
    return size, float(np.mean((wavelet.inverse(symbols * step, levels) - image) ** 2))


def jpeg2000(image: np.ndarray, max_bytes: int) -> tuple[int, float]:
    """(bytes, MSE) of the largest OpenJPEG stream of ``image`` (scaled to uint16) within ``max_bytes``."""
    low, high = float(image.min()), float(image.max())
    plane = np.round((image - low) / (high - low) * 65535).astype(np.uint16)
    best = (0, float("nan"))
    for ratio in np.geomspace(5, 400, 60):
        stream = imagecodecs.jpeg2k_encode(plane, level=float(ratio), codecformat="j2k", reversible=False)
        if best[0] < len(stream) <= max_bytes:
            decoded = imagecodecs.jpeg2k_decode(stream).astype(np.float64) / 65535 * (high - low) + low
            best = (len(stream), float(np.mean((decoded - image) ** 2)))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = Path(os.environ.get("TORCHGEO_INR_DATA", "../shared/data")) / "indian_pines/Indian_pines_corrected.mat"
    p.add_argument("--data", default=str(default), help="Indian_pines_corrected.mat")
    p.add_argument("--components", type=int, default=2, help="leading components to code (default 2)")
    p.add_argument("--out", default="out/leading_component_coding", help="output folder")
    args = p.parse_args()
    torch.set_num_threads(1)
    cube = read_mat(args.data, "indian_pines_corrected").data
    rows = []
    print("| component | step | lattice B (MSE) | pyramid B (MSE) | wavelet B (MSE) | jpeg2000 B (MSE) |")
    print("|---|---|---|---|---|---|")
    for k, image in enumerate(principal_images(cube, args.components)):
        for fraction in (4, 8, 16):
            step = float(image.std()) / fraction
            symbols = np.round(image / step)
            ours = latent_bytes(symbols), float(np.mean((symbols * step - image) ** 2))
            pyr = pyramid(image, step)
            wav = wavelet_coding(image, step)
            j2k = jpeg2000(image, ours[0])
            rows.append((k, ours, pyr, wav, j2k))
            print(f"| PC{k + 1} | spread/{fraction} | {ours[0]} ({ours[1]:.3f}) | {pyr[0]} ({pyr[1]:.3f}) "
                  f"| {wav[0]} ({wav[1]:.3f}) | {j2k[0]} ({j2k[1]:.3f}) |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, args.components, figsize=(5 * args.components, 4), squeeze=False)
    for k, ax in enumerate(axes[0]):
        for i, (label, marker) in enumerate((("lattice", "o-"), ("pyramid", "s-"), ("wavelet", "d-"),
                                             ("jpeg2000", "^-"))):
            points = [r[1 + i] for r in rows if r[0] == k]
            ax.plot([b for b, _ in points], [m for _, m in points], marker, label=label)
        ax.set(xlabel="bytes", ylabel="MSE", yscale="log", title=f"PC{k + 1} of Indian Pines")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "leading_component_coding.png", dpi=120)
    print(f"\nwrote {out / 'leading_component_coding.png'}")


if __name__ == "__main__":
    main()
