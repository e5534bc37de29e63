#!/usr/bin/env python3
"""Meta-train the base network of ``meta-siren`` (modulated SIREN, after COIN++) on patches of real scenes.

The shipped base (torchgeo_inr/siren/pretrained/) was trained with the
default arguments: Indian Pines only (public, Purdue), on the "even" tiles of
a checkerboard of 29 x 29-pixel tiles ((tile_row + tile_col) % 2 == 0: 13 of
the 25 tiles, 10933 pixels); the 12 "odd" tiles (10092 pixels) are held out
and quality is reported on them separately. See pretrained/README.md.

    python examples/train_meta_siren.py --out out/meta_siren            # the shipped base
    python examples/train_meta_siren.py --scene a.mat:var --scene b.npy --steps 20000 --device cuda

Scenes of any band count mix in one corpus (each is normalised per band with
its own statistics and decoded through the wavelength head). A checkpoint is
written every ``--checkpoint-every`` steps to OUT/checkpoint.safetensors, and
a run resumes from it; Ctrl-C stops cleanly after a checkpoint. At the end
the base is exported as OUT/base.safetensors (float16) and evaluated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

DATA_ENV = "TORCHGEO_INR_DATA"
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
IP = Path("indian_pines") / "Indian_pines_corrected.mat"


def load_scene(spec: str):
    """``path[:variable]`` -> Scene (Indian Pines gets its wavelengths)."""
    from dataclasses import replace

    from torchgeo_inr.datasets.wavelengths import indian_pines_wavelengths
    from torchgeo_inr.io import read_mat, read_scene

    path, _, var = spec.partition(":") if not os.path.exists(spec) else (spec, "", "")
    if path.endswith(".mat"):
        scene = read_mat(path, var or None)
    else:
        scene = read_scene(path)
    if scene.wavelengths is None and scene.bands == 200 and "indian" in Path(path).name.lower():
        scene = replace(scene, wavelengths=indian_pines_wavelengths())
    return scene


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_ip = Path(os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR) / IP
    p.add_argument("--scene", action="append", help=f"scene file[:variable]; repeatable (default: {default_ip})")
    p.add_argument("--tile", type=int, default=29, help="checkerboard tile size in pixels (0: train on all pixels)")
    p.add_argument("--parity", type=int, default=0, help="train on tiles with (row + col) %% 2 == parity")
    p.add_argument("--out", type=Path, default=Path("out/meta_siren"))
    p.add_argument("--id", default="ip-checker29-v1", help="base network id written into the file and streams")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--max-seconds", type=float, default=None)
    p.add_argument("--batch-pixels", type=int, default=3072)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--inner-steps", type=int, default=3)
    p.add_argument("--inner-lr", type=float, default=1e-2)
    p.add_argument("--latent-dim", type=int, default=256)
    p.add_argument("--width", type=int, default=96)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--features", type=int, default=48)
    p.add_argument("--patch-sizes", default="4,6,8,10,12", help="patch sizes (px) drawn during training")
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy machine)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when there is a GPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    import torch

    from torchgeo_inr.siren.base import save_base
    from torchgeo_inr.siren.meta import TrainConfig, TrainScene, train
    from torchgeo_inr.siren.network import MetaSirenConfig
    from torchgeo_inr.siren.tiles import checkerboard

    if args.threads:
        torch.set_num_threads(args.threads)
    specs = args.scene or [str(default_ip)]
    corpus, held = [], []
    for spec in specs:
        scene = load_scene(spec)
        allowed = checkerboard(scene.height, scene.width, args.tile, args.parity) if args.tile else None
        corpus.append(TrainScene.from_array(scene.data, scene.wavelengths, allowed, name=spec))
        held.append((spec, scene, allowed))
        print(f"{spec}: {scene.shape}, training on {int(corpus[-1].allowed.sum())} of "
              f"{scene.height * scene.width} pixels", file=sys.stderr)
    cfg = MetaSirenConfig(
        width=args.width, depth=args.depth, features=args.features, latent_dim=args.latent_dim,
        patch_sizes=[int(v) for v in args.patch_sizes.split(",")], inner_steps=args.inner_steps,
        inner_lr=args.inner_lr,
    )
    tc = TrainConfig(steps=args.steps, batch_pixels=args.batch_pixels, lr=args.lr, max_seconds=args.max_seconds,
                     checkpoint_every=args.checkpoint_every, seed=args.seed)
    t0 = time.perf_counter()
    model, history = train(corpus, cfg, tc, out_dir=args.out, resume=not args.no_resume, device=args.device,
                           progress=not args.no_progress)
    seconds = time.perf_counter() - t0
    info = {
        "command": "python examples/train_meta_siren.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "data": [Path(s).name for s in specs],
        "split": f"checkerboard of {args.tile} px tiles, trained on (row + col) % 2 == {args.parity}" if args.tile
        else "all pixels",
        "steps": history[-1]["step"] if history else 0,
        "train_seconds_this_run": round(seconds, 1),
        "final_train_gain_db": history[-1]["gain_db"] if history else None,
    }
    base = args.out / "base.safetensors"
    digest = save_base(model, base, args.id, info=info)
    print(json.dumps({**info, "base": str(base), "sha256": digest, "bytes": base.stat().st_size}, indent=1))
    evaluate(base, args.id, held)


def evaluate(base_path: Path, base_id: str, held) -> None:
    """Encode each scene whole with the exported base; per-band PSNR on trained vs held-out pixels."""
    from torchgeo_inr.codecs.meta_siren import MetaSirenCodec
    from torchgeo_inr.metrics import psnr_per_band
    from torchgeo_inr.siren.base import load_base_file

    base = load_base_file(base_path, base_id=base_id)
    codec = MetaSirenCodec(base=base)
    for spec, scene, allowed in held:
        for rate in (0.05, 0.1, 0.2, 0.5):
            t = time.perf_counter()
            encoded = codec.encode_with_report(scene, bpppb=rate, progress=False)
            data = encoded.data
            enc = time.perf_counter() - t
            out = codec.decode(data).data
            row = {"scene": Path(spec).name, "bpppb": round(8 * len(data) / scene.data.size, 4),
                   "encode_s": round(enc, 2), "psnr_all": round(psnr_per_band(scene.data, out), 2)}
            if allowed is not None:
                mask_train = np.broadcast_to(~allowed, scene.shape)  # mask=True excludes
                row["psnr_trained_px"] = round(psnr_per_band(scene.data, out, mask_train), 2)
                row["psnr_heldout_px"] = round(psnr_per_band(scene.data, out, ~mask_train), 2)
            row.update(encoded.report.details)
            print(json.dumps(row))


if __name__ == "__main__":
    main()
