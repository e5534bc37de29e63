#!/usr/bin/env python3
"""Indian Pines in Zarr: the torchgeo-inr chunk codec against zfp, JPEG2000 and Blosc-Zstd.

Writes the real Indian Pines cube (200 bands x 145 x 145, uint16) to one Zarr
store per codec, in the same run:

- ``torchgeo_inr.inr`` with ``--codec`` (default ``pca-jpeg2000``) at
  ``--bpppb`` (default 0.1), through ``ds.inr.to_zarr`` (Zarr v3, the codec
  as serializer, chunks picked by the helper, written through Dask);
- zfp (``numcodecs.ZFPY``, float32): fixed-accuracy with the tolerance that
  lands closest under the rate, and fixed-rate 0.25 bits/value, the lowest
  fixed rate that zfpy 1.0.1 runs on this cube (lower ones crash it);
- JPEG2000 (``imagecodecs.numcodecs.Jpeg2k``): all bands as components of
  one codestream per chunk (``planar=True``); ``level`` is OpenJPEG's
  fixed-quality PSNR knob (integer dB), searched for the highest level under
  the rate (the search is not in the write time). One codestream per band
  cannot be compared at 0.1 bpppb this way: each band's smallest codestream
  (about 245 bytes, most of it the main header) is close to its whole
  budget (262 bytes), and at that size OpenJPEG decodes a flat image;
- Blosc-Zstd (``numcodecs.Blosc``, bit shuffle), lossless.

For each it prints bytes on disk (the array's chunk files and metadata and
the store's root metadata), bpppb (8 x bytes / 200 / 145 / 145), per-band and global PSNR,
SAM (degrees), write seconds, and full-read seconds. The read is timed in a
fresh process that imports only xarray before it (``xr.open_zarr(...)
.values``): the codecs are found through their entry points, as any user
would. Real data only: ``$TORCHGEO_INR_DATA/indian_pines/Indian_pines_corrected.mat``
(default ``../shared/data`` beside the repository). Needs ``pip install -e '.[bench]'``
for zfpy.

    python examples/zarr_archive.py                       # pca-jpeg2000 at 0.1 bpppb
    python examples/zarr_archive.py --codec latent-grid --codec-options '{"steps": 5000}'
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from rate_distortion import DATA_ENV, SCENE_FILE, VARIABLE, default_data  # examples/: where the real scene is

NAME = "reflectance"


def load_cube(path: Path) -> np.ndarray:
    from torchgeo_inr.io import read_mat

    return read_mat(path, VARIABLE).to_numpy()  # (band, y, x) uint16


# -- the read side: a fresh process ---------------------------------------------------
def read_and_measure(store: Path, data: Path) -> dict:
    """Runs in the child: open and read with xarray alone, then compare with the original."""
    import xarray as xr

    start = time.perf_counter()
    values = xr.open_zarr(store, consolidated=False)[NAME].values
    seconds = time.perf_counter() - start

    from torchgeo_inr.metrics import psnr_global, psnr_per_band, sam_degrees

    cube = load_cube(data)
    values = values.astype(np.float64)
    return {
        "read_s": seconds,
        "psnr_band": psnr_per_band(cube, values),
        "psnr_global": psnr_global(cube, values),
        "sam": sam_degrees(cube, values),
    }


def measure_in_fresh_process(store: Path, data: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--read", str(store), "--data", str(data)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"reading {store} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the write side ---------------------------------------------------------------------
METADATA = {"zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata"}


def store_bytes(store: Path) -> tuple[int, int]:
    """(bytes on disk, chunk bytes): the reflectance array's files and the store's root metadata; its chunks alone."""
    files = [p for p in (store / NAME).rglob("*") if p.is_file()]
    chunks = sum(p.stat().st_size for p in files if p.name not in METADATA)
    total = sum(p.stat().st_size for p in files) + sum(p.stat().st_size for p in store.iterdir() if p.is_file())
    return total, chunks


def dataset(cube: np.ndarray, dtype=None):
    import xarray as xr

    from torchgeo_inr.datasets.wavelengths import indian_pines_wavelengths

    values = cube if dtype is None else cube.astype(dtype)
    return xr.Dataset(
        {NAME: (("band", "y", "x"), values)},
        coords={"wavelength": ("band", indian_pines_wavelengths().astype(np.float64))},
    )


def write_numcodecs(cube, store: Path, compressor, chunks, dtype=None) -> float:
    ds = dataset(cube, dtype)
    encoding = {NAME: {"compressors": compressor, "filters": None, "chunks": chunks}}
    start = time.perf_counter()
    ds.to_zarr(store, mode="w", encoding=encoding, zarr_format=2, consolidated=False)
    return time.perf_counter() - start


def largest_int_under(make, knobs: range, budget: int) -> int:
    """The largest integer knob whose stream (bytes grow with the knob) fits ``budget`` (bisection)."""
    lo, hi = knobs.start, knobs.stop - 1
    if make(lo) > budget:
        return lo
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if make(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def smallest_under(make, lo: float, hi: float, budget: int, steps: int = 24) -> tuple[float, int]:
    """The smallest knob in [lo, hi] whose stream (bytes shrink as the knob grows) fits ``budget``; log steps."""
    best = (hi, make(hi))
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        size = make(mid)
        if size <= budget:
            hi, best = mid, (mid, size)
        else:
            lo = mid
    return best


def rows_to_write(cube: np.ndarray, args) -> list[tuple[str, str, callable]]:
    """(label, settings, write(store) -> seconds) for every codec of the table."""
    import imagecodecs.numcodecs as icn
    import numcodecs

    budget = math.floor(args.bpppb * cube.size / 8)
    rows = []

    def inr(store: Path) -> float:
        import torchgeo_inr  # noqa: F401  (registers the .inr accessor)

        ds = dataset(cube)
        start = time.perf_counter()
        ds.inr.to_zarr(store, bpppb=args.bpppb, codec=args.codec, codec_options=args.codec_options, mode="w", consolidated=False)  # fmt: skip
        return time.perf_counter() - start

    rows.append((f"torchgeo_inr.inr ({args.codec})", f"bpppb={args.bpppb} per chunk, Zarr v3, ds.inr.to_zarr", inr))

    try:
        import zfpy
    except ImportError:
        print("zfpy is not installed (pip install -e '.[bench]'): no zfp rows\n")
    else:
        f32 = np.ascontiguousarray(cube, dtype=np.float32)
        tol, _ = smallest_under(
            lambda t: len(numcodecs.ZFPY(mode=zfpy.mode_fixed_accuracy, tolerance=t).encode(f32)), 1.0, 1e7, budget
        )
        accuracy = numcodecs.ZFPY(mode=zfpy.mode_fixed_accuracy, tolerance=tol)
        fixed = numcodecs.ZFPY(mode=zfpy.mode_fixed_rate, rate=0.25)
        rows.append(("zfp (numcodecs.ZFPY)", f"fixed accuracy, tolerance {tol:.4g}, float32", lambda s: write_numcodecs(cube, s, accuracy, cube.shape, np.float32)))  # fmt: skip
        rows.append(("zfp (numcodecs.ZFPY)", "fixed rate 0.25 bit/value (its floor), float32", lambda s: write_numcodecs(cube, s, fixed, cube.shape, np.float32)))  # fmt: skip

    # The codec keeps ``level`` as an integer: search integers.
    levels = range(1, 161)
    level = largest_int_under(lambda q: len(icn.Jpeg2k(level=q, planar=True).encode(cube)), levels, budget)
    planar = icn.Jpeg2k(level=level, planar=True)
    rows.append(("JPEG2000 (imagecodecs.numcodecs.Jpeg2k)", f"all bands in one codestream (planar), level {level} dB", lambda s: write_numcodecs(cube, s, planar, cube.shape)))  # fmt: skip

    blosc = numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE)
    rows.append(("Blosc-Zstd (numcodecs.Blosc)", "lossless, clevel 5, bit shuffle", lambda s: write_numcodecs(cube, s, blosc, cube.shape)))  # fmt: skip
    return rows


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data(), help=f"Indian_pines_corrected.mat (default: ${DATA_ENV} or ../shared/data, + {SCENE_FILE})")  # fmt: skip
    parser.add_argument("--codec", default="pca-jpeg2000", help="registry codec for the torchgeo_inr.inr rows (default pca-jpeg2000)")  # fmt: skip
    parser.add_argument("--codec-options", type=json.loads, default=None, help='JSON dict of codec constructor arguments, e.g. \'{"steps": 5000}\'')  # fmt: skip
    parser.add_argument("--bpppb", type=float, default=0.1, help="target rate (default 0.1)")
    parser.add_argument("--out", type=Path, default=Path("out/zarr_archive"), help="folder for the stores (default ./out/zarr_archive)")  # fmt: skip
    parser.add_argument("--read", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()

    if args.read is not None:
        print(json.dumps(read_and_measure(args.read, args.data)))
        return
    if not args.data.exists():
        sys.exit(f"{args.data} not found: set {DATA_ENV} to the folder holding {SCENE_FILE}")

    from torchgeo_inr.registry import available_codecs

    cube = load_cube(args.data)
    print(f"{args.data.name}: {cube.shape[0]} bands x {cube.shape[1]} x {cube.shape[2]}, {cube.dtype}; {machine()}")
    neural = [c for c in ("hiner", "latent-grid", "siren", "meta-siren") if c in available_codecs()]
    print(
        f"chunk codec: {args.codec}"
        + ("" if args.codec in neural else f" (a classical codec; the neural INR codecs installed: {', '.join(neural) or 'none'}; run with --codec hiner)")  # fmt: skip
    )
    print(f"target {args.bpppb} bpppb = {math.floor(args.bpppb * cube.size / 8)} bytes", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    start = time.perf_counter()
    rows = rows_to_write(cube, args)
    print(f"  (baseline settings searched in {time.perf_counter() - start:.1f} s)", flush=True)
    for i, (label, settings, write) in enumerate(rows):
        store = args.out / f"{i}.zarr"
        shutil.rmtree(store, ignore_errors=True)
        write_s = write(store)
        size, chunk_bytes = store_bytes(store)
        measured = measure_in_fresh_process(store, args.data)
        print(f"  {label}, {settings}: {size} bytes, written in {write_s:.2f} s, read in {measured['read_s']:.2f} s", flush=True)  # fmt: skip
        results.append({"codec": label, "settings": settings, "bytes": size, "bpppb": 8 * size / cube.size, "chunk_bpppb": 8 * chunk_bytes / cube.size, "write_s": write_s, **measured})  # fmt: skip

    print()
    print("| codec | settings | bytes on disk | bpppb | bpppb of chunks | per-band PSNR (dB) | global PSNR (dB) | SAM (deg) | write s | full-read s |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r['codec']} | {r['settings']} | {r['bytes']} | {r['bpppb']:.4f} | {r['chunk_bpppb']:.4f} | {r['psnr_band']:.2f} | "
            f"{r['psnr_global']:.2f} | {r['sam']:.3f} | {r['write_s']:.2f} | {r['read_s']:.2f} |"
        )
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(
        "\nbytes on disk: the reflectance array's chunk files and metadata (zarr.json / .zarray / .zattrs), plus "
        "the store's root metadata; the wavelength coordinate stored beside it is not counted. bpppb of chunks: "
        f"the chunk files alone. Stores and results.json in {args.out}"
    )


if __name__ == "__main__":
    main()
