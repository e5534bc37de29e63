#!/usr/bin/env python3
"""Rate-distortion benchmark on the real Indian Pines scene (145 x 145 pixels, 200 bands, uint16).

For each codec and rate: encode (timed), write the stream, decode it in a
fresh process from the file (timed), and measure per-band and global PSNR and
SAM against the original cube; the rate is the real file size. Prints a
markdown table and writes ``results.csv``, ``rate_distortion.png`` and
``preview.png`` next to the streams. The same machinery runs ``torchgeo-inr demo``.

    python examples/rate_distortion.py --codecs jpeg2000,pca-jpeg2000 --out out/rate_distortion
    python examples/rate_distortion.py --codecs latent-grid,pca-jpeg2000 --views q0,q1,q2,q3 --rates 0.05,0.1,0.2,0.5,1.0,2.0

``--views``: the whole scene (``whole``), its four quadrants as separate
scenes (``q0`` top left, ``q1`` top right, ``q2`` bottom left, ``q3`` bottom
right; 73 x 73, overlapping by one row and column) and the built-in 56 x 56
sample (``sample``): a choice that helps one view and hurts the others is not
a gain. Each view gets its own table and files in ``OUT/VIEW``. ``--steps``
sets every neural codec's step budget (default: each codec's own).
``--view-codecs VIEWS=CODECS`` (repeatable) gives views codecs of their own,
so one run holds a whole comparison, e.g. issue 15's (hours on two cores)::

    python examples/rate_distortion.py --views whole,q0,q1,q2,q3 --rates 0.05,0.1,0.2,0.5,1.0,2.0 \
        --codecs latent-grid,pca-jpeg2000,hiner,jpeg2000 --view-codecs q0,q1,q2,q3=latent-grid,pca-jpeg2000

``--codec-rates CODECS=RATES`` (repeatable) runs codecs at rates of their own
instead of ``--rates``: for a codec whose encode at some rates outlasts the
time you have (``hiner`` as published, 6,000 steps, takes 76 minutes on two
cores at 1.0 bpppb on the whole scene, and its network grows with the rate).

A full table takes hours on a CPU at the codecs' own budgets. Stopped (Ctrl-C)
and run again with ``--resume``, it reuses every encode that finished, as long
as the package's code, the options, the device and the scene are the same
(a record beside each stream says so); each stream is decoded in a fresh
process and measured again, and its encode seconds are the first run's.
"""

from __future__ import annotations

import argparse
import os
import platform
from dataclasses import replace
from pathlib import Path

from torchgeo_inr.benchmark import fit_budgets, format_table, run_table, save_results
from torchgeo_inr.cli import parse_codecs, parse_rates
from torchgeo_inr.datasets.wavelengths import indian_pines_wavelengths
from torchgeo_inr.io import read_mat

