"""A stopped rate-distortion table resumes: finished encodes are reused only by the same code, options and scene."""

from __future__ import annotations

import json

import pytest

from conftest import synthetic_cube
from torchgeo_inr import benchmark
from torchgeo_inr.scene import Scene

RATES = (0.001, 2.0)  # the first out of reach: its note is a finished run too


def _scene(seed: int = 0) -> Scene:
    return Scene(synthetic_cube(bands=12, height=24, width=20, seed=seed))


def _table(tmp_path, scene, **kwargs):
    return benchmark.run_table(scene, ["siren"], RATES, tmp_path, progress=False,
                               options={"siren": {"steps": 30, "seed": 1}}, **kwargs)  # fmt: skip


@pytest.fixture
def encodes(monkeypatch):
    """Counts the encodes run_one starts."""
    calls = []
    real = benchmark.encode_with_report

    def counted(*args, **kwargs):
        calls.append(kwargs["bpppb"])
        return real(*args, **kwargs)

    monkeypatch.setattr(benchmark, "encode_with_report", counted)
    return calls


def test_a_resumed_table_reuses_the_encodes_and_measures_the_streams_again(tmp_path, encodes):
    scene = _scene()
    first = _table(tmp_path, scene)
    assert encodes == list(RATES) and first[1].stream and "cannot reach" in first[0].note
    stream = tmp_path / "siren_2bpppb.inr"
    record = json.loads(stream.with_suffix(".json").read_text())
    assert record["codec"] == "siren" and record["options"] == {"seed": 1, "steps": 30} and record["steps"] == 30
    stream.with_suffix(".npy").unlink()  # measured again from the stream: the decoded cube is rebuilt

    again = _table(tmp_path, scene, resume=True)
    assert encodes == list(RATES)  # nothing encoded again
    assert [r.note.startswith("resumed") for r in again] == [True, True] and "cannot reach" in again[0].note
    for old, new in zip(first, again):
        assert (new.bytes, new.psnr_band, new.sam, new.encode_s, new.steps) == (
            old.bytes, old.psnr_band, old.sam, old.encode_s, old.steps)  # fmt: skip
    assert stream.with_suffix(".npy").is_file() and again[1].decode_s > 0

    _table(tmp_path, scene)  # without resume every run is encoded again
    assert encodes == list(RATES) * 2


def test_a_resume_encodes_again_what_no_longer_matches(tmp_path, encodes):
    scene = _scene()
    _table(tmp_path, scene)
    stream = tmp_path / "siren_2bpppb.inr"
    data = bytearray(stream.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stream.write_bytes(bytes(data))  # a stream that is not the one its record was written for
    again = _table(tmp_path, scene, resume=True)
    assert encodes == [0.001, 2.0, 2.0]
    assert again[0].note.startswith("resumed") and not again[1].note.startswith("resumed")

    _table(tmp_path, _scene(seed=1), resume=True)  # another scene
    assert encodes[3:] == [0.001, 2.0]
    benchmark.run_table(_scene(seed=1), ["siren"], RATES, tmp_path, progress=False, resume=True,
                        options={"siren": {"steps": 31, "seed": 1}})  # other options  # fmt: skip
    assert encodes[5:] == [0.001, 2.0]

    record = stream.with_suffix(".json")
    record.write_text(json.dumps({**json.loads(record.read_text()), "source": "another version of the code"}))
    _table(tmp_path, _scene(seed=1), resume=True)
    assert encodes[7:] == [0.001, 2.0]
    record.write_text("{not json")  # a damaged record is no record
    _table(tmp_path, _scene(seed=1), resume=True)
    assert encodes[9:] == [2.0]


def test_the_source_fingerprint_covers_the_package():
    fingerprint = benchmark.source_fingerprint()
    assert len(fingerprint) == 64 and fingerprint == benchmark.source_fingerprint()


def test_ctrl_c_in_a_fit_stops_the_table_and_leaves_no_record(tmp_path, monkeypatch, encodes):
    """A fit that Ctrl-C stops keeps what it has (``stopped == "interrupted"``); a table must not take that cut
    encode for a finished one (a resume would reuse it) nor go on to the next run."""
    real = benchmark.encode_with_report

    def interrupted(*args, **kwargs):
        encoded = real(*args, **kwargs)
        encoded.report.stopped = "interrupted"
        return encoded

    monkeypatch.setattr(benchmark, "encode_with_report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        benchmark.run_table(_scene(), ["siren"], (2.0, 1.0), tmp_path, progress=False,
                            options={"siren": {"steps": 30, "seed": 1}})  # fmt: skip
    assert encodes == [2.0] and not list(tmp_path.glob("siren_*"))  # 1.0 never started; no stream, no record
