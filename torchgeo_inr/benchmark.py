"""Rate-distortion runs: encode at each rate, decode every stream in a fresh process, measure.

Decoding in a new interpreter from the file on disk proves that a stream
holds everything needed to rebuild the scene (nothing left over in the
encoder's process) and that the reported rate is the real file size. Quality
is measured on the original grid and dtype, as a user would see it.
Shared by ``torchgeo-inr demo`` and ``examples/rate_distortion.py``.

A long table (hours at the codecs' own step budgets) can be stopped and run
again with ``resume``: each finished run leaves a record beside its stream,
and a record made by the same code, codec options, device and scene stands
in for the encode (its seconds are the original encode's). The stream is
still decoded in a fresh process and measured, so every figure but the
encode time comes from the file on disk.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
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
#: What a run's record says about itself; a record of another version is not reused.
RECORD_VERSION = 1


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
    resume: bool = False,
) -> Result:
    """Encode at ``rate`` bpppb (``options`` go to the codec), write the stream, decode it elsewhere, measure.

    ``resume``: where an earlier run left a matching record (:func:`run_record`) and its stream, reuse the
    encode; the stream is decoded and measured again all the same.
    """
    result = Result(codec, rate, device=device or _default_device(codec))
    stream = out_dir / f"{codec}_{rate:g}bpppb{STREAM_SUFFIX}"
    record_path = stream.with_suffix(".json")
    record = run_record(scene, codec, rate, result.device, options)
    earlier = _matching_record(record_path, record, stream) if resume else None
    if earlier is not None:
        result.encode_s, result.steps, result.stopped = earlier["encode_s"], earlier["steps"], earlier["stopped"]
        result.note = "resumed: encoded by an earlier run" + (f"; {earlier['note']}" if earlier["note"] else "")
        if earlier["stream_sha256"] is None:  # that run had no stream to give (the rate was out of reach)
            return result
    else:
        record_path.unlink(missing_ok=True)  # a record outlives its stream only when both match
        start = time.perf_counter()
        try:
            encoded = encode_with_report(scene, codec, bpppb=rate, device=device, progress=progress,
                                         **(options or {}))  # fmt: skip
        except RateError as err:
            result.note = str(err)
            _write_record(record_path, record, result, None)
            return result
        result.encode_s = time.perf_counter() - start
        result.steps, result.stopped = encoded.report.steps, encoded.report.stopped
        if result.stopped == "interrupted":  # Ctrl-C in the fit, which kept what it had: the table stops here,
            raise KeyboardInterrupt         # and no record says this cut encode was a finished one
        if result.stopped == "time":
            result.note = "fit cut short by its wall-clock cap"
        stream.write_bytes(encoded.data)
        _write_record(record_path, record, result, stream)
    decoded_path = stream.with_suffix(".npy")
    decoded_path.unlink(missing_ok=True)  # an earlier run's (the decoder will not write over a file)
    result.decode_s, result.decode_import_s = decode_in_fresh_process(stream, decoded_path, device)
    quality = quality_report(scene.to_numpy(), np.load(decoded_path, allow_pickle=False), scene.mask)
    result.bytes = stream.stat().st_size
    result.bpppb = bpppb(result.bytes, scene.shape)
    result.psnr_band, result.psnr_global, result.sam = quality["psnr_band"], quality["psnr_global"], quality["sam"]
    result.stream, result.decoded = str(stream), str(decoded_path)
    return result


def run_record(scene: Scene, codec: str, rate: float, device: str, options: dict | None) -> dict:
    """What must match for an earlier encode to stand in for this one: the code (:func:`source_fingerprint`,
    the codec's own module included, for plugins), the codec, rate, options and device, and the scene."""
    cube = scene.to_numpy()
    digest = hashlib.sha256(cube.tobytes())
    digest.update(repr((cube.shape, str(cube.dtype))).encode())
    if scene.mask is not None:
        digest.update(np.ascontiguousarray(scene.mask).tobytes())
    return {
        "record": RECORD_VERSION,
        "source": source_fingerprint(),
        "codec_source": _file_sha256(inspect.getfile(codec_class(codec))),
        "codec": codec,
        "target": rate,
        "options": json.loads(json.dumps(options or {}, sort_keys=True, default=repr)),
        "device": device,
        "scene": digest.hexdigest(),
    }


@lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """sha256 over this package's files (code and shipped weights): any change to the code is another code."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _file_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _write_record(path: Path, record: dict, result: Result, stream: Path | None) -> None:
    done = {"encode_s": result.encode_s, "steps": result.steps, "stopped": result.stopped, "note": result.note,
            "stream_sha256": None if stream is None else _file_sha256(stream)}  # fmt: skip
    path.write_text(json.dumps({**record, **done}, indent=1, sort_keys=True) + "\n")


def _matching_record(path: Path, record: dict, stream: Path) -> dict | None:
    """The earlier run's record at ``path`` if it matches ``record`` and its stream is the one it wrote, else None
    (then the run is encoded again)."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(earlier, dict) or any(earlier.get(key) != value for key, value in record.items()):
        return None
    needed = {"encode_s", "steps", "stopped", "note", "stream_sha256"}
    if not needed <= earlier.keys() or not isinstance(earlier["note"], str):
        return None
    written = earlier["stream_sha256"]
    if written is not None and (not stream.is_file() or _file_sha256(stream) != written):
        return None
    return earlier


def run_table(
    scene: Scene,
    codecs: Sequence[str] | None,
    rates: Sequence[float],
    out_dir,
    *,
    device: str | None = None,
    progress: bool = True,
    options: dict[str, dict] | None = None,
    resume: bool = False,
) -> list[Result]:
    """Every codec (default: all installed) at every rate; streams and decoded cubes go to ``out_dir``.

    ``options`` maps a codec name to the options it is built with (e.g. ``{"hiner": {"steps": 2000}}``).
    ``resume``: reuse the encodes an earlier, stopped run of the same table finished (:func:`run_one`).
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
            try:
                results.append(run_one(scene, codec, rate, out_dir, device=device, progress=progress,
                                       options=(options or {}).get(codec), resume=resume))  # fmt: skip
            except KeyboardInterrupt:
                print(f"\nstopped in {codec} @ {rate:g} bpppb after {len(results)} finished runs; their streams and "
                      f"records are in {out_dir}: run the same command with --resume to go on", file=sys.stderr)
                raise
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
