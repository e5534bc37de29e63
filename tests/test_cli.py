"""The ``torchgeo-inr`` command line, through ``main([...])`` on tiny scenes: CPU, seconds."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import synthetic_cube

from torchgeo_inr.cli import main
from torchgeo_inr.io import read_scene
from torchgeo_inr.registry import available_codecs
from torchgeo_inr.sample import SAMPLE_PATH, load_sample

CODEC = "pca-jpeg2000"
RATE = "2"  # the tiny cube's smallest streams are near 1 bpppb


@pytest.fixture
def scene_file(tmp_path):
    path = tmp_path / "scene.npy"
    np.save(path, synthetic_cube())
    return path


@pytest.fixture
def stream(tmp_path, scene_file):
    path = tmp_path / "scene.inr"
    assert main(["compress", str(scene_file), "-o", str(path), "--codec", CODEC, "--bpppb", RATE, "--no-progress"]) == 0
    return path


def run_error(capsys, argv) -> str:
    """Run a command that must fail as a user error: exit 2, one line on stderr, no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("torchgeo-inr: error: ")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    return err


def test_compress_decompress_info_round_trip(tmp_path, capsys, scene_file, stream):
    out = capsys.readouterr().out
    assert CODEC in out and f"{stream.stat().st_size} bytes" in out
    bpppb = float(out.split(": ")[1].split(" bpppb")[0])
    assert 0.9 * float(RATE) <= bpppb <= float(RATE)
    assert bpppb == pytest.approx(8 * stream.stat().st_size / synthetic_cube().size, abs=1e-4)

    decoded = tmp_path / "decoded.npy"
    assert main(["decompress", str(stream), "-o", str(decoded)]) == 0
    assert "12 x 24 x 20, uint16" in capsys.readouterr().out
    values = np.load(decoded)
    assert values.shape == synthetic_cube().shape and values.dtype == np.uint16
    assert np.abs(values.astype(float) - synthetic_cube()).mean() < 50

    assert main(["info", str(stream)]) == 0
    out = capsys.readouterr().out
    assert CODEC in out and "12 x 24 x 20" in out and "vs 16-bit" in out and "j2k" in out


def test_decompress_json_times_the_decode_apart_from_library_start_up(tmp_path, capsys, stream):
    capsys.readouterr()
    assert main(["decompress", str(stream), "-o", str(tmp_path / "d.npy"), "--json"]) == 0
    timings = json.loads(capsys.readouterr().out)
    assert timings["seconds"] > 0 and timings["import_seconds"] >= 0
    assert timings["shape"] == list(synthetic_cube().shape)


@pytest.mark.parametrize("codec", ["hiner", "latent-grid", "siren", "meta-siren"])
def test_torch_codecs_load_torch_before_a_timed_decode(codec):
    from torchgeo_inr.registry import codec_class

    cls = codec_class(codec)
    assert "torch" in cls.libraries + cls.device_libraries  # latent-grid: only off the CPU (numpy decodes there)
    cls.load_libraries("cuda")  # imports only: no GPU needed
    assert "torch" in sys.modules


@pytest.mark.parametrize("suffix", [".npy", ".mat", ".tif"])
def test_decompress_formats(tmp_path, stream, suffix):
    out = tmp_path / f"decoded{suffix}"
    assert main(["decompress", str(stream), "-o", str(out)]) == 0
    scene = read_scene(out)
    assert scene.shape == synthetic_cube().shape
    assert scene.dtype == np.uint16


