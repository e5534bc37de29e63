"""Hostile and broken input (issue 17): nothing silently wrong, nothing lost, no memory bombs, one kind of error.

Each test is one instance of a kind, at the place where the kind enters.
Hostile streams are rebuilt with :func:`bitstream.pack`, which signs them
with a valid CRC: a CRC protects against accidents, not attackers.
"""

from __future__ import annotations

import json
import os
import struct
import time
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from conftest import synthetic_cube

from torchgeo_inr import bitstream, limits
from torchgeo_inr.cli import main
from torchgeo_inr.codecs import j2k
from torchgeo_inr.compress import decode, encode, info
from torchgeo_inr.errors import BitstreamError, InrError, LimitError, RateError, SceneError
from torchgeo_inr.io import WavelengthWarning, read_scene, read_stream_file, write_scene
from torchgeo_inr.ratecontrol import Target
from torchgeo_inr.scene import Scene, restore_dtype

CODECS = ("jpeg2000", "pca-jpeg2000")
RATE = 4.0  # the tiny cube's streams are near 1 bpppb at the smallest


@pytest.fixture(scope="module")
def streams() -> dict[str, bytes]:
    cube = synthetic_cube(bands=6, height=16, width=16)
    return {name: encode(cube, name, bpppb=RATE, progress=False) for name in CODECS}


def rebuilt(data: bytes, *, header=None, scene=None, sections=None, codec_version=None) -> bytes:
    """The stream with parts replaced, re-signed with a valid CRC."""
    s = bitstream.unpack(data)
    head = dict(s.header if header is None else header)
    if scene is not None:
        head["scene"] = scene
    return bitstream.pack(
        s.codec, s.codec_version if codec_version is None else codec_version, head, sections or s.sections
    )


def with_raw_header(data: bytes, head: bytes) -> bytes:
    """The stream with its JSON header bytes replaced verbatim (what json.dumps cannot write), CRC re-signed."""
    name_len = data[6]
    start = 7 + name_len + 2
    (old_len,) = struct.unpack("<I", data[start : start + 4])
    body = data[:start] + struct.pack("<I", len(head)) + head + data[start + 4 + old_len : -4]
    return body + struct.pack("<I", zlib.crc32(body))


# -- 1. data lost: the CLI --------------------------------------------------------------
@pytest.fixture
def scene_file(tmp_path):
    path = tmp_path / "scene.npy"
    np.save(path, synthetic_cube(bands=6, height=16, width=16))
    return path


def compress_argv(src, out, *extra):
    return ["compress", str(src), "-o", str(out), "--codec", "jpeg2000", "--bpppb", str(RATE), "--no-progress", *extra]


def test_cli_never_writes_over_its_input(scene_file, capsys):
    before = scene_file.read_bytes()
    assert main(compress_argv(scene_file, scene_file)) == 2
    assert main(compress_argv(scene_file, scene_file, "--force")) == 2
    assert "is the input file" in capsys.readouterr().err
    assert scene_file.read_bytes() == before
    stream = scene_file.with_suffix(".inr")
    assert main(compress_argv(scene_file, stream)) == 0
    assert main(["decompress", str(stream), "-o", str(stream), "--force"]) == 2
    assert bitstream.is_stream(stream.read_bytes())


def test_cli_replaces_an_output_only_with_force(scene_file, tmp_path, capsys):
    stream = tmp_path / "out.inr"
    stream.write_bytes(b"precious")
    assert main(compress_argv(scene_file, stream)) == 2
    assert "pass --force" in capsys.readouterr().err and stream.read_bytes() == b"precious"
    assert main(compress_argv(scene_file, stream, "--force")) == 0
    decoded = tmp_path / "decoded.npy"
    decoded.write_bytes(b"precious")
    assert main(["decompress", str(stream), "-o", str(decoded)]) == 2
    assert decoded.read_bytes() == b"precious"
    assert main(["decompress", str(stream), "-o", str(decoded), "--force"]) == 0
    assert np.load(decoded).shape == (6, 16, 16)


# -- 2. silently wrong answers ----------------------------------------------------------
@pytest.mark.parametrize("dtype", ["int32", "uint32", "int16", "uint8"])
def test_integer_top_of_range_saturates_instead_of_wrapping(dtype):
    info_ = np.iinfo(dtype)
    values = np.array([info_.min, info_.max, 1e30, -1e30], dtype=np.float32)
    assert restore_dtype(values, dtype).tolist() == [info_.min, info_.max, info_.max, info_.min]


