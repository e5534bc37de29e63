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
from .compress import DEFAULT_CODEC, decode, encode_with_report, info
from .errors import InrError, SceneError
from .io import ENVI_SUFFIXES, read_scene, read_stream_file, write_scene
from .metrics import bpppb, compression_ratio, quality_report
from .registry import available_codecs, codec_class
from .sample import load_sample
from .scene import Scene

PROG = "torchgeo-inr"
EXIT_ERROR = 2
#: The INPUT that names the built-in sample scene instead of a file.
SAMPLE = "sample"
DEMO_RATES = "0.1,0.25,0.5,1.0"
#: Training steps per neural encode in the demo: a quick look, not the codecs' own budgets.
DEMO_STEPS = 1000


def _numbers(text: str) -> list[float]:
    """``"0.1, 0.25"`` -> [0.1, 0.25]; [] when any item is not a number."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        return []


def parse_rates(text: str) -> list[float]:
    """``"0.1,0.25"`` -> [0.1, 0.25]; an argparse ``type=`` (also used by examples/)."""
    rates = _numbers(text)
    if not rates or not all(r > 0 for r in rates):
        raise argparse.ArgumentTypeError(f"rates must be positive numbers separated by commas, got {text!r}")
    return rates


def parse_bounds(text: str) -> float | list[float]:
    """``"4"`` -> 4.0, ``"4,8,16"`` -> [4.0, 8.0, 16.0]; an argparse ``type=``."""
    values = _numbers(text)
    if not values or not all(v >= 0 for v in values):
        raise argparse.ArgumentTypeError(f"error bounds are non-negative numbers separated by commas, got {text!r}")
    return values[0] if len(values) == 1 else values


def parse_codecs(text: str) -> list[str]:
    """``"jpeg2000,pca-jpeg2000"`` -> the names, in order; an argparse ``type=``."""
    return [name.strip() for name in text.split(",") if name.strip()]


def _load_scene(source: str) -> Scene:
    return load_sample() if source == SAMPLE else read_scene(source)


def _is_stream(path: Path) -> bool:
    if path.exists() and not path.is_file():
        raise SceneError(f"{path} is not a regular file")
    with path.open("rb") as f:
        return f.read(len(bitstream.MAGIC)) == bitstream.MAGIC


def _print_json(value) -> None:
    print(json.dumps(value, indent=2))


# -- subcommands ------------------------------------------------------------------
def parse_option(text: str) -> tuple[str, object]:
    """``"steps=200"`` -> ("steps", 200): a codec option from the command line, the value read as JSON
    (numbers, true/false, null, lists) or else kept as a string; an argparse ``type=``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"codec options are NAME=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def cmd_compress(args) -> None:
    scene = _load_scene(args.input)
    encoded = encode_with_report(scene, args.codec, bpppb=args.bpppb, psnr=args.psnr, device=args.device,
                                 progress=not args.no_progress, max_error=args.max_error,
                                 relative_error=args.relative_error, **dict(args.option or []))  # fmt: skip
    report = encoded.report
    _refuse_overwrite(args)  # again: the file may have appeared while encoding
    Path(args.output).write_bytes(encoded.data)
    if args.json:
        _print_json({"output": args.output, **report.as_dict()})
        return
    fit = f", {report.steps} steps (stopped: {report.stopped})" if report.steps is not None else ""
    print(f"{args.output}: {report.bpppb:.4f} bpppb, {report.bytes} bytes, "
          f"codec {report.codec}, {report.seconds:.2f} s{fit}")  # fmt: skip


def cmd_decompress(args) -> None:
    data = read_stream_file(args.input)
    start = time.perf_counter()
    codec_class(bitstream.unpack(data).codec).load_libraries(args.device)
    loaded = time.perf_counter()
    scene = decode(data, device=args.device)
    seconds = time.perf_counter() - loaded  # the decode itself; library start-up is reported apart
    _refuse_overwrite(args)
    write_scene(scene, args.output)
    if args.json:
        _print_json({"output": args.output, "shape": scene.shape, "dtype": scene.dtype.name, "seconds": seconds,
                     "import_seconds": loaded - start})
    else:
        print(f"{args.output}: shape {' x '.join(map(str, scene.shape))}, {scene.dtype.name}, {seconds:.2f} s")


