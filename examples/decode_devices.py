#!/usr/bin/env python3
"""Encode on one device, decode the file on the CPU and on CUDA in fresh processes, and compare.

The neural codecs promise that a stream decodes to the same scene wherever
it is read (within 0.05 dB PSNR between CPU and GPU). This prints, per codec
and rate: encode seconds on ``--device``, the real bpppb, per-band PSNR and
decode seconds of the CPU decode and of the CUDA decode, and the PSNR
difference between the two decodes. Without a GPU it encodes and decodes on
the CPU only (the CUDA columns say "-"), which still checks the script.

    python examples/decode_devices.py --codecs hiner,siren,meta-siren --rates 0.2 --device cuda
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rate_distortion import default_data, machine

from torchgeo_inr.benchmark import decode_in_fresh_process
from torchgeo_inr.cli import parse_codecs, parse_rates
from torchgeo_inr.compress import encode
from torchgeo_inr.datasets.wavelengths import indian_pines_wavelengths
from torchgeo_inr.io import read_mat
from torchgeo_inr.metrics import bpppb, psnr_per_band


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--codecs", type=parse_codecs, default=["hiner", "latent-grid", "siren", "meta-siren"])
    parser.add_argument("--rates", type=parse_rates, default=[0.2])
    parser.add_argument("--device", default=None, help="where to encode (default: cuda if there is a GPU)")
    parser.add_argument("--out", type=Path, default=Path("out/decode_devices"))
    args = parser.parse_args()

    import torch

    decoders = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    device = args.device or decoders[-1]
    scene = replace(read_mat(args.data, "indian_pines_corrected"), wavelengths=indian_pines_wavelengths())
    print(f"{args.data.name}: {scene}\n{machine()}\n")
    args.out.mkdir(parents=True, exist_ok=True)
    print("| codec | target | bpppb | encode s | PSNR cpu | PSNR cuda | diff dB | decode s cpu | decode s cuda |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    original = scene.to_numpy()
    for codec in args.codecs:
        for rate in args.rates:
            start = time.perf_counter()
            data = encode(scene, codec, bpppb=rate, device=device, progress=False)
            encode_s = time.perf_counter() - start
            stream = args.out / f"{codec}_{rate:g}.inr"
            stream.write_bytes(data)
            row = {"cuda": (float("nan"), float("nan"))}
            for where in decoders:
                decoded = stream.with_suffix(f".{where}.npy")
                seconds, _ = decode_in_fresh_process(stream, decoded, where)
                row[where] = (psnr_per_band(original, np.load(decoded, allow_pickle=False), scene.mask), seconds)
                decoded.unlink()
            diff = abs(row["cpu"][0] - row["cuda"][0])
            cells = [f"{v:.2f}" if v == v else "-" for v in (row["cpu"][0], row["cuda"][0])]
            times = [f"{v:.2f}" if v == v else "-" for v in (row["cpu"][1], row["cuda"][1])]
            print(f"| {codec} | {rate:g} | {bpppb(len(data), scene.shape):.4f} | {encode_s:.1f} ({device}) | "
                  f"{cells[0]} | {cells[1]} | {diff:.4f} | {times[0]} | {times[1]} |".replace("nan", "-"), flush=True)


if __name__ == "__main__":
    main()
