"""The Zarr chunk codec (v3 serializer, v2 numcodecs compressor), xarray writes and the store checks.

Small synthetic cubes and ``pca-jpeg2000`` with a fixed number of components
(no search), so each chunk encodes in about 0.1 s.
"""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import xarray as xr
import zarr
from conftest import synthetic_cube
from torchgeo_inr.plugins import zarr_store
from torchgeo_inr.plugins.numcodecs_codec import InrNumcodec
from torchgeo_inr.plugins.zarr_codec import (
    CODEC_NAME,
    ChunkDecodeError,
    InrCodec,
    PartialChunkWriteError,
)

import torchgeo_inr as tgi
from torchgeo_inr import bitstream
from torchgeo_inr.metrics import psnr_per_band

BPPPB = 1.0
FAST = {"components": 3, "reweight_iterations": 0}
SHAPE = (16, 48, 40)  # bands, rows, columns
CHUNKS = (16, 24, 24)  # 2 x 2 chunks; the right column of chunks is a 16-pixel-wide edge


@pytest.fixture(scope="module")
def cube() -> np.ndarray:
    return synthetic_cube(*SHAPE, seed=3)


def codec(**kw) -> InrCodec:
    return InrCodec(**{"codec": "pca-jpeg2000", "bpppb": BPPPB, "options": FAST, **kw})


def v3_array(path, data, *, chunks=CHUNKS, **kw):
    arr = zarr.create_array(
        path, shape=data.shape, chunks=chunks, dtype=data.dtype,
        serializer=kw.pop("serializer", codec()), compressors=kw.pop("compressors", None), **kw,
    )  # fmt: skip
    arr[:] = data
    return arr


def chunk_files(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_size
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.name != "zarr.json"
    }


# -- Zarr v3 ------------------------------------------------------------------------
def test_v3_round_trip_rate_and_streams(tmp_path, cube):
    v3_array(tmp_path / "a.zarr", cube)
    back = zarr.open(tmp_path / "a.zarr", mode="r")
    values = back[:]
    assert values.dtype == np.uint16 and values.shape == cube.shape
    assert psnr_per_band(cube, values) > 35
    # Every chunk is one torchgeo-inr stream within the rate; edge chunks hold no padding.
    files = chunk_files(tmp_path / "a.zarr")
    assert sorted(files) == ["c/0/0/0", "c/0/0/1", "c/0/1/0", "c/0/1/1"]
    for key, size in files.items():
        info = tgi.info((tmp_path / "a.zarr" / key).read_bytes())
        assert info["codec"] == "pca-jpeg2000"
        assert info["shape"] == ((16, 24, 24) if key.endswith("/0") else (16, 24, 16))
        assert size <= BPPPB * math.prod(info["shape"]) / 8
    assert 8 * sum(files.values()) / cube.size <= BPPPB
    # Reads of parts, integer and fancy indexing go through the same decode.
    np.testing.assert_array_equal(back[3, 30:40, 17:33], values[3, 30:40, 17:33])
    np.testing.assert_array_equal(back.oindex[[0, 5], :, 7], values[[0, 5], :, 7])
    assert back[2, 3, 4] == values[2, 3, 4]


def test_config_round_trips_through_zarr_json(tmp_path, cube):
    wl = np.linspace(400, 2500, SHAPE[0])
    written = codec(wavelengths=wl)
    v3_array(tmp_path / "a.zarr", cube, serializer=written)
    meta = json.loads((tmp_path / "a.zarr" / "zarr.json").read_text())
    assert meta["codecs"] == [
        {
            "name": CODEC_NAME,
            "configuration": {
                "codec": "pca-jpeg2000",
                "bpppb": BPPPB,
                "band_axis": 0,
                "options": FAST,
                "wavelengths": [float(w) for w in wl],
            },
        }
    ]
    assert InrCodec.from_dict(meta["codecs"][0]) == written
    assert zarr.open(tmp_path / "a.zarr", mode="r").serializer == written
    # A PSNR target and the defaults round-trip too; no weights are ever in the JSON.
    for c in (InrCodec(codec="jpeg2000", psnr=40.0, band_axis=-1), InrCodec()):
        assert InrCodec.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert InrCodec().to_dict()["configuration"] == {"codec": "pca-jpeg2000", "bpppb": 0.1, "band_axis": 0}
    with pytest.raises(ValueError, match="newer torchgeo-inr"):
        InrCodec.from_dict({"name": CODEC_NAME, "configuration": {"codec": "hiner", "future": 1}})
    with pytest.raises(ValueError, match="not both"):
        InrCodec(bpppb=0.1, psnr=40)


