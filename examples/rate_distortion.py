#!/usr/bin/env python3
"""Rate-distortion benchmark on the real Indian Pines scene (145 x 145 pixels, 200 bands, uint16).

For each codec and rate: encode (timed), write the stream, decode it in a
fresh process from the file (timed), and measure per-band and global PSNR and
SAM against the original cube; the rate is the real file size. Prints a
markdown table and writes ``results.csv``, ``rate_distortion.png`` and
``preview.png`` next to the streams. The same machinery runs ``torchgeo-inr demo``.

    python examples/rate_distortion.py --codecs jpeg2000,pca-jpeg2000 --out out/rate_distortion
"""

from __future__ import annotations

import argparse
import os
import platform
from dataclasses import replace
from pathlib import Path

from torchgeo_inr.benchmark import format_table, run_table, save_results
from torchgeo_inr.cli import parse_codecs, parse_rates
from torchgeo_inr.datasets.wavelengths import indian_pines_wavelengths
from torchgeo_inr.io import read_mat

DATA_ENV = "TORCHGEO_INR_DATA"
#: ``../shared/data`` beside the repository, where CI keeps the real scenes.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SCENE_FILE = Path("indian_pines") / "Indian_pines_corrected.mat"
VARIABLE = "indian_pines_corrected"
RATES = "0.05,0.1,0.2,0.5,1.0"


def default_data() -> Path:
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR) / SCENE_FILE


def machine() -> str:
    """One line on the hardware, so timings can be compared."""
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, {gpu}, torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data(),
                        help=f"Indian_pines_corrected.mat (default: ${DATA_ENV} or ../shared/data, + {SCENE_FILE})")  # fmt: skip
    parser.add_argument("--codecs", type=parse_codecs, help="comma-separated codec names (default: all installed)")
    parser.add_argument("--rates", type=parse_rates, default=parse_rates(RATES), help=f"bpppb list (default {RATES})")
    parser.add_argument("--out", type=Path, default=Path("out/rate_distortion"), help="output folder (default ./out/rate_distortion)")
    parser.add_argument("--device", help="torch device for neural codecs (default: the codec's choice)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    # The .mat file carries no wavelengths; the preview needs them to pick its RGB bands.
    scene = replace(read_mat(args.data, VARIABLE), wavelengths=indian_pines_wavelengths())
    print(f"{args.data.name}: {scene}\n{machine()}\n")
    results = run_table(scene, args.codecs, args.rates, args.out, device=args.device, progress=not args.no_progress)
    print(format_table(results))
    paths = save_results(scene, results, args.out, title="Indian Pines")
    print(f"\nwrote {', '.join(str(p) for p in paths)}")


if __name__ == "__main__":
    main()