def cmd_info(args) -> None:
    meta = info(read_stream_file(args.input))
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
        data = read_stream_file(other)
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
    from .benchmark import fit_budgets, format_table, run_table, save_results

    start = time.perf_counter()
    scene = load_sample()
    results = run_table(scene, args.codecs, args.rates, args.out, device=args.device, progress=not args.no_progress,
                        options=fit_budgets(args.codecs, args.steps, args.seconds), resume=args.resume)  # fmt: skip
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

    def force(p):
        p.add_argument("--force", action="store_true", help="replace output files that exist already")

    def device(p):
        p.add_argument("--device", help="torch device for neural codecs, e.g. cpu, cuda (default: the codec's choice)")

    p = command("compress", cmd_compress, "compress a scene (.npy, .mat, .tif, ENVI, or 'sample') to a stream")
    p.add_argument("input", help=f"scene file, or '{SAMPLE}' for the built-in sample")
    p.add_argument("-o", "--output", required=True, help="stream file to write (e.g. scene.inr)")
    force(p)
    p.add_argument("--codec", default=DEFAULT_CODEC, help=f"codec name (default {DEFAULT_CODEC}; see 'codecs')")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--bpppb", type=float, help="rate: bits per pixel per band (default 0.1)")
    target.add_argument("--psnr", type=float, help="quality instead of rate: per-band PSNR in dB")
    bound = p.add_mutually_exclusive_group()
    bound.add_argument("--max-error", type=parse_bounds, metavar="E[,E...]",
                       help="bound every value's error, in the scene's units (one number, or one per band); "
                            "the codec becomes the lossy layer of 'error-bound'")
    bound.add_argument("--relative-error", type=parse_bounds, metavar="F[,F...]",
                       help="bound every value's error by this fraction of its band's range")
    p.add_argument("-O", "--option", type=parse_option, action="append", metavar="NAME=VALUE",
                   help="a codec option, e.g. -O steps=2000 -O seed=1 (repeatable; see the codec's docstring)")
    device(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true",
                   help="print what the encode did as JSON: bytes, bpppb, seconds, steps, why the fit stopped, ...")

    p = command("decompress", cmd_decompress, "decode a stream to a scene file")
    p.add_argument("input", help="stream file")
    p.add_argument("-o", "--output", required=True, help="scene file; format from the extension: .npy .mat .tif .hdr/.img")
    force(p)
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
    force(p)
    p.add_argument("--codecs", type=parse_codecs, help="comma-separated codec names (default: all installed)")
    p.add_argument("--rates", type=parse_rates, default=parse_rates(DEMO_RATES), help=f"bpppb list (default {DEMO_RATES})")
    p.add_argument("--steps", type=int, default=DEMO_STEPS,
                   help=f"training steps of each neural encode (default {DEMO_STEPS}; the codecs' own are thousands)")
    p.add_argument("--seconds", type=float,
                   help="optional wall-clock cap of each neural fit (the report says when it bites)")  # fmt: skip
    p.add_argument("--resume", action="store_true",
                   help="in a folder a stopped demo left, reuse the encodes it finished (same code, options, device)")
    device(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _outputs(args) -> list[Path]:
    """Every file a writing subcommand will create (an ENVI scene is a header and a data file)."""
    if getattr(args, "output", None) is None:
        return []
    path = Path(args.output)
    if path.suffix.lower() in ENVI_SUFFIXES and args.command == "decompress":
        return [path.with_suffix(".hdr"), path.with_suffix(".img") if path.suffix.lower() == ".hdr" else path]
    return [path]


def _refuse_overwrite(args) -> None:
    """Never write over the input; replace an existing output only with --force (as cp -i / ffmpeg -y)."""
    inputs = [Path(v) for v in (getattr(args, "input", None),) if v and v != SAMPLE and Path(v).exists()]
    for out in _outputs(args):
        if any(out.exists() and out.samefile(i) or out.resolve() == i.resolve() for i in inputs):
            raise SceneError(f"{out} is the input file; write the output somewhere else")
        if out.exists() and not out.is_file():
            raise SceneError(f"{out} is a directory or not a regular file; name the file to write")
        if out.exists() and not getattr(args, "force", False):
            raise SceneError(f"{out} exists; pass --force to replace it")
    out_dir = getattr(args, "out", None)
    if args.command == "demo" and out_dir and Path(out_dir).is_dir() and any(Path(out_dir).iterdir()):
        if not (getattr(args, "force", False) or getattr(args, "resume", False)):
            raise SceneError(f"{out_dir} is not empty; pass --force to write the demo's files into it, or --resume "
                             "to finish a stopped demo there")


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0, or 2 for a user error)."""
    args = build_parser().parse_args(argv)
    try:
        _refuse_overwrite(args)  # before minutes of encoding, not after
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