def test_other_layouts(tmp_path, cube):
    last = np.ascontiguousarray(np.moveaxis(cube, 0, -1))  # (y, x, band)
    v3_array(tmp_path / "last.zarr", last, chunks=(24, 24, 16), serializer=codec(band_axis=-1))
    assert psnr_per_band(cube, np.moveaxis(zarr.open(tmp_path / "last.zarr")[:], -1, 0)) > 35
    series = np.stack([cube, cube[:, ::-1]])  # (time, band, y, x), one time step per chunk
    v3_array(tmp_path / "t.zarr", series, chunks=(1, 16, 48, 40), serializer=codec(band_axis=-3))
    assert psnr_per_band(series[1], zarr.open(tmp_path / "t.zarr")[1]) > 35


def test_sharded_array(tmp_path, cube):
    arr = v3_array(tmp_path / "s.zarr", cube, shards=(16, 48, 48))
    assert [c["name"] for c in json.loads((tmp_path / "s.zarr" / "zarr.json").read_text())["codecs"]] == [
        "sharding_indexed"
    ]
    assert sorted(chunk_files(tmp_path / "s.zarr")) == ["c/0/0/0"]
    values = zarr.open(tmp_path / "s.zarr", mode="r")[:]
    assert psnr_per_band(cube, values) > 35
    with pytest.raises(PartialChunkWriteError, match=r"inner chunk \(0, 0, 0\) of a shard"):
        arr[0, :5, :5] = 7


def test_fused_pipeline(tmp_path, cube):
    """zarr's synchronous pipeline takes the codec's sync partial methods: same names, same refusals."""
    with zarr.config.set({"codec_pipeline.path": "zarr.core.codec_pipeline.FusedCodecPipeline"}):
        arr = v3_array(tmp_path / "f.zarr", cube)
        assert psnr_per_band(cube, zarr.open(tmp_path / "f.zarr")[:]) > 35
        with pytest.raises(PartialChunkWriteError, match="chunk 'c/0/0/0'"):
            arr[0, :5, :5] = 7


# -- Zarr v2 -----------------------------------------------------------------------
def test_v2_round_trip(tmp_path, cube):
    compressor = InrNumcodec(codec="pca-jpeg2000", bpppb=BPPPB, options=FAST)
    arr = zarr.create_array(
        tmp_path / "v2.zarr", shape=cube.shape, chunks=CHUNKS, dtype=cube.dtype,
        zarr_format=2, compressors=compressor, filters=None,
    )  # fmt: skip
    arr[:] = cube
    meta = json.loads((tmp_path / "v2.zarr" / ".zarray").read_text())
    assert meta["compressor"] == {"id": CODEC_NAME, "codec": "pca-jpeg2000", "bpppb": BPPPB, "band_axis": 0, "options": FAST}
    assert numcodecs.get_codec(meta["compressor"]) == compressor
    assert psnr_per_band(cube, zarr.open(tmp_path / "v2.zarr", mode="r")[:]) > 35
    # The chunk carries its own shape (numcodecs passes none) and stays within the rate.
    raw = (tmp_path / "v2.zarr" / "0.0.0").read_bytes()
    assert bitstream.unpack(raw).header["chunk"] == {"shape": list(CHUNKS), "band_axis": 0}
    assert len(raw) <= BPPPB * math.prod(CHUNKS) / 8
    assert tgi.decode(raw).shape == CHUNKS
    with pytest.raises(PartialChunkWriteError):
        arr[0, :5, :5] = 7