def test_uint32_scene_near_the_top_comes_back_near_the_top():
    cube = np.full((4, 16, 16), 2**32 - 1, dtype=np.uint32)
    cube[:, :8] = 2**32 - 2**20
    back = decode(encode(cube, "jpeg2000", bpppb=8.0, progress=False)).to_numpy()
    assert back.dtype == np.uint32
    assert back.min() >= 2**31  # nothing wrapped around to small values


def test_truncated_envi_data_is_an_error(tmp_path):
    write_scene(Scene.from_array(synthetic_cube(bands=3, height=4, width=5)), tmp_path / "a.hdr")
    with open(tmp_path / "a.img", "r+b") as f:
        f.truncate(50)
    with pytest.raises(SceneError, match="truncated"):
        read_scene(tmp_path / "a.hdr")


def test_wavelength_list_of_the_wrong_length_is_said(tmp_path):
    scene = Scene.from_array(synthetic_cube(bands=3, height=4, width=5), wavelengths=[400, 500, 600])
    write_scene(scene, tmp_path / "a.hdr")
    (tmp_path / "a.img.aux.xml").unlink(missing_ok=True)  # per-band tags would stand in
    header = (tmp_path / "a.hdr").read_text()
    (tmp_path / "a.hdr").write_text(header.replace("{400.0, 500.0, 600.0}", "{400.0, 500.0}"))
    with pytest.warns(WavelengthWarning, match="2 wavelengths for 3 bands"):
        assert read_scene(tmp_path / "a.hdr").wavelengths is None


def test_mat_wavelengths_of_the_wrong_length_are_said(tmp_path):
    import scipy.io

    scipy.io.savemat(tmp_path / "a.mat", {"data": np.ones((4, 5, 3)), "wavelengths": np.arange(7.0)})
    with pytest.warns(WavelengthWarning, match="7 wavelengths for 3 bands"):
        assert read_scene(tmp_path / "a.mat").wavelengths is None


@pytest.fixture
def zarr_store(tmp_path):
    xr = pytest.importorskip("xarray")
    from torchgeo_inr.plugins.zarr_store import to_zarr

    da = xr.DataArray(synthetic_cube(bands=6, height=32, width=32), dims=("band", "y", "x"), name="reflectance")
    path = tmp_path / "s.zarr"
    to_zarr(da, path, bpppb=8.0, tile=16, codec="pca-jpeg2000")
    return path


def test_zarr_swapped_chunks_are_an_error(zarr_store):
    import zarr
    from torchgeo_inr.plugins.zarr_codec import ChunkDecodeError
    from torchgeo_inr.plugins.zarr_store import verify

    assert verify(zarr_store) == []
    row = zarr_store / "reflectance" / "c" / "0" / "0"
    a, b = (row / "0").read_bytes(), (row / "1").read_bytes()
    (row / "0").write_bytes(b)
    (row / "1").write_bytes(a)
    with pytest.raises(ChunkDecodeError, match="swapped"):
        zarr.open(str(zarr_store), mode="r")["reflectance"][:]
    assert sorted(d.key for d in verify(zarr_store)) == ["c/0/0/0", "c/0/0/1"]


def test_zarr_deleted_chunk_is_reported_missing(zarr_store):
    from torchgeo_inr.plugins.zarr_store import verify

    (zarr_store / "reflectance" / "c" / "0" / "1" / "1").unlink()
    (found,) = verify(zarr_store)
    assert found.key == "c/0/1/1" and "missing" in found.error


# -- 3. memory bombs -------------------------------------------------------------------
def test_tiny_stream_claiming_a_huge_scene_is_refused(streams):
    data = streams["jpeg2000"]
    scene = bitstream.unpack(data).header["scene"]
    for shape in ([8, 2048, 2048], [65536, 16, 16], [2**30, 2**30, 2**30]):
        bomb = rebuilt(data, scene={**scene, "shape": shape})
        with pytest.raises(LimitError):
            decode(bomb)
        with pytest.raises(LimitError):
            info(bomb)


