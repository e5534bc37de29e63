"""The ``torchgeo-inr`` command: compress, decompress, inspect and evaluate hyperspectral scenes.

Errors the package raises on purpose (:class:`InrError`) and file-system
errors are the user's to fix, so they are printed as one line on stderr with
exit status 2 and no traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

from . import bitstream
from .compress import DEFAULT_CODEC, decode, encode, info
from .errors import InrError, SceneError
from .io import read_scene, write_scene
from .metrics import bpppb, compression_ratio, quality_report
from .registry import available_codecs, codec_class
from .sample import load_sample
from .scene import Scene

PROG = "torchgeo-inr"
EXIT_ERROR = 2
#: The INPUT that names the built-in sample scene instead of a file.
SAMPLE = "sample"
DEMO_RATES = "0.1,0.25,0.5,1.0"
#: Seconds of fitting per neural encode in the demo: a quick look, not the codecs' best.
DEMO_SECONDS = 15.0


def parse_rates(text: str) -> list[float]:
    """``"0.1,0.25"`` -> [0.1, 0.25]; an argparse ``type=`` (also used by examples/)."""
    try:
        rates = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        rates = []
    if not rates or not all(r > 0 for r in rates):
        raise argparse.ArgumentTypeError(f"rates must be positive numbers separated by commas, got {text!r}")
    return rates


def parse_codecs(text: str) -> list[str]:
    """``"jpeg2000,pca-jpeg2000"`` -> the names, in order; an argparse ``type=``."""
    return [name.strip() for name in text.split(",") if name.strip()]


def _load_scene(source: str) -> Scene:
    return load_sample() if source == SAMPLE else read_scene(source)


def _is_stream(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(len(bitstream.MAGIC)) == bitstream.MAGIC


def _print_json(value) -> None:
    print(json.dumps(value, indent=2))


# -- subcommands ------------------------------------------------------------------
def cmd_compress(args) -> None:
    scene = _load_scene(args.input)
    start = time.perf_counter()
    data = encode(scene, args.codec, bpppb=args.bpppb, psnr=args.psnr, device=args.device,
                  progress=not args.no_progress)  # fmt: skip
    seconds = time.perf_counter() - start
    Path(args.output).write_bytes(data)
    print(f"{args.output}: {bpppb(len(data), scene.shape):.4f} bpppb, {len(data)} bytes, "
          f"codec {args.codec}, {seconds:.2f} s")  # fmt: skip


def cmd_decompress(args) -> None:
    data = Path(args.input).read_bytes()
    start = time.perf_counter()
    codec_class(bitstream.unpack(data).codec).load_libraries()
    loaded = time.perf_counter()
    scene = decode(data, device=args.device)
    seconds = time.perf_counter() - loaded  # the decode itself; library start-up is reported apart
    write_scene(scene, args.output)
    if args.json:
        _print_json({"output": args.output, "shape": scene.shape, "dtype": scene.dtype.name, "seconds": seconds,
                     "import_seconds": loaded - start})
    else:
        print(f"{args.output}: shape {' x '.join(map(str, scene.shape))}, {scene.dtype.name}, {seconds:.2f} s")


def cmd_info(args) -> None:
    meta = info(Path(args.input).read_bytes())
    meta["compression_ratio"] = compression_ratio(meta["bytes"], meta["shape"])
    if args.json:
        _print_json(meta)
        return
    rows = {
        "codec": f"{meta['codec']} (codec version {meta['codec_version']}, format version {meta['format_version']})",
        "shape": f"{' x '.join(map(str, meta['shape']))} (bands x height x width), {meta['dtype']}",
        "size": f"{meta['bytes']} bytes, {meta['bpppb']:.4f} bpppb, "
        f"{meta['compression_ratio']:.1f}:1 vs 16-bit",
        "wavelengths": "yes" if meta["wavelengths"] else "no",
        "nodata": f"{meta['nodata_elements']} elements",
        "crs": "yes" if meta["crs"] else "no",
        "header": json.dumps(meta["header"]),
    }
    for key, value in rows.items():
        print(f"{key:<12} {value}")
    print("sections")
    for name, size in meta["sections"].items():
        print(f"  {name:<24} {size:>10} bytes")


def cmd_evaluate(args) -> None:
    original = _load_scene(args.original)
    other = Path(args.decoded)
    n_bytes = None
    if _is_stream(other):
        data = other.read_bytes()
        n_bytes = len(data)
        decoded = decode(data, device=args.device)
    else:
        decoded = read_scene(other)
    if decoded.shape != original.shape:
        raise SceneError(f"{other} has shape {decoded.shape}, the original {original.shape}")
    report = quality_report(original.to_numpy(), decoded.to_numpy(), original.mask)
    if n_bytes is not None:
        report |= {"bytes": n_bytes, "bpppb": bpppb(n_bytes, original.shape),
                   "compression_ratio": compression_ratio(n_bytes, original.shape)}  # fmt: skip
    if args.json:
        _print_json(report)
        return
    print(f"per-band PSNR  {report['psnr_band']:.2f} dB")
    print(f"global PSNR    {report['psnr_global']:.2f} dB")
    print(f"SAM            {report['sam']:.3f} deg")
    if n_bytes is not None:
        print(f"bpppb          {report['bpppb']:.4f} ({n_bytes} bytes, {report['compression_ratio']:.1f}:1 vs 16-bit)")


def cmd_codecs(args) -> None:
    for name in available_codecs():
        try:
            summary = (codec_class(name).__doc__ or "").strip().splitlines()[0]
        except Exception as err:  # a broken plugin must not hide the other codecs
            summary = f"(cannot be loaded: {type(err).__name__}: {err})"
        print(f"{name:<16} {summary}")


def cmd_demo(args) -> None:
    # Imported here: matplotlib would slow every other command, the demo's own decodes included.
    from .benchmark import format_table, run_table, save_results, time_budgets

    start = time.perf_counter()
    scene = load_sample()
    results = run_table(scene, args.codecs, args.rates, args.out, device=args.device, progress=not args.no_progress,
                        options=time_budgets(args.codecs, args.seconds))  # fmt: skip
    print(format_table(results))
    paths = save_results(scene, results, args.out, title="Indian Pines sample")
    print(f"\nstreams, decoded cubes, {', '.join(p.name for p in paths)} are in {args.out}")
    print(f"demo took {time.perf_counter() - start:.1f} s")


# -- parser -----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Compress hyperspectral images.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('torchgeo-inr')}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help):
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    def device(p):
        p.add_argument("--device", help="torch device for neural codecs, e.g. cpu, cuda (default: the codec's choice)")

    p = command("compress", cmd_compress, "compress a scene (.npy, .mat, .tif, ENVI, or 'sample') to a stream")
    p.add_argument("input", help=f"scene file, or '{SAMPLE}' for the built-in sample")
    p.add_argument("-o", "--output", required=True, help="stream file to write (e.g. scene.inr)")
    p.add_argument("--codec", default=DEFAULT_CODEC, help=f"codec name (default {DEFAULT_CODEC}; see 'codecs')")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--bpppb", type=float, help="rate: bits per pixel per band (default 0.1)")
    target.add_argument("--psnr", type=float, help="quality instead of rate: per-band PSNR in dB")
    device(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = command("decompress", cmd_decompress, "decode a stream to a scene file")
    p.add_argument("input", help="stream file")
    p.add_argument("-o", "--output", required=True, help="scene file; format from the extension: .npy .mat .tif .hdr/.img")
    device(p)
    p.add_argument("--json", action="store_true", help="print output, shape, dtype and decode seconds as JSON")

    p = command("info", cmd_info, "describe a stream from its header, without decoding it")
    p.add_argument("input", help="stream file")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("evaluate", cmd_evaluate, "quality of a decoded scene or a stream against the original")
    p.add_argument("original", help=f"original scene file, or '{SAMPLE}'")
    p.add_argument("decoded", help="decoded scene file, or a stream (then its bpppb is reported too)")
    device(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    command("codecs", cmd_codecs, "list the installed codecs")

    p = command("demo", cmd_demo, "compress the built-in sample with every codec at a few rates and compare")
    p.add_argument("--out", default="torchgeo-inr-demo", help="output folder (default ./torchgeo-inr-demo)")
    p.add_argument("--codecs", type=parse_codecs, help="comma-separated codec names (default: all installed)")
    p.add_argument("--rates", type=parse_rates, default=parse_rates(DEMO_RATES), help=f"bpppb list (default {DEMO_RATES})")
    p.add_argument("--seconds", type=float, default=DEMO_SECONDS,
                   help=f"fitting budget of each neural encode (default {DEMO_SECONDS:g} s; the codecs' own is minutes)")  # fmt: skip
    device(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0, or 2 for a user error)."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except InrError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as err:
        where = f"{err.filename}: {err.strerror}" if err.filename and err.strerror else str(err)
        print(f"{PROG}: error: {where}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