# -- xarray ------------------------------------------------------------------------
def dataset(cube) -> xr.Dataset:
    return xr.Dataset(
        {
            "reflectance": (("band", "y", "x"), cube),
            "labels": (("y", "x"), (cube[0] % 7).astype(np.uint8)),
        },
        coords={"band": np.arange(cube.shape[0]), "wavelength": ("band", np.linspace(400, 2500, cube.shape[0]))},
    )


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_xarray_encoding_round_trip(tmp_path, cube, zarr_format):
    ds = dataset(cube).chunk({"y": 24, "x": 24})
    if zarr_format == 3:
        enc = {"serializer": codec(), "compressors": None}
    else:
        enc = {"compressors": InrNumcodec(codec="pca-jpeg2000", bpppb=BPPPB, options=FAST), "filters": None}
    ds.to_zarr(tmp_path / "x.zarr", encoding={"reflectance": {**enc, "chunks": CHUNKS}}, zarr_format=zarr_format, consolidated=False)  # fmt: skip
    back = xr.open_zarr(tmp_path / "x.zarr", consolidated=False)
    assert back.reflectance.dtype == np.uint16 and back.reflectance.chunks is not None
    assert psnr_per_band(cube, back.reflectance.values) > 35
    np.testing.assert_array_equal(back.labels.values, ds.labels.values)


def test_pick_tile():
    assert zarr_store.pick_tile(145) == 145  # Indian Pines: one tile
    assert zarr_store.pick_tile(610) == 122  # Pavia University rows: 5 equal tiles
    assert zarr_store.pick_tile(340) == 170
    assert zarr_store.pick_tile(1000) == 250
    assert zarr_store.pick_tile(997) == 256  # a prime: ragged last tile


def test_accessor_to_zarr(tmp_path, cube):
    ds = dataset(cube)
    ds.inr.to_zarr(tmp_path / "acc.zarr", bpppb=BPPPB, codec="pca-jpeg2000", tile=(24, 20), codec_options=FAST, consolidated=False)  # fmt: skip
    meta = json.loads((tmp_path / "acc.zarr" / "reflectance" / "zarr.json").read_text())
    assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [16, 24, 20]
    config = meta["codecs"][0]["configuration"]
    assert config["band_axis"] == -3 and config["bpppb"] == BPPPB
    assert config["wavelengths"] == pytest.approx(ds.wavelength.values.tolist())
    # Labels are not a cube: written losslessly, with zarr's default codecs.
    label_codecs = json.loads((tmp_path / "acc.zarr" / "labels" / "zarr.json").read_text())["codecs"]
    assert CODEC_NAME not in json.dumps(label_codecs)
    back = xr.open_zarr(tmp_path / "acc.zarr", consolidated=False)
    assert psnr_per_band(cube, back.reflectance.values) > 35
    np.testing.assert_array_equal(back.labels.values, ds.labels.values)
    # xarray region writes: whole chunks go through, a region that cuts a stored chunk is refused.
    part = ds[["reflectance"]].drop_vars(["band", "wavelength"])
    part.isel(y=slice(0, 24)).to_zarr(tmp_path / "acc.zarr", region={"y": slice(0, 24)}, mode="r+", consolidated=False)  # fmt: skip
    # The region cuts both chunks of the row; zarr writes them concurrently, so either may be named.
    with pytest.raises(PartialChunkWriteError, match="array 'reflectance'.*chunk 'c/0/0/[01]'"):
        part.isel(y=slice(0, 12)).to_zarr(tmp_path / "acc.zarr", region={"y": slice(0, 12)}, mode="r+", consolidated=False)  # fmt: skip
    with pytest.raises(tgi.UnknownCodecError):
        ds.inr.to_zarr(tmp_path / "bad.zarr", codec="no-such-codec")