def test_declared_elements_capped_by_a_limit_a_user_can_raise(streams, monkeypatch):
    data = streams["pca-jpeg2000"]
    monkeypatch.setattr(limits, "MAX_DECODED_ELEMENTS", 100)
    with pytest.raises(LimitError, match="MAX_DECODED_ELEMENTS"):
        decode(data)
    monkeypatch.setattr(limits, "MAX_DECODED_ELEMENTS", 2**30)
    assert decode(data).shape == (6, 16, 16)


def _zeros_deflated(n_bytes: int) -> bytes:
    z = zlib.compressobj(9)
    block = bytes(2**20)
    return b"".join(z.compress(block) for _ in range(n_bytes // len(block))) + z.flush()


def test_mask_bomb_refused_before_it_inflates(streams, monkeypatch):
    data = streams["jpeg2000"]
    scene = bitstream.unpack(data).header["scene"]
    bomb = _zeros_deflated(64 * 2**20)  # 64 MiB of mask in about 64 KB
    sections = {**bitstream.unpack(data).sections, "mask": bomb}
    hostile = rebuilt(data, scene={**scene, "shape": [32, 4096, 4096]}, sections=sections)
    monkeypatch.setattr(limits, "MAX_ELEMENTS_PER_STREAM_BYTE", 2**20)  # let the mask itself be the test
    monkeypatch.setattr(limits, "MAX_INFLATED_SECTION_BYTES", 2**20)
    tracemalloc.start()
    try:
        with pytest.raises(LimitError, match="MAX_INFLATED_SECTION_BYTES"):
            decode(hostile)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20
    # A mask section too short for what the header implies is refused without inflating it.
    small = {**sections, "mask": zlib.compress(b"\x00" * 100)}
    with pytest.raises(BitstreamError, match="cannot hold"):
        decode(rebuilt(data, scene={**scene, "shape": [6, 160, 160]}, sections=small))


def test_j2k_declared_size_checked_before_decoding():
    codestream = j2k.encode(np.zeros((16, 16), np.uint16), 40.0)
    huge = codestream[:8] + struct.pack(">II", 60000, 60000) + codestream[16:]
    start = time.perf_counter()
    with pytest.raises(LimitError, match="MAX_J2K_PIXELS"):
        j2k.decode(huge, (16, 16))
    assert time.perf_counter() - start < 1.0
    other = codestream[:8] + struct.pack(">II", 32, 16) + codestream[16:]
    with pytest.raises(BitstreamError, match="declares"):
        j2k.decode(other, (16, 16))


def test_j2k_section_declaring_a_huge_image_in_a_stream(streams):
    data = streams["jpeg2000"]
    s = bitstream.unpack(data)
    main_header = s.sections["j2k_main"]
    huge = main_header[:8] + struct.pack(">II", 60000, 60000) + main_header[16:]
    with pytest.raises(BitstreamError):
        decode(rebuilt(data, sections={**s.sections, "j2k_main": huge}))


def test_info_on_a_device_or_directory_returns(tmp_path, capsys):
    if os.path.exists("/dev/zero"):
        assert main(["info", "/dev/zero"]) == 2
    assert main(["info", str(tmp_path)]) == 2
    assert main(["decompress", str(tmp_path), "-o", str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert "not a regular file" in err and "directory" in err and "Traceback" not in err


def test_stream_file_read_up_to_a_limit(tmp_path, monkeypatch):
    path = tmp_path / "big.inr"
    path.write_bytes(b"TGINR" + bytes(1000))
    monkeypatch.setattr(limits, "MAX_STREAM_BYTES", 100)
    with pytest.raises(LimitError):
        read_stream_file(path)


# -- 4. errors of the wrong kind -----------------------------------------------------------
def test_hundred_thousand_digit_number_in_header(streams):
    head = b'{"scene":{"shape":[6,16,16],"dtype":"uint16"},"x":' + b"9" * 100_000 + b"}"
    with pytest.raises(BitstreamError, match="not valid JSON"):
        bitstream.unpack(with_raw_header(streams["jpeg2000"], head))


@pytest.mark.parametrize("depth", [200, 100_000])
def test_deeply_nested_header(streams, depth):
    head = b'{"x":' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(BitstreamError):
        bitstream.unpack(with_raw_header(streams["jpeg2000"], head))


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_header_numbers(streams, number):
    head = b'{"scene":{"shape":[6,16,16],"dtype":"uint16","nodata":' + number + b"}}"
    with pytest.raises(BitstreamError):
        bitstream.unpack(with_raw_header(streams["jpeg2000"], head))


def test_float64_beyond_float32_is_a_scene_error():
    cube = np.ones((2, 8, 8))
    cube[0, 0, 0] = 1e300
    with pytest.raises(SceneError, match="float32"):
        Scene.from_array(cube)
    with pytest.raises(SceneError):
        encode(cube, "pca-jpeg2000", bpppb=RATE, progress=False)


def test_directory_is_a_package_error(tmp_path):
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(SceneError, match="directory"):
        read_scene(tmp_path / "d.npy")
    with pytest.raises(SceneError, match="directory"):
        read_stream_file(tmp_path)


# -- 5. accepted without a word -------------------------------------------------------------
def test_absurd_rate_refused(scene_file, tmp_path, capsys):
    with pytest.raises(RateError, match="64"):
        Target.from_args(1e9, None, (6, 16, 16))
    assert Target.from_args(64, None, (6, 16, 16)).bpppb == 64
    assert main(["compress", str(scene_file), "-o", str(tmp_path / "x.inr"), "--bpppb", "1e9"]) == 2
    assert "bpppb" in capsys.readouterr().err


def test_unknown_scene_field_refused(streams):
    data = streams["jpeg2000"]
    scene = bitstream.unpack(data).header["scene"]
    with pytest.raises(BitstreamError, match="does not know"):
        decode(rebuilt(data, scene={**scene, "colour": "blue"}))


def test_codec_version_zero_refused(streams):
    with pytest.raises(BitstreamError, match="codec version 0"):
        decode(rebuilt(streams["jpeg2000"], codec_version=0))


# -- a small fuzz: hostile values in every header field, CRC re-signed ------------------------
HOSTILE = [-1, 0, 2**63, 10**30, 1.5, -1e308, "x", "", None, True, [], [[[]]], {"a": 1}, [2**31] * 3]


@pytest.mark.parametrize("codec", CODECS)
def test_hostile_header_values_give_a_package_error_or_a_correct_decode(streams, codec):
    data = streams[codec]
    s = bitstream.unpack(data)
    good = decode(data).to_numpy()
    cases = [(("header", k), v) for k in s.header if k != "scene" for v in HOSTILE]
    cases += [(("scene", k), v) for k in (*s.header["scene"], "nodata", "crs", "transform", "chunk") for v in HOSTILE]
    outcomes = {"error": 0, "decode": 0}
    for (where, key), value in cases:
        header = json.loads(json.dumps(s.header))
        (header if where == "header" else header["scene"])[key] = value
        start = time.perf_counter()
        try:
            back = decode(bitstream.pack(s.codec, s.codec_version, header, s.sections))
        except InrError:
            outcomes["error"] += 1
        else:
            outcomes["decode"] += 1
            assert back.shape == good.shape, (where, key, value)
        assert time.perf_counter() - start < 5, (where, key, value)
    assert outcomes["error"] > 0


@pytest.mark.parametrize("codec", CODECS)
def test_hostile_section_table(streams, codec):
    """Sections swapped, emptied, doubled or cut, with a valid CRC: a package error or a correct decode."""
    s = bitstream.unpack(streams[codec])
    names = list(s.sections)
    variants = []
    for name in names:
        variants.append({**s.sections, name: b""})
        variants.append({**s.sections, name: s.sections[name][: len(s.sections[name]) // 2]})
        variants.append({**s.sections, name: s.sections[name] * 2})
        variants.append({k: v for k, v in s.sections.items() if k != name})
    variants.append(dict(zip(names, reversed(list(s.sections.values())), strict=True)))
    for sections in variants:
        try:
            back = decode(bitstream.pack(s.codec, s.codec_version, s.header, sections))
        except InrError:
            continue
        assert back.shape == (6, 16, 16)


# -- .inrx archives ----------------------------------------------------------------------------
@pytest.fixture
def archive(tmp_path):
    xr = pytest.importorskip("xarray")
    from torchgeo_inr.plugins.archive import to_file

    da = xr.DataArray(synthetic_cube(bands=6, height=16, width=16), dims=("band", "y", "x"), name="reflectance")
    form = da.inr.compress(bpppb=RATE, codec="jpeg2000", progress=False)
    return to_file(form, tmp_path / "a.inrx")


def rewrite_index(path, change) -> None:
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    index = json.loads(members["torchgeo_inr.json"])
    members["torchgeo_inr.json"] = change(index)
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob if isinstance(blob, bytes) else json.dumps(blob).encode())


@pytest.mark.parametrize("version", [-1, 0, True, 1.0, "1"])
def test_archive_version_must_be_a_known_one(archive, version):
    from torchgeo_inr.plugins.archive import open_compressed

    rewrite_index(archive, lambda index: {**index, "version": version})
    with pytest.raises(BitstreamError, match="version"):
        open_compressed(archive)


def test_archive_deeply_nested_index(archive):
    from torchgeo_inr.plugins.archive import open_compressed

    for depth in (100, 100_000):
        nested = b"[" * depth + b"]" * depth
        rewrite_index(archive, lambda index, nested=nested: json.dumps(index).encode()[:-1] + b',"x":' + nested + b"}")
        with pytest.raises(BitstreamError):
            open_compressed(archive)


def _patch_declared_size(path, member: str, size: int) -> None:
    """Set a member's declared (uncompressed) size in its local header and the central directory."""
    raw = bytearray(path.read_bytes())
    name = member.encode()
    pos = 0
    while (pos := raw.find(b"PK\x03\x04", pos)) >= 0:
        if raw[pos + 30 : pos + 30 + len(name)] == name:
            raw[pos + 22 : pos + 26] = struct.pack("<I", size)
        pos += 4
    pos = 0
    while (pos := raw.find(b"PK\x01\x02", pos)) >= 0:
        if raw[pos + 46 : pos + 46 + len(name)] == name:
            raw[pos + 24 : pos + 28] = struct.pack("<I", size)
        pos += 4
    path.write_bytes(bytes(raw))


def test_archive_member_claiming_more_than_it_can_hold(archive):
    from torchgeo_inr.plugins.archive import open_compressed

    _patch_declared_size(archive, "torchgeo_inr.json", 2**30)
    with pytest.raises(LimitError):
        open_compressed(archive)


def test_archive_member_inflating_beyond_its_declared_size(archive, monkeypatch):
    """A deflate bomb whose directory lies about its size is read only up to that size."""
    from torchgeo_inr.plugins.archive import open_compressed

    with zipfile.ZipFile(archive, "a") as z:
        z.writestr("arrays/bomb.npy", bytes(32 * 2**20), compress_type=zipfile.ZIP_DEFLATED)
    rewrite = lambda index: {**index, "attrs": {"bomb": {"__ndarray__": "arrays/bomb.npy"}}}  # noqa: E731
    with zipfile.ZipFile(archive) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    index = rewrite(json.loads(members["torchgeo_inr.json"]))
    members["torchgeo_inr.json"] = json.dumps(index).encode()
    with zipfile.ZipFile(archive, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob, compress_type=zipfile.ZIP_DEFLATED)
    _patch_declared_size(archive, "arrays/bomb.npy", 40_000)
    tracemalloc.start()
    try:
        with pytest.raises(BitstreamError):
            open_compressed(archive)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


def test_archive_limits_can_be_lowered(archive, monkeypatch):
    from torchgeo_inr.plugins.archive import open_compressed

    monkeypatch.setattr(limits, "MAX_ARCHIVE_MEMBER_BYTES", 10)
    with pytest.raises(LimitError, match="more than the limit"):
        open_compressed(archive)


def test_archive_that_is_a_directory(tmp_path):
    pytest.importorskip("xarray")
    from torchgeo_inr.plugins.archive import open_compressed

    with pytest.raises(SceneError, match="not a regular file"):
        open_compressed(tmp_path)


def test_matching_wavelengths_read_without_a_warning(tmp_path):
    """A scene whose wavelengths fit its bands reads without a WavelengthWarning."""
    scene = Scene.from_array(synthetic_cube(bands=3, height=4, width=5), wavelengths=[400, 500, 600])
    write_scene(scene, tmp_path / "a.hdr")
    with warnings.catch_warnings():
        warnings.simplefilter("error", WavelengthWarning)
        assert read_scene(tmp_path / "a.hdr").wavelengths.tolist() == [400, 500, 600]
