"""How fast ``pca-jpeg2000`` encodes Indian Pines, and where the time goes.

For each rate: encode seconds (median of ``--repeats`` encodes, each through
the rate promise of ``encode``), per-band PSNR of the decode, and a profile
split of one encode: how many JPEG2000 encodes it ran and their seconds,
the linear algebra (PCA, least squares), and the rest. Prints a table and
writes ``pca_jpeg2000_speed.png`` and ``.csv``.

Run it with an older checkout first on ``PYTHONPATH`` to get a "before":

    git worktree add /tmp/before <commit>
    PYTHONPATH=/tmp/before python examples/pca_jpeg2000_speed.py --out out/speed_before
    python examples/pca_jpeg2000_speed.py --out out/speed_after

Timings need the CPU to itself: run nothing else beside it.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import os
import pstats
import statistics
import sys
import time
import warnings
from pathlib import Path

RATES = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
DATA_ENV = "TORCHGEO_INR_DATA"
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SCENE_FILE = Path("indian_pines") / "Indian_pines_corrected.mat"


def profile_split(encode) -> dict:
    """Seconds of one encode by where they went (from cProfile's per-function totals)."""
    profile = cProfile.Profile()
    profile.enable()
    encode()
    profile.disable()
    stats = pstats.Stats(profile).stats
    total = sum(tt for (_, _, tt, _, _) in stats.values())
    split = {"j2k encodes": 0, "j2k encode s": 0.0, "linear algebra s": 0.0, "j2k decode s": 0.0}
    for (filename, _, function), (_, calls, tt, ct, _) in stats.items():
        if filename.endswith("j2k.py") and function == "encode":
            split["j2k encodes"] += calls
            split["j2k encode s"] += ct
        elif filename.endswith("j2k.py") and function == "decode":
            split["j2k decode s"] += ct
        elif "linalg" in filename:
            split["linear algebra s"] += tt
    split["other s"] = total - split["j2k encode s"] - split["linear algebra s"] - split["j2k decode s"]
    return split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR) / SCENE_FILE)
    parser.add_argument("--out", type=Path, default=Path("out/pca_jpeg2000_speed"))
    parser.add_argument("--repeats", type=int, default=3, help="encodes timed per rate (the median is reported)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import torchgeo_inr as tgi
    from torchgeo_inr.io import read_mat
    from torchgeo_inr.metrics import psnr_per_band

    scene = read_mat(args.data, "indian_pines_corrected")
    print(f"{scene} from {args.data}\ntorchgeo_inr from {Path(tgi.__file__).parent}, {os.cpu_count()} CPU cores\n")
    tgi.decode(tgi.encode(scene, "pca-jpeg2000", bpppb=0.1))  # imports and caches warm
    rows = []
    header = "| bpppb | bpppb got | per-band PSNR (dB) | encode s | j2k encodes | j2k encode s | linear algebra s | other s |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for rate in RATES:
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            data = tgi.encode(scene, "pca-jpeg2000", bpppb=rate)
            seconds.append(time.perf_counter() - start)
        split = profile_split(lambda: tgi.encode(scene, "pca-jpeg2000", bpppb=rate))
        row = {
            "bpppb": rate,
            "bpppb got": 8 * len(data) / scene.data.size,
            "psnr": psnr_per_band(scene.data, tgi.decode(data).data, scene.mask),
            "encode s": statistics.median(seconds),
            **split,
        }
        rows.append(row)
        print(f"| {rate} | {row['bpppb got']:.4f} | {row['psnr']:.3f} | {row['encode s']:.2f} | {split['j2k encodes']} "
              f"| {split['j2k encode s']:.2f} | {split['linear algebra s']:.2f} | {split['other s']:.2f} |", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "pca_jpeg2000_speed.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    rates = [r["bpppb"] for r in rows]
    left.plot(rates, [r["encode s"] for r in rows], "o-", label="encode (median)")
    left.plot(rates, [r["j2k encode s"] for r in rows], "s--", label="of which JPEG2000 encodes")
    left.set(xscale="log", xlabel="bpppb", ylabel="seconds", title="pca-jpeg2000 encode time")
    left.legend()
    right.plot(rates, [r["psnr"] for r in rows], "o-")
    right.set(xscale="log", xlabel="bpppb", ylabel="per-band PSNR (dB)", title="quality")
    fig.tight_layout()
    fig.savefig(args.out / "pca_jpeg2000_speed.png", dpi=120)
    print(f"\nwrote {args.out / 'pca_jpeg2000_speed.csv'}, {args.out / 'pca_jpeg2000_speed.png'}", file=sys.stderr)


if __name__ == "__main__":
    main()