DATA_ENV = "TORCHGEO_INR_DATA"
#: ``../shared/data`` beside the repository, where CI keeps the real scenes.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SCENE_FILE = Path("indian_pines") / "Indian_pines_corrected.mat"
VARIABLE = "indian_pines_corrected"
RATES = "0.05,0.1,0.2,0.5,1.0"
VIEWS = ("whole", "q0", "q1", "q2", "q3", "sample")


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
    parser.add_argument("--views", default="whole", help=f"comma-separated views of the scene: {', '.join(VIEWS)} (default whole)")
    parser.add_argument("--view-codecs", type=parse_view_codecs, action="append", default=[],
                        metavar="VIEWS=CODECS", help="these views run these codecs instead of --codecs (repeatable)")
    parser.add_argument("--codec-rates", type=parse_codec_rates, action="append", default=[],
                        metavar="CODECS=RATES", help="these codecs run at these rates instead of --rates (repeatable)")
    parser.add_argument("--steps", type=int, help="step budget of every neural codec (default: each codec's own)")
    parser.add_argument("--resume", action="store_true",
                        help="reuse the encodes a stopped run left in --out (same code, options, device, scene)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    views = args.views.split(",")
    per_view = {name: codecs for names, codecs in args.view_codecs for name in names}
    if unknown := (set(views) | set(per_view)) - set(VIEWS):
        parser.error(f"unknown views {sorted(unknown)}; choose from {', '.join(VIEWS)}")
    if idle := set(per_view) - set(views):
        parser.error(f"--view-codecs names views not in --views: {sorted(idle)}")
    per_codec = {name: rates for names, rates in args.codec_rates for name in names}
    listed = [per_view.get(name, args.codecs) for name in views]  # None: every installed codec
    if None not in listed and (idle := set(per_codec) - {c for codecs in listed for c in codecs}):
        parser.error(f"--codec-rates names codecs that no view runs: {sorted(idle)}")

    # The .mat file carries no wavelengths; the preview needs them to pick its RGB bands.
    scene = replace(read_mat(args.data, VARIABLE), wavelengths=indian_pines_wavelengths())
    print(f"{args.data.name}: {scene}\n{machine()}\n")
    for name in views:
        part = view(scene, name)
        out = args.out if views == ["whole"] else args.out / name
        codecs = per_view.get(name, args.codecs)
        results = []
        for group, rates in rate_groups(codecs, args.rates, per_codec):
            results += run_table(part, group, rates, out, device=args.device, progress=not args.no_progress,
                                 options=fit_budgets(group, args.steps), resume=args.resume)
        print(f"## {name}: {part.shape[1]} x {part.shape[2]}\n\n{format_table(results)}\n")
        paths = save_results(part, results, out, title=f"Indian Pines ({name})")
        print(f"wrote {', '.join(str(p) for p in paths)}\n")


def parse_view_codecs(text: str) -> tuple[list[str], list[str]]:
    """``"q0,q1=latent-grid,pca-jpeg2000"`` -> (views, codecs); an argparse ``type=``."""
    views, sep, codecs = text.partition("=")
    if not sep or not views.strip() or not parse_codecs(codecs):
        raise argparse.ArgumentTypeError(f"expected VIEWS=CODECS (e.g. q0,q1=latent-grid,pca-jpeg2000), got {text!r}")
    return [v.strip() for v in views.split(",") if v.strip()], parse_codecs(codecs)


def parse_codec_rates(text: str) -> tuple[list[str], list[float]]:
    """``"hiner=0.05,0.1"`` -> (["hiner"], [0.05, 0.1]); ``"a,b=0.1"`` gives codecs a and b the rate 0.1."""
    codecs, sep, rates = text.partition("=")
    names = parse_codecs(codecs)
    if not sep or not names:
        raise argparse.ArgumentTypeError(f"expected CODECS=RATES (e.g. hiner=0.05,0.1,0.2), got {text!r}")
    return names, parse_rates(rates)


def rate_groups(codecs: list[str] | None, rates: list[float], per_codec: dict[str, list[float]]):
    """(codecs, rates) runs, in the codecs' order: each codec at its own rates where ``per_codec`` names it, else at
    ``rates``; consecutive codecs at the same rates share a run. ``codecs`` None: every installed codec."""
    if codecs is None:
        from torchgeo_inr.registry import available_codecs

        codecs = list(available_codecs())
    groups: list[tuple[list[str], list[float]]] = []
    for codec in codecs:
        own = per_codec.get(codec, rates)
        if groups and groups[-1][1] == own:
            groups[-1][0].append(codec)
        else:
            groups.append(([codec], own))
    return groups


def view(scene, name: str):
    """The whole scene, one of its quadrants (as its own scene) or the built-in sample."""
    if name == "whole":
        return scene
    if name == "sample":
        from torchgeo_inr.sample import load_sample

        return load_sample()
    _, height, width = scene.shape
    size_y, size_x = (height + 1) // 2, (width + 1) // 2
    row, col = divmod(int(name[1]), 2)
    top, left = row * (height - size_y), col * (width - size_x)
    return replace(scene, data=scene.data[:, top:top + size_y, left:left + size_x].copy(),
                   mask=None if scene.mask is None else scene.mask[:, top:top + size_y, left:left + size_x].copy())


if __name__ == "__main__":
    main()
