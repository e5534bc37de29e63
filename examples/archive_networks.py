#!/usr/bin/env python3
"""Archive networks on Indian Pines: a tiled Zarr archive that stores one network and each chunk's own code.

Writes the real Indian Pines cube (200 bands x 145 x 145, uint16) to one Zarr
store per (rate, tiling, codec), through ``ds.inr.to_zarr``:

- ``latent-grid`` with ``shared=True``: one synthesis, spectral basis and
  latent entropy model fitted on all the array's tiles, stored once beside
  the array; each chunk holds its latents only (fitted against that network
  by its own Dask task);
- ``meta-siren`` with ``shared=True``: a small base meta-trained on the
  archive's own tiles (not the shipped Indian Pines demo base), stored once;
  each chunk holds its patches' latents only;
- ``pca-jpeg2000`` chunks: each a whole stream (its own basis and header);
- ``pca-jpeg2000+shared``: ``pca-jpeg2000`` with ``shared=True``: one
  spectral basis stored once, each chunk a JPEG2000 codestream of its
  coefficient images (codec ``pca-jpeg2000-shared``).

Tilings: 25 tiles of 29 x 29 (``--tiles 29``) and 4 tiles of 73/72
(``--tiles 73``, the last row and column one pixel narrower). Rates
``--rates 0.1 0.2`` bpppb are the archive's: for the shared codecs the
network's bytes come out of it before the chunks get theirs.

Per store: bytes = every file under the store (chunks, the shared network,
every zarr.json), bpppb = 8 x bytes / (200 x 145 x 145); per-band PSNR,
global PSNR and SAM of the whole decoded scene; write seconds (network fit
included); read seconds (the whole array, this process, the network's cache
dropped first); with ``--whole-steps``, the whole untiled scene as one
latent-grid stream too (the reference the tiled archive is held to); one-chunk read seconds in a fresh process that imports only
xarray (the open and the decode of chunk (0, 0), network load included;
interpreter start-up and the xarray import not). Prints a table, writes
``OUT/archive_networks.json`` and ``OUT/archive_networks.png``.

Budgets are steps (reproducible), sized for about 15 minutes on two busy
CPU cores with the defaults; raise them for quality:

    python examples/archive_networks.py                               # defaults
    python examples/archive_networks.py --network-steps 3000 --chunk-steps 1000 --meta-steps 1000
    python examples/archive_networks.py --tiles --whole-steps 2000      # only the whole-scene reference
    python examples/archive_networks.py --rates 0.1 --tiles 29 --codecs latent-grid

Real data only: ``$TORCHGEO_INR_DATA/indian_pines/Indian_pines_corrected.mat``
(default ``../shared/data`` beside the repository).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from rate_distortion import DATA_ENV, SCENE_FILE, VARIABLE, default_data  # examples/: where the real scene is

NAME = "reflectance"
CHILD = """
import sys, time, json
import xarray as xr
start = time.perf_counter()
ds = xr.open_zarr(sys.argv[1], consolidated=False)
c = ds[sys.argv[2]].chunks
ds[sys.argv[2]].isel(y=slice(0, c[1][0]), x=slice(0, c[2][0])).values
print(json.dumps({"one_chunk_s": time.perf_counter() - start}))
"""


def load_cube(path: Path) -> np.ndarray:
    from torchgeo_inr.io import read_mat

    return read_mat(path, VARIABLE).to_numpy()  # (band, y, x) uint16


def dataset(cube: np.ndarray):
    import xarray as xr

    from torchgeo_inr.datasets.wavelengths import indian_pines_wavelengths

    return xr.Dataset({NAME: (("band", "y", "x"), cube)},
                      coords={"wavelength": ("band", indian_pines_wavelengths().astype(np.float64))})


def every_byte(store: Path) -> int:
    return sum(p.stat().st_size for p in store.rglob("*") if p.is_file())


def network_bytes(store: Path) -> int:
    from torchgeo_inr.plugins.shared_network import NETWORK_PREFIX

    return sum(p.stat().st_size for p in (store / NAME).glob(f"{NETWORK_PREFIX}.*"))


def one_chunk_fresh(store: Path) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, str(store), NAME], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"reading one chunk of {store} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["one_chunk_s"]


def codec_setup(codec: str, args) -> dict:
    """to_zarr arguments per codec: the step budgets, shared or not."""
    if codec == "pca-jpeg2000+shared":
        return {"codec": "pca-jpeg2000", "shared": True}
    if codec == "latent-grid+whole":  # the reference: one stream for the whole scene, its own network
        return {"codec": "latent-grid", "shared": False, "wavelengths": False,
                "codec_options": {"steps": args.whole_steps, "threads": 1}}
    if codec == "latent-grid":
        return {"codec": codec, "shared": True, "codec_options": {"steps": args.chunk_steps, "threads": 1},
                "network_steps": args.network_steps}
    if codec == "meta-siren":
        return {"codec": codec, "shared": True, "codec_options": {"threads": 1}, "network_steps": args.meta_steps}
    return {"codec": codec, "shared": False, "wavelengths": False}


def run_one(cube, codec: str, rate: float, tile: int, args) -> dict:
    import xarray as xr

    from torchgeo_inr import archive_network
    from torchgeo_inr.metrics import psnr_global, psnr_per_band, sam_degrees

    tiles = -(-cube.shape[1] // tile) * -(-cube.shape[2] // tile)
    store = args.out / f"{codec.replace('+', '-')}-{rate:g}-{tiles}tiles.zarr"
    shutil.rmtree(store, ignore_errors=True)
    row = {"codec": codec, "bpppb_target": rate, "tiles": tiles, "tile": tile,
           "shared": codec_setup(codec, args)["shared"]}
    start = time.perf_counter()
    try:
        dataset(cube).inr.to_zarr(store, bpppb=rate, tile=tile, exact_tile=True, progress=args.progress,
                                  consolidated=False, **codec_setup(codec, args))
    except Exception as err:  # noqa: BLE001 - a codec that cannot write this archive is a row of the table
        row.update(error=f"{type(err).__name__}: {str(err).splitlines()[0][:160]}")
        return row
    row["write_s"] = time.perf_counter() - start
    archive_network.forget()  # read as a new process would: the network comes from the store
    start = time.perf_counter()
    values = xr.open_zarr(store, consolidated=False)[NAME].values.astype(np.float64)
    row["read_s"] = time.perf_counter() - start
    total = every_byte(store)
    row.update(bytes=total, network_bytes=network_bytes(store), bpppb=8 * total / cube.size,
               psnr_band=psnr_per_band(cube, values), psnr_global=psnr_global(cube, values),
               sam=sam_degrees(cube, values), one_chunk_s=one_chunk_fresh(store))
    return row


def table(rows: list[dict]) -> str:
    head = ("| codec | tiles | target | bpppb (every byte) | network bytes | per-band PSNR | global PSNR | SAM (deg) "
            "| write s | read s | one chunk, fresh process s |")
    lines = [head, "|" + " --- |" * 11]
    for r in rows:
        name = r["codec"].replace("+shared", "").replace("+whole", " (whole scene)") + (" (shared)" if r["shared"] else "")
        if "error" in r:
            lines.append(f"| {name} | {r['tiles']} | {r['bpppb_target']:g} | {r['error']} |" + " |" * 7)
            continue
        lines.append(
            f"| {name} | {r['tiles']} | {r['bpppb_target']:g} | {r['bpppb']:.4f} | {r['network_bytes']} "
            f"| {r['psnr_band']:.2f} | {r['psnr_global']:.2f} | {r['sam']:.3f} | {r['write_s']:.1f} "
            f"| {r['read_s']:.2f} | {r['one_chunk_s']:.2f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key in sorted({(r["codec"], r["tiles"]) for r in rows}):
        pts = sorted((r["bpppb"], r["psnr_band"]) for r in rows if (r["codec"], r["tiles"]) == key and "error" not in r)
        if pts:
            ax.plot(*zip(*pts), marker="o", label=f"{key[0]}, {key[1]} tiles")
    ax.set_xlabel("bpppb (every byte of the store)")
    ax.set_ylabel("per-band PSNR (dB)")
    ax.set_title("Indian Pines in a tiled Zarr archive")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help=f"the .mat file (default: ${DATA_ENV}/{SCENE_FILE})")
    p.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.2])
    p.add_argument("--tiles", type=int, nargs="*", default=[29, 73], help="tile side(s): 29 -> 25 tiles, 73 -> 4")
    p.add_argument("--codecs", nargs="+", default=["latent-grid", "meta-siren", "pca-jpeg2000+shared", "pca-jpeg2000"])
    p.add_argument("--network-steps", type=int, default=600, help="latent-grid: steps of the shared network's fit")
    p.add_argument("--chunk-steps", type=int, default=200, help="latent-grid: steps of each chunk's latent fit")
    p.add_argument("--meta-steps", type=int, default=200, help="meta-siren: outer steps of the archive base")
    p.add_argument("--whole-steps", type=int, default=0,
                   help="also code the whole scene as one latent-grid stream with this step budget (0: skip)")
    p.add_argument("--out", type=Path, default=Path("out/archive_networks"))
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    data = args.data or default_data()
    args.out.mkdir(parents=True, exist_ok=True)
    cube = load_cube(data)
    rows = []
    for rate in args.rates if args.whole_steps else ():
        rows.append(run_one(cube, "latent-grid+whole", rate, max(cube.shape[1:]), args))
        print(json.dumps(rows[-1]), flush=True)
    for tile in args.tiles:
        for rate in args.rates:
            for codec in args.codecs:
                rows.append(run_one(cube, codec, rate, tile, args))
                print(json.dumps(rows[-1]), flush=True)
    print()
    print(table(rows))
    meta = {"machine": platform.platform(), "python": sys.version.split()[0], "argv": sys.argv[1:],
            "steps": {"network": args.network_steps, "chunk": args.chunk_steps, "meta": args.meta_steps}}
    (args.out / "archive_networks.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    plot(rows, args.out / "archive_networks.png")
    print(f"\nwrote {args.out / 'archive_networks.json'} and {args.out / 'archive_networks.png'}")


if __name__ == "__main__":
    main()