def test_entry_points_name_the_codecs():
    """The entry point's name is the name in the metadata: that is how zarr and numcodecs find them."""
    from importlib.metadata import entry_points

    (v3,) = [ep for ep in entry_points(group="zarr.codecs") if ep.name == CODEC_NAME]
    (v2,) = [ep for ep in entry_points(group="numcodecs.codecs") if ep.name == CODEC_NAME]
    assert v3.load() is InrCodec and v2.load() is InrNumcodec
    assert InrCodec().to_dict()["name"] == v3.name and InrNumcodec.codec_id == v2.name
    assert zarr.registry.get_codec_class(CODEC_NAME) is InrCodec
    c = codec()
    assert pickle.loads(pickle.dumps(c)) == c  # Dask workers get it pickled
    n = InrNumcodec(bpppb=0.5)
    assert pickle.loads(pickle.dumps(n)) == n


def test_fresh_process_opens_with_only_xarray(tmp_path, cube):
    """The entry points find both codecs: the child imports xarray and zarr, nothing of ours."""
    ds = dataset(cube)
    zarr_store.to_zarr(ds, tmp_path / "v3.zarr", bpppb=BPPPB, codec_options=FAST, consolidated=False)
    zarr_store.to_zarr(ds, tmp_path / "v2.zarr", bpppb=BPPPB, codec_options=FAST, zarr_format=2, consolidated=False)
    expected = [float(xr.open_zarr(tmp_path / f"{v}.zarr", consolidated=False).reflectance.mean()) for v in ("v3", "v2")]
    child = textwrap.dedent(
        f"""
        import sys
        import xarray as xr
        for v in ("v3", "v2"):
            ds = xr.open_zarr({str(tmp_path)!r} + "/" + v + ".zarr", consolidated=False)
            print(float(ds.reflectance.mean()))
        print("torchgeo_inr.plugins.zarr_codec" in sys.modules)
        """
    )
    assert "torchgeo_inr" not in child.replace("torchgeo_inr.plugins.zarr_codec", "")
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert [float(v) for v in lines[:2]] == pytest.approx(expected)
    assert lines[2] == "True"  # loaded by zarr through the entry point


# -- damage ------------------------------------------------------------------------
def flip(path: Path, offset: int = 60) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_damaged_chunk_is_named_and_the_rest_reads(tmp_path, cube):
    ds = dataset(cube).chunk({"y": 24, "x": 24})
    ds.to_zarr(tmp_path / "d.zarr", encoding={"reflectance": {"serializer": codec(), "compressors": None, "chunks": CHUNKS}}, consolidated=False)  # fmt: skip
    flip(tmp_path / "d.zarr" / "reflectance" / "c" / "0" / "1" / "0")
    arr = zarr.open(tmp_path / "d.zarr", mode="r")["reflectance"]
    with pytest.raises(ChunkDecodeError, match=r"array 'reflectance' in .*, chunk 'c/0/1/0': BitstreamError: checksum") as err:
        arr[:]
    assert (err.value.array, err.value.key) == ("reflectance", "c/0/1/0")
    assert isinstance(err.value, tgi.InrError)
    # The other chunks read, through zarr and xarray alike.
    for rows, cols in ((slice(0, 24), slice(0, 24)), (slice(0, 24), slice(24, 40)), (slice(24, 48), slice(24, 40))):
        assert psnr_per_band(cube[:, rows, cols], arr[:, rows, cols]) > 35
    lazy = xr.open_zarr(tmp_path / "d.zarr", consolidated=False).reflectance
    assert psnr_per_band(cube[:, :24], lazy.isel(y=slice(0, 24)).values) > 35
    with pytest.raises(ChunkDecodeError, match="chunk 'c/0/1/0'"):
        lazy.values
    assert [(d.array, d.key) for d in zarr_store.verify(tmp_path / "d.zarr")] == [("reflectance", "c/0/1/0")]
    values, damaged = zarr_store.read_intact(arr)
    assert [d.key for d in damaged] == ["c/0/1/0"] and (values[:, 24:, :24] == 0).all()
    np.testing.assert_array_equal(values[:, :24], arr[:, :24])