def test_info_json(capsys, stream):
    capsys.readouterr()
    assert main(["info", str(stream), "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["codec"] == CODEC
    assert meta["shape"] == [12, 24, 20] and meta["dtype"] == "uint16"
    assert meta["bytes"] == stream.stat().st_size
    assert meta["compression_ratio"] == pytest.approx(16 / meta["bpppb"])
    assert sum(meta["sections"].values()) < meta["bytes"]


def test_evaluate_decoded_file_and_stream(tmp_path, capsys, scene_file, stream):
    decoded = tmp_path / "decoded.tif"
    assert main(["decompress", str(stream), "-o", str(decoded)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(scene_file), str(decoded), "--json"]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert from_file["psnr_band"] > 30 and "bpppb" not in from_file

    assert main(["evaluate", str(scene_file), str(stream)]) == 0
    out = capsys.readouterr().out
    assert f"{from_file['psnr_band']:.2f} dB" in out and "SAM" in out and "bpppb" in out


def test_missing_input_file(tmp_path, capsys):
    err = run_error(capsys, ["compress", str(tmp_path / "nope.npy"), "-o", str(tmp_path / "x.inr")])
    assert "no such file" in err and "nope.npy" in err
    err = run_error(capsys, ["decompress", str(tmp_path / "nope.inr"), "-o", str(tmp_path / "x.npy")])
    assert "No such file" in err and "nope.inr" in err


def test_unknown_codec(tmp_path, capsys, scene_file):
    err = run_error(capsys, ["compress", str(scene_file), "-o", str(tmp_path / "x.inr"), "--codec", "nope"])
    assert "no codec named 'nope'" in err and CODEC in err


def test_damaged_stream(tmp_path, capsys, stream):
    data = bytearray(stream.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.inr"
    damaged.write_bytes(bytes(data))
    err = run_error(capsys, ["decompress", str(damaged), "-o", str(tmp_path / "x.npy")])
    assert "checksum mismatch" in err and "damaged" in err
    assert not (tmp_path / "x.npy").exists()
    assert "checksum mismatch" in run_error(capsys, ["info", str(damaged)])


def test_bad_rates_are_an_argument_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--rates", "0.1,fast"])
    assert exit_info.value.code == 2
    assert "rates must be positive numbers" in capsys.readouterr().err


def test_codecs_lists_the_registry(capsys):
    assert main(["codecs"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == available_codecs()


def test_python_dash_m(capsys):
    done = subprocess.run([sys.executable, "-m", "torchgeo_inr", "codecs"], capture_output=True, text=True, check=True)
    assert CODEC in done.stdout


def test_demo(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--codecs", CODEC, "--rates", "0.001,0.5", "--no-progress"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "| codec | target | bpppb |" in table
    assert f"| {CODEC} | 0.5 | 0.4" in table
    assert f"| {CODEC} | 0.001 | - |" in table and "cannot reach" in table  # a row, not a crash
    for name in ("results.csv", "rate_distortion.png", "preview.png", f"{CODEC}_0.5bpppb.inr"):
        assert (out / name).stat().st_size > 0
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [row["target"] for row in rows] == ["0.001", "0.5"]
    assert float(rows[1]["psnr_band"]) > 30 and float(rows[1]["decode_s"]) > 0

    refused = run_error(capsys, argv)
    assert "pass --force" in refused and "--resume" in refused
    assert main(argv + ["--force"]) == 0  # into a folder an earlier demo filled: its decoded cubes are replaced
    assert f"| {CODEC} | 0.5 | 0.4" in capsys.readouterr().out
    assert main(argv + ["--resume"]) == 0
    assert "resumed: encoded by an earlier run" in capsys.readouterr().out


def test_demo_gives_neural_codecs_a_step_budget(tmp_path, capsys):
    from torchgeo_inr.benchmark import fit_budgets

    budgets = fit_budgets(None, 300)
    assert budgets["hiner"] == budgets["siren"] == budgets["latent-grid"] == {"steps": 300}
    assert "jpeg2000" not in budgets and "pca-jpeg2000" not in budgets and "meta-siren" not in budgets
    assert fit_budgets(["siren"], 300, 2.0) == {"siren": {"steps": 300, "max_seconds": 2.0}}
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--codecs", "siren", "--rates", "2.0", "--steps", "100", "--no-progress"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "| siren | 2 | 1." in table and "| 100 |" in table  # steps column: what the fit ran


def test_compress_json_reports_the_encode_and_takes_codec_options(tmp_path, capsys, scene_file):
    out = tmp_path / "s.inr"
    argv = ["compress", str(scene_file), "-o", str(out), "--codec", "siren", "--bpppb", "4", "-O", "steps=40",
            "-O", "seed=3", "--json", "--no-progress"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["codec"] == "siren" and report["bytes"] == out.stat().st_size
    assert report["steps"] >= 40 and report["stopped"] in ("steps", "stalled") and report["target_bpppb"] == 4.0
    assert 3.6 <= report["bpppb"] <= 4.0 and report["attempts"]
    with pytest.raises(SystemExit) as exit_info:
        main(["compress", str(scene_file), "-o", str(tmp_path / "x.inr"), "-O", "steps"])
    assert exit_info.value.code == 2 and "NAME=VALUE" in capsys.readouterr().err


def test_sample():
    scene = load_sample()
    assert scene.shape == (200, 56, 56)
    assert scene.to_numpy().dtype == np.uint16
    assert scene.wavelengths.shape == (200,) and 390 < scene.wavelengths.min() < scene.wavelengths.max() < 2510
    assert SAMPLE_PATH.stat().st_size < 1_000_000
