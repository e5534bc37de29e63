"""``examples/rate_distortion.py`` on a tiny stand-in for Indian Pines: views get codecs of their own."""

import csv
import subprocess
import sys
from pathlib import Path

import scipy.io
from conftest import synthetic_cube

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rate_distortion.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True)


def _codecs(table: Path) -> list[str]:
    with table.open() as f:
        return [row["codec"] for row in csv.DictReader(f)]


def _stand_in(folder: Path) -> Path:
    """A tiny Indian_pines_corrected.mat (the example's preview knows Indian Pines' 200 bands)."""
    mat = folder / "Indian_pines_corrected.mat"
    scipy.io.savemat(mat, {"indian_pines_corrected": synthetic_cube(bands=200, height=32, width=32).transpose(1, 2, 0)})
    return mat


def test_view_codecs_give_views_their_own_codecs(tmp_path):
    """One run holds a whole comparison (issue 15's: four codecs on the scene, two on its quadrants)."""
    mat = _stand_in(tmp_path)
    out = tmp_path / "rd"
    done = _run("--data", str(mat), "--codecs", "jpeg2000", "--views", "whole,q0,q3", "--rates", "0.5",
                "--view-codecs", "q0,q3=pca-jpeg2000", "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert _codecs(out / "whole" / "results.csv") == ["jpeg2000"]
    for name in ("q0", "q3"):
        assert _codecs(out / name / "results.csv") == ["pca-jpeg2000"]
        assert (out / name / "pca-jpeg2000_0.5bpppb.inr").stat().st_size > 0

    for bad, message in ((["--view-codecs", "q0"], "expected VIEWS=CODECS"),
                         (["--view-codecs", "q1=jpeg2000"], "not in --views"),
                         (["--view-codecs", "q9=jpeg2000", "--views", "q9"], "unknown views")):
        refused = _run("--data", str(mat), "--out", str(out), *bad)
        assert refused.returncode == 2 and message in refused.stderr


def test_codec_rates_give_codecs_rates_of_their_own(tmp_path):
    """A codec whose encode at high rates outlasts the time at hand (hiner as published on the whole scene) runs at
    the rates it is given, the others at --rates, in one table."""
    mat = _stand_in(tmp_path)
    out = tmp_path / "rd"
    done = _run("--data", str(mat), "--codecs", "jpeg2000,pca-jpeg2000", "--rates", "0.2,0.5",
                "--codec-rates", "pca-jpeg2000=0.5", "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    with (out / "results.csv").open() as f:
        runs = [(row["codec"], float(row["target"])) for row in csv.DictReader(f)]
    assert runs == [("jpeg2000", 0.2), ("jpeg2000", 0.5), ("pca-jpeg2000", 0.5)]

    for bad, message in ((["--codec-rates", "hiner"], "expected CODECS=RATES"),
                         (["--codec-rates", "hiner=0.1", "--codecs", "jpeg2000"], "no view runs"),
                         (["--codec-rates", "jpeg2000=-1"], "rates must be positive")):
        refused = _run("--data", str(mat), "--out", str(out), *bad)
        assert refused.returncode == 2 and message in refused.stderr