def test_newer_stream_and_missing_codec_are_named(tmp_path, cube):
    v3_array(tmp_path / "a.zarr", cube)
    for key, change, message in (
        ("c/0/0/0", {"codec_version": 99}, "newer than this torchgeo-inr decodes"),
        ("c/0/0/1", {"codec": "meta-siren-v9"}, "no codec named 'meta-siren-v9'"),
    ):
        path = tmp_path / "a.zarr" / key
        stream = bitstream.unpack(path.read_bytes())
        fields = {"codec": stream.codec, "codec_version": stream.codec_version, **change}
        path.write_bytes(bitstream.pack(fields["codec"], fields["codec_version"], stream.header, stream.sections))
        arr = zarr.open(tmp_path / "a.zarr", mode="r")
        sel = (slice(None), slice(0, 24), slice(0, 24) if key.endswith("0") else slice(24, 40))
        with pytest.raises(ChunkDecodeError, match=f"chunk '{key}'.*{message}"):
            arr[sel]
    assert psnr_per_band(cube[:, 24:], arr[:, 24:]) > 35


def test_damaged_chunk_v2_and_sharded(tmp_path, cube):
    """Where zarr does not pass the chunk key (v2, inside a shard): the message says so, verify() names it."""
    arr = zarr.create_array(
        tmp_path / "v2.zarr", shape=cube.shape, chunks=CHUNKS, dtype=cube.dtype, zarr_format=2,
        compressors=InrNumcodec(codec="pca-jpeg2000", bpppb=BPPPB, options=FAST), filters=None,
    )  # fmt: skip
    arr[:] = cube
    v3_array(tmp_path / "s.zarr", cube, shards=(16, 24, 48))
    flip(tmp_path / "v2.zarr" / "0.1.0")
    flip(tmp_path / "s.zarr" / "c" / "0" / "1" / "0")
    for name, key in (("v2.zarr", "0.1.0"), ("s.zarr", "c/0/1/0")):
        arr = zarr.open(tmp_path / name, mode="r")
        with pytest.raises(ChunkDecodeError, match="verify"):
            arr[:]
        assert psnr_per_band(cube[:, :24], arr[:, :24]) > 35
        assert [d.key for d in zarr_store.verify(tmp_path / name)] == [key]


# -- partial writes, empty and NaN chunks ------------------------------------------
def test_partial_writes(tmp_path, cube):
    arr = v3_array(tmp_path / "p.zarr", cube)
    stored = (tmp_path / "p.zarr" / "c/0/0/0").read_bytes()
    with pytest.raises(PartialChunkWriteError, match="chunk 'c/0/0/0'.*Write whole chunks"):
        arr[:, :10, :10] = cube[:, :10, :10]
    assert (tmp_path / "p.zarr" / "c/0/0/0").read_bytes() == stored  # untouched
    # Whole chunks, and everything an edge chunk holds, can be written again.
    arr[:, :24, :24] = cube[:, :24, :24]
    arr[:, 24:, 24:] = cube[:, 24:, 24:]
    arr[:] = cube
    # A first write into part of an empty chunk is fine: the rest is the fill value.
    fresh = zarr.create_array(tmp_path / "e.zarr", shape=cube.shape, chunks=CHUNKS, dtype=cube.dtype, serializer=codec(), compressors=None, fill_value=0)  # fmt: skip
    fresh[:, :20, :20] = cube[:, :20, :20]
    part = fresh[:, :24, :24]
    assert (part[:, 20:, :] == 0).all() and (part[:, :, 20:] == 0).all()
    assert psnr_per_band(cube[:, :20, :20], part[:, :20, :20]) > 30
    with pytest.raises(PartialChunkWriteError):
        fresh[:, 20:24, :20] = cube[:, 20:24, :20]
    # zarr's generic path (another codec in the chain) is refused the same way.
    zstd = v3_array(tmp_path / "z.zarr", cube, compressors="auto")
    assert zstd.compressors
    with pytest.raises(PartialChunkWriteError, match="stored lossy chunk"):
        zstd[0, :5, :5] = 7


