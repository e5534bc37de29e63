#!/usr/bin/env python3
"""Classification on the real Indian Pines scene, original and compressed 28x, with and without ASW and ISI.

1. Encodes the scene with ``hiner`` (plain HINER: one embedding per band, so
   ISI can shift bands) at 0.57 bpppb, 28x against the 16-bit original, or
   reuses that stream if it is already in ``--out``; prints its real bpppb
   and quality.
2. Runs the five LightningCLI configs of ``examples/classification/``
   (original, compressed, compressed + ASW, compressed + ISI, compressed +
   ASW + ISI), each with several seeds (model initialisation and ISI draws;
   the standard training/test split stays fixed), fitting and then testing
   on the 9554 test pixels.
3. Prints OA, AA and kappa as mean +- std, writes ``results.csv`` and a
   classification map of the test predictions of each configuration's first seed.

    python examples/classification_experiment.py                 # about 1 hour on 2 CPU cores
    python examples/classification_experiment.py --epochs 5 --seeds 0   # a quick look
    python examples/classification_experiment.py --backbone spectralformer --epochs 150 --seeds 0
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rate_distortion import DATA_ENV, default_data, machine

from torchgeo_inr.classification.__main__ import main as cli_main
from torchgeo_inr.classification.maps import plot_classification_maps, prediction_map
from torchgeo_inr.compress import decode, encode
from torchgeo_inr.datasets.wavelengths import indian_pines_wavelengths
from torchgeo_inr.io import read_mat
from torchgeo_inr.metrics import bpppb, compression_ratio, psnr_per_band

CONFIG_DIR = Path(__file__).parent / "classification"
CONFIGS = ["original", "compressed", "compressed_asw", "compressed_isi", "compressed_asw_isi"]
STREAM_NAME = "indian_pines_hiner_0.57.inr"


def make_stream(scene_file: Path, out: Path, rate: float, steps: int | None) -> Path:
    """The HINER stream of the scene (encoded once, then reused)."""
    stream = out / STREAM_NAME
    scene = replace(read_mat(scene_file, "indian_pines_corrected"), wavelengths=indian_pines_wavelengths())
    if not stream.exists():
        start = time.perf_counter()
        options = {} if steps is None else {"steps": steps}
        stream.write_bytes(encode(scene, "hiner", bpppb=rate, **options))
        print(f"encoded in {time.perf_counter() - start:.0f} s")
    data = stream.read_bytes()
    decoded = decode(data)
    print(f"{stream}: {len(data)} bytes, {bpppb(len(data), scene.shape):.4f} bpppb, "
          f"{compression_ratio(len(data), scene.shape, 16):.1f}x against 16 bits, "
          f"per-band PSNR {psnr_per_band(scene.data, decoded.data):.2f} dB\n")  # fmt: skip
    return stream


#: What ``--backbone`` swaps in (the configs use the CNN).
BACKBONE_OPTIONS = {"cnn": "{width: 64}", "spectralformer": "{group: 4, dim: 64, depth: 4, heads: 4}"}


def run(config: str, seed: int, root: Path, stream: Path, epochs: int | None, backbone: str | None = None):
    args = ["fit", "--config", str(CONFIG_DIR / f"{config}.yaml"), f"--seed_everything={seed}",
            f"--data.init_args.root={root}", "--trainer.enable_progress_bar=false"]  # fmt: skip
    if backbone is not None:
        args += [f"--model.init_args.backbone={backbone}", f"--model.init_args.backbone_options={BACKBONE_OPTIONS[backbone]}"]
    text = (CONFIG_DIR / f"{config}.yaml").read_text()
    if "stream:" in text:
        args.append(f"--data.init_args.stream={stream}")
    if "isi_stream:" in text:
        args += [f"--model.init_args.isi_stream={stream}", f"--model.init_args.isi_seed={seed}"]
    if epochs is not None:
        args.append(f"--trainer.max_epochs={epochs}")
    start = time.perf_counter()
    cli = cli_main(args)
    seconds = time.perf_counter() - start
    metrics = {k: float(cli.trainer.callback_metrics[f"test_{k}"]) for k in ("OA", "AA", "kappa")}
    return metrics, seconds, cli


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data(),
                        help=f"Indian_pines_corrected.mat, beside Indian_pines_gt.mat (default: ${DATA_ENV} or ../shared/data)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("out/classification"))
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated config names")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, help="override the configs' max_epochs")
    parser.add_argument("--backbone", choices=sorted(BACKBONE_OPTIONS), help="override the configs' backbone (cnn)")
    parser.add_argument("--bpppb", type=float, default=0.57)
    parser.add_argument("--hiner-steps", type=int, help="HINER training steps (default: the codec's)")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{machine()}\n")
    stream = make_stream(args.data, args.out, args.bpppb, args.hiner_steps)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, maps, first = [], {}, None
    for config in args.configs.split(","):
        for seed in seeds:
            metrics, seconds, cli = run(config, seed, args.data.parent, stream, args.epochs, args.backbone)
            rows.append({"config": config, "seed": seed, **metrics, "seconds": round(seconds, 1)})
            print(f"{config} seed {seed}: OA {100 * metrics['OA']:.2f} AA {100 * metrics['AA']:.2f} "
                  f"kappa {metrics['kappa']:.4f} ({seconds:.0f} s)", flush=True)  # fmt: skip
            if seed == seeds[0]:
                predictions = cli.trainer.predict(cli.model, datamodule=cli.datamodule)
                maps[config] = prediction_map(predictions, tuple(cli.datamodule.mask.shape))
                first = cli.datamodule

    tag = f"_{args.backbone}" if args.backbone else ""
    with open(args.out / f"results{tag}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print("\n| config | OA (%) | AA (%) | kappa | seconds per run |\n| --- | --- | --- | --- | --- |")
    for config in args.configs.split(","):
        mine = [r for r in rows if r["config"] == config]
        cells = []
        for key, scale, digits in (("OA", 100, 2), ("AA", 100, 2), ("kappa", 1, 4)):
            values = scale * np.array([r[key] for r in mine])
            spread = values.std(ddof=1) if len(values) > 1 else 0.0
            cells.append(f"{values.mean():.{digits}f} +- {spread:.{digits}f}")
        print(f"| {config} | {' | '.join(cells)} | {np.mean([r['seconds'] for r in mine]):.0f} |")
    test_truth = np.where(maps[next(iter(maps))] > 0, first.mask.numpy(), 0)
    fig = plot_classification_maps(test_truth, maps, first.classes,
                                   title=f"Indian Pines test pixels, seed {seeds[0]}")  # fmt: skip
    fig.savefig(args.out / f"classification_maps{tag}.png", dpi=150)
    print(f"\nwrote {args.out / f'results{tag}.csv'} and {args.out / f'classification_maps{tag}.png'}")


if __name__ == "__main__":
    main()
