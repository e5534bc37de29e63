"""Rate-distortion runs: encode at each rate, decode every stream in a fresh process, measure.

Decoding in a new interpreter from the file on disk proves that a stream
holds everything needed to rebuild the scene (nothing left over in the
encoder's process) and that the reported rate is the real file size. Quality
is measured on the original grid and dtype, as a user would see it.
Shared by ``torchgeo-inr demo`` and ``examples/rate_distortion.py``.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .codecs.torch_codec import TorchCodec
from .compress import encode_with_report
from .errors import RateError
from .metrics import bpppb, quality_report
from .plotting import plot_preview, plot_rate_distortion
from .registry import available_codecs, codec_class
from .scene import Scene

#: What a stream file is called; ``*.inr`` is what the CLI and .gitignore expect.
STREAM_SUFFIX = ".inr"


@dataclass
class Result:
    """One (codec, rate) run; without a stream, ``note`` says why."""

    codec: str
    target: float
    bpppb: float | None = None
    bytes: int | None = None
    psnr_band: float | None = None
    psnr_global: float | None = None
    sam: float | None = None
    encode_s: float | None = None
    decode_s: float | None = None
    decode_import_s: float | None = None  # the fresh process's library start-up before decode (torch: seconds)
    steps: int | None = None  # training steps of the kept encode (neural codecs)
    stopped: str | None = None  # why its fit ended ("steps", "stalled", "time": the wall-clock cap bit)
    device: str = "auto"
    stream: str = ""
    decoded: str = ""
    note: str = ""


def _default_device(codec: str) -> str:
    """The device a codec picks when given none: CUDA for the neural codecs when there is one."""
    if not issubclass(codec_class(codec), TorchCodec):
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def decode_in_fresh_process(stream: Path, out: Path, device: str | None = None) -> tuple[float, float]:
    """Decode ``stream`` to ``out`` with ``python -m torchgeo_inr decompress``: (decode s, library import s)."""
    command = [sys.executable, "-m", "torchgeo_inr", "decompress", str(stream), "-o", str(out), "--json"]
    if device:
        command += ["--device", device]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"decoding {stream} in a fresh process failed:\n{done.stderr.strip()}")
    timings = json.loads(done.stdout)
    return float(timings["seconds"]), float(timings["import_seconds"])


def run_one(
    scene: Scene,
    codec: str,
    rate: float,
    out_dir: Path,
    *,
    device: str | None = None,
    progress: bool = True,
    options: dict | None = None,
) -> Result:
    """Encode at ``rate`` bpppb (``options`` go to the codec), write the stream, decode it elsewhere, measure."""
    result = Result(codec, rate, device=device or _default_device(codec))
    start = time.perf_counter()
    try:
        encoded = encode_with_report(scene, codec, bpppb=rate, device=device, progress=progress, **(options or {}))
    except RateError as err:
        result.note = str(err)
        return result
    result.encode_s = time.perf_counter() - start
    data = encoded.data
    result.steps, result.stopped = encoded.report.steps, encoded.report.stopped
    if result.stopped == "time":
        result.note = "fit cut short by its wall-clock cap"
    stream = out_dir / f"{codec}_{rate:g}bpppb{STREAM_SUFFIX}"
    stream.write_bytes(data)
    decoded_path = stream.with_suffix(".npy")
    result.decode_s, result.decode_import_s = decode_in_fresh_process(stream, decoded_path, device)
    quality = quality_report(scene.to_numpy(), np.load(decoded_path, allow_pickle=False), scene.mask)
    result.bytes = stream.stat().st_size
    result.bpppb = bpppb(result.bytes, scene.shape)
    result.psnr_band, result.psnr_global, result.sam = quality["psnr_band"], quality["psnr_global"], quality["sam"]
    result.stream, result.decoded = str(stream), str(decoded_path)
    return result


def run_table(
    scene: Scene,
    codecs: Sequence[str] | None,
    rates: Sequence[float],
    out_dir,
    *,
    device: str | None = None,
    progress: bool = True,
    options: dict[str, dict] | None = None,
) -> list[Result]:
    """Every codec (default: all installed) at every rate; streams and decoded cubes go to ``out_dir``.

    ``options`` maps a codec name to the options it is built with (e.g. ``{"hiner": {"steps": 2000}}``).
    """
    codecs = list(codecs or available_codecs())
    for name in codecs:  # an unknown name fails now, not after minutes of encoding
        codec_class(name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with tqdm([(c, r) for c in codecs for r in rates], desc="rate-distortion", unit="run", disable=not progress) as bar:
        for codec, rate in bar:
            bar.set_postfix_str(f"{codec} @ {rate:g} bpppb")
            results.append(run_one(scene, codec, rate, out_dir, device=device, progress=progress,
                                   options=(options or {}).get(codec)))  # fmt: skip
    return results


def fit_budgets(codecs: Sequence[str] | None, steps: int | None, seconds: float | None = None) -> dict[str, dict]:
    """``{"steps": steps, "max_seconds": seconds}`` (those given) for every codec that fits with the training loop."""
    import inspect

    out = {}
    for name in codecs or available_codecs():
        cls = codec_class(name)
        parameters = inspect.signature(cls.__init__).parameters
        budget = {key: value for key, value in (("steps", steps), ("max_seconds", seconds))
                  if value is not None and key in parameters}
        if budget and cls.trains:
            out[name] = budget
    return out


def _cell(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(results: Sequence[Result]) -> str:
    """A markdown table of the runs (readable in a terminal too)."""
    head = ["codec", "target", "bpppb", "bytes", "PSNR band dB", "PSNR global dB", "SAM deg",
            "encode s", "steps", "decode s", "import s", "device", "note"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r.codec, f"{r.target:g}", _cell(r.bpppb, 4), "-" if r.bytes is None else str(r.bytes),
                 _cell(r.psnr_band, 2), _cell(r.psnr_global, 2), _cell(r.sam, 3),
                 _cell(r.encode_s, 2), "-" if r.steps is None else str(r.steps), _cell(r.decode_s, 2), _cell(r.decode_import_s, 2), r.device, r.note]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(results: Sequence[Result], path) -> Path:
    """One row per run, every field of :class:`Result`."""
    path = Path(path)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[field.name for field in fields(Result)])
        writer.writeheader()
        writer.writerows(asdict(r) for r in results)
    return path


def preview_rate(results: Sequence[Result]) -> float:
    """The rate with the most decoded streams (the lowest such rate): where codecs differ most visibly."""
    rates = sorted({r.target for r in results})
    return max(rates, key=lambda rate: (sum(bool(r.stream) for r in results if r.target == rate), -rate))


def save_results(scene: Scene, results: Sequence[Result], out_dir, *, title: str) -> list[Path]:
    """``results.csv``, ``rate_distortion.png`` and ``preview.png`` (false colour at one rate) in ``out_dir``."""
    out_dir = Path(out_dir)
    rate = preview_rate(results)
    decoded = {
        f"{r.codec}\n{r.bpppb:.3f} bpppb, {r.psnr_band:.1f} dB": np.load(r.decoded, allow_pickle=False)
        for r in results
        if r.target == rate and r.stream
    }
    return [
        write_csv(results, out_dir / "results.csv"),
        plot_rate_distortion([asdict(r) for r in results], out_dir / "rate_distortion.png", title=title),
        plot_preview(scene.to_numpy(), decoded, scene.wavelengths, out_dir / "preview.png",
                     title=f"{title}: {rate:g} bpppb"),  # fmt: skip
    ]