def test_empty_and_nan_chunks(tmp_path, cube):
    data = cube.astype(np.float32)
    data[:, :24, :24] = np.nan  # one chunk all NaN
    data[2, 30:33, 5:9] = np.nan  # a few NaN in another
    data[:, 24:, 24:] = 0.0  # one chunk equal to nothing special (0 is not the fill value)
    arr = v3_array(tmp_path / "n.zarr", data, fill_value=np.nan)
    assert sorted(chunk_files(tmp_path / "n.zarr")) == ["c/0/0/1", "c/0/1/0", "c/0/1/1"]
    back = zarr.open(tmp_path / "n.zarr", mode="r")[:]
    np.testing.assert_array_equal(np.isnan(back), np.isnan(data))
    valid = ~np.isnan(data)
    assert np.abs(back[valid] - data[valid]).max() < 0.05 * data[valid].max()
    arr[:, 24:, 24:] = np.nan  # an all-NaN chunk is removed, reads back as the fill value
    assert "c/0/1/1" not in chunk_files(tmp_path / "n.zarr")


# -- lazy writes and the decode device ------------------------------------------------
def test_to_zarr_compute_false_composes(tmp_path, cube):
    import dask

    ds = dataset(cube)
    kwargs = dict(bpppb=BPPPB, codec="pca-jpeg2000", tile=24, codec_options=FAST, consolidated=False)
    ds.inr.to_zarr(tmp_path / "eager.zarr", progress=False, **kwargs)
    writes = ds.inr.to_zarr(tmp_path / "lazy.zarr", compute=False, **kwargs)
    assert not [k for k in chunk_files(tmp_path / "lazy.zarr") if k.startswith("reflectance/c/")]  # nothing encoded yet
    _, total = dask.compute(writes, ds.reflectance.chunk({"y": 24}).sum())  # with another step, one graph
    assert int(total) == int(cube.astype(np.int64).sum())
    lazy, eager = (xr.open_zarr(tmp_path / f"{n}.zarr", consolidated=False) for n in ("lazy", "eager"))
    np.testing.assert_array_equal(lazy.reflectance.values, eager.reflectance.values)


def test_zarr_reads_decode_on_the_chosen_device(tmp_path, cube, monkeypatch):
    from torchgeo_inr.plugins import zarr_codec
    from torchgeo_inr.plugins.decode_device import ENV, decode_device

    store = tmp_path / "d.zarr"
    dataset(cube).inr.to_zarr(store, bpppb=BPPPB, codec="pca-jpeg2000", tile=24, codec_options=FAST, consolidated=False, progress=False)  # fmt: skip
    reference = xr.open_zarr(store, consolidated=False).reflectance.values
    devices = []
    real_decode = zarr_codec.decode

    def recording_decode(data, *, device=None):
        devices.append(device)
        return real_decode(data, device=device)

    monkeypatch.setattr(zarr_codec, "decode", recording_decode)
    with decode_device("cpu"):  # what a GPU reader does with "cuda"; CI has only the CPU
        np.testing.assert_array_equal(xr.open_zarr(store, consolidated=False).reflectance.values, reference)
    assert devices == ["cpu"] * 4
    devices.clear()
    monkeypatch.setenv(ENV, "cpu")  # the same for every process that has it: Dask workers
    xr.open_zarr(store, consolidated=False).reflectance.values
    assert devices == ["cpu"] * 4
    monkeypatch.delenv(ENV)
    devices.clear()
    xr.open_zarr(store, consolidated=False).reflectance.values
    assert devices == ["cpu"] * 4  # the default: the CPU, even where there is a GPU
    assert "device" not in (store / "reflectance" / "zarr.json").read_text()  # a reading choice, not metadata
