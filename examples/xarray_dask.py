#!/usr/bin/env python3
"""Indian Pines through xarray and Dask: ``ds.inr.compress(bpppb=0.05)``, whole and tiled on a LocalCluster.

1. ``torchgeo_inr.open_scene`` reads the real scene into an xarray Dataset
   (band, y, x), uint16, with the AVIRIS band centres as a ``wavelength``
   coordinate (the .mat file does not carry them).
2. The whole scene is compressed in one call: ``ds.inr.compress(bpppb=0.05)``.
3. The same Dataset chunked into spatial tiles (73 x 73 px: 2 x 2 tiles, the
   last ones 72 px) is compressed on a ``distributed.LocalCluster`` with 2
   worker processes, one Dask task per tile, and decompressed lazily.
4. The same again with ``compute=False``: the compressed form is a lazy
   graph, composed with another Dask step (per-band means of its decode)
   and computed in one ``dask.compute`` on the cluster; the streams equal
   the eager ones.

For both it prints the real rate (every byte the decoder reads), per-band and
global PSNR, SAM and wall times, writes each compressed form to one file, and
draws original and decoded scenes in false colour (``xarray_dask.png``).

    python examples/xarray_dask.py                      # data from $TORCHGEO_INR_DATA or ../shared/data
    python examples/xarray_dask.py --tile 73 --workers 2 --bpppb 0.05 --out out/xarray_dask

Each tile carries its own codec side information (for pca-jpeg2000: the PCA
basis, band scales and means, about 3 KB), so at very low rates tiles cost
quality: the trade for parallel, chunk-wise and lazily decodable storage.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
from rate_distortion import VARIABLE, default_data  # examples/: the real scene's path and variable
from torchgeo_inr.plugins.archive import metadata_nbytes

import torchgeo_inr
from torchgeo_inr.datasets.wavelengths import indian_pines_wavelengths
from torchgeo_inr.metrics import quality_report
from torchgeo_inr.plotting import plot_preview


def row(label, form, decoded, original, encode_s, decode_s, path) -> dict:
    cube = original.transpose("band", "y", "x").values
    back = decoded.transpose("band", "y", "x").values
    q = quality_report(cube, back)
    return {
        "run": label,
        "tiles": form[VARIABLE].size,
        "stream bytes": form.inr.nbytes,
        "bpppb": f"{form.inr.bpppb:.4f}",
        "PSNR band (dB)": f"{q['psnr_band']:.2f}",
        "PSNR global (dB)": f"{q['psnr_global']:.2f}",
        "SAM (deg)": f"{q['sam']:.3f}",
        "encode (s)": f"{encode_s:.1f}",
        "decode (s)": f"{decode_s:.1f}",
        "file bytes (metadata)": f"{path.stat().st_size} ({metadata_nbytes(path)})",
    }


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "| " + " | ".join("---" for _ in keys) + " |"]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="Indian_pines_corrected.mat")
    parser.add_argument("--bpppb", type=float, default=0.05)
    parser.add_argument("--tile", type=int, default=73, help="tile side in pixels for the chunked run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads", action="store_true", help="LocalCluster workers as threads of this process (default: processes)"
    )
    parser.add_argument("--out", type=Path, default=Path("out/xarray_dask"))
    args = parser.parse_args()
    path = args.data or default_data()
    args.out.mkdir(parents=True, exist_ok=True)

    ds = torchgeo_inr.open_scene(path, wavelengths=indian_pines_wavelengths())
    original = ds[VARIABLE]
    print(f"{path.name}: {dict(ds.sizes)} {original.dtype}, wavelengths "
          f"{ds.wavelength.values[0]:.0f}..{ds.wavelength.values[-1]:.0f} nm; target {args.bpppb} bpppb")

    # 1. the whole scene in one call (NumPy-backed: one stream, eager)
    t0 = time.perf_counter()
    whole = ds.inr.compress(bpppb=args.bpppb, progress=False)
    t1 = time.perf_counter()
    whole_back = whole.inr.decompress()
    t2 = time.perf_counter()
    whole_path = whole.inr.to_file(args.out / "indian_pines_whole.inrx")
    rows = [row("whole scene", whole, whole_back[VARIABLE], original, t1 - t0, t2 - t1, whole_path)]

    # 2. tiled: one Dask task per spatial tile, on a LocalCluster
    from distributed import Client, LocalCluster

    chunked = ds.chunk({"y": args.tile, "x": args.tile})
    with LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=not args.threads,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster, Client(cluster):
        t0 = time.perf_counter()
        tiled = chunked.inr.compress(bpppb=args.bpppb)
        t1 = time.perf_counter()
        lazy = tiled.inr.decompress()  # nothing decoded yet
        tiled_back = lazy.compute()  # every tile decoded, in parallel on the workers
        t2 = time.perf_counter()
        # 3. compute=False: nothing encoded yet; one graph with a step of our own on top of the decode
        import dask

        graph = chunked.inr.compress(bpppb=args.bpppb, compute=False)
        band_means = graph.inr.decompress()[VARIABLE].astype("float64").mean(dim=("y", "x"))
        form, means = dask.compute(graph, band_means)
    same_streams = all(a == b for a, b in zip(form[VARIABLE].values.ravel(), tiled[VARIABLE].values.ravel()))
    print(f"compress(compute=False) in a larger graph: same streams as the eager compress: {same_streams}; "
          f"band means {means.values[:3].round(1)} ...")
    tiled_path = tiled.inr.to_file(args.out / "indian_pines_tiled.inrx")
    grid = "x".join(str(n) for n in tiled[VARIABLE].shape)
    label = f"{grid} tiles of {args.tile} px, LocalCluster {args.workers} workers"
    rows.append(row(label, tiled, tiled_back[VARIABLE], original, t1 - t0, t2 - t1, tiled_path))

    print()
    print(table(rows))
    print()
    print("bpppb = 8 x stream bytes / (200 x 145 x 145); the coordinates, attributes and ZIP directory of the")
    per_tile = tiled.inr.info()["variables"][VARIABLE]["tile_bytes"]
    print("file are the metadata bytes, counted apart. Bytes per tile:", per_tile)
    reread = torchgeo_inr.open_compressed(tiled_path).inr.decompress()
    same = np.array_equal(reread[VARIABLE].values, tiled_back[VARIABLE].values)
    print(f"read back from {tiled_path.name}: dims {reread[VARIABLE].dims}, dtype {reread[VARIABLE].dtype}, "
          f"same values as before writing: {same}")

    figure = plot_preview(
        original.values,
        {"whole scene": whole_back[VARIABLE].values, f"{grid} tiles": tiled_back[VARIABLE].values},
        ds.wavelength.values,
        args.out / "xarray_dask.png",
        title=f"Indian Pines, pca-jpeg2000 at {args.bpppb} bpppb (false colour)",
    )
    print(f"wrote {figure}")


if __name__ == "__main__":
    main()
