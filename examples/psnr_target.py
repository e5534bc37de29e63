"""Encode the built-in sample at a per-band PSNR target with every codec: the quality promise, codec by codec.

Each codec is asked for ``--psnr`` dB; the stream's real decode must land in
[t, t + 1] dB, or the codec says why it cannot (``RateError``: what each
encode gave). Neural codecs get ``--steps`` training steps per encode (the
psnr search may encode several times). Prints a table:

    python examples/psnr_target.py --psnr 40
"""

from __future__ import annotations

import argparse
import time
import warnings

import torchgeo_inr as tgi
from torchgeo_inr.cli import parse_codecs
from torchgeo_inr.metrics import psnr_per_band
from torchgeo_inr.registry import available_codecs, codec_class
from torchgeo_inr.sample import load_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--psnr", type=float, default=40.0, help="per-band PSNR target in dB (default 40)")
    parser.add_argument("--codecs", type=parse_codecs, help="comma-separated codec names (default: all but error-bound)")
    parser.add_argument("--steps", type=int, default=1000, help="training steps per neural encode (default 1000)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    scene = load_sample()
    names = args.codecs or [n for n in available_codecs() if n != "error-bound"]
    print(f"{scene}, psnr target {args.psnr:g} dB\n")
    print("| codec | bpppb | per-band PSNR (dB) | encodes | seconds |\n|---|---|---|---|---|")
    for name in names:
        options = {"steps": args.steps} if codec_class(name).trains else {}
        start = time.perf_counter()
        try:
            encoded = tgi.encode_with_report(scene, name, psnr=args.psnr, progress=False, **options)
        except tgi.RateError as err:
            print(f"| {name} | RateError: {err} | | | {time.perf_counter() - start:.0f} |", flush=True)
            continue
        psnr = psnr_per_band(scene.data, tgi.decode(encoded.data).data, scene.mask)
        print(f"| {name} | {encoded.report.bpppb:.4f} | {psnr:.2f} | {len(encoded.report.attempts)} "
              f"| {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
