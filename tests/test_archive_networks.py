"""Archive networks: one network stored beside a Zarr array, chunks that hold only their own code.

Tiny synthetic stores (16 bands, 64 x 64, 2 x 2 chunks of 32) and tiny step
budgets, so each test runs in seconds; quality bars are loose (the mean
baseline plus a margin), what is checked is the mechanism: the network
stored once and counted, one chunk read alone, swapped / deleted chunks and
a damaged or missing network named, tiles and scenes appended against the
stored network (no refit) with their rate reported.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr
from conftest import mean_baseline, synthetic_cube
from torchgeo_inr.plugins import zarr_store
from torchgeo_inr.plugins.shared_network import NETWORK_PREFIX

from torchgeo_inr import archive_network, bitstream
from torchgeo_inr.metrics import psnr_per_band

SHAPE = (16, 64, 64)
TILE = 32
BPPPB = 0.5
LATENT = {"steps": 150, "threads": 1}


@pytest.fixture(scope="module")
def cube() -> np.ndarray:
    return synthetic_cube(*SHAPE, seed=5)


def dataset(cube) -> xr.Dataset:
    return xr.Dataset({"reflectance": (("band", "y", "x"), cube)},
                      coords={"wavelength": ("band", np.linspace(400, 2500, cube.shape[0]))})


@pytest.fixture(scope="module")
def store(tmp_path_factory, cube) -> Path:
    """A latent-grid archive with a shared network, written once for the module."""
    path = tmp_path_factory.mktemp("archive") / "a.zarr"
    dataset(cube).inr.to_zarr(path, codec="latent-grid", bpppb=BPPPB, tile=TILE, shared=True, codec_options=LATENT,
                              network_steps=150, progress=False, consolidated=False)
    return path


def every_byte(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def network_files(path: Path) -> list[Path]:
    return sorted((path / "reflectance").glob(f"{NETWORK_PREFIX}.*"))


def fresh_copy(store: Path, tmp_path: Path) -> Path:
    """A copy of the store, with this process's cache of its network dropped (so reads load it from the copy)."""
    out = tmp_path / "copy.zarr"
    shutil.copytree(store, out)
    archive_network.forget()
    return out


def test_round_trip_with_a_shared_network(store, cube):
    (net,) = network_files(store)
    config = json.loads((store / "reflectance" / "zarr.json").read_text())["codecs"][0]["configuration"]
    sha = config["options"]["network"]
    assert net.name == f"{NETWORK_PREFIX}.{sha}" and archive_network.digest(net.read_bytes()) == sha
    # the chunks' target is what the archive's rate leaves once the network is paid
    assert config["bpppb"] == pytest.approx(BPPPB - 8 * net.stat().st_size / cube.size)
    chunks = sorted((store / "reflectance" / "c").rglob("*"))
    chunk_files = [c for c in chunks if c.is_file()]
    assert len(chunk_files) == 4
    for chunk in chunk_files:  # latents only: the network's sha256, no basis or weights
        stream = bitstream.unpack(chunk.read_bytes())
        assert set(stream.sections) == {"net", "latents"} and stream.sections["net"].hex() == sha
    # network + chunks within the archive's rate
    assert 8 * (net.stat().st_size + sum(c.stat().st_size for c in chunk_files)) / cube.size <= BPPPB
    archive_network.forget()  # read as a new process would: the network comes from the store
    back = xr.open_zarr(store, consolidated=False).reflectance.values
    assert psnr_per_band(cube, back) > mean_baseline(cube) + 10
    assert zarr_store.verify(store) == []


def test_every_chunk_and_the_archive_keep_the_rate_promise(store, cube):
    """Each chunk's stream lands in [0.9 b, b] of its own budget (through meet_target, as every codec's), so the
    archive (network and chunks) lands in [0.9 B, B] of the rate asked for."""
    from torchgeo_inr.ratecontrol import Target

    (net,) = network_files(store)
    config = json.loads((store / "reflectance" / "zarr.json").read_text())["codecs"][0]["configuration"]
    chunk_files = [c for c in sorted((store / "reflectance" / "c").rglob("*")) if c.is_file()]
    assert len(chunk_files) == 4
    for chunk in chunk_files:
        budget = Target(config["bpppb"], None, SHAPE[0] * TILE * TILE)
        assert budget.min_bytes <= chunk.stat().st_size <= budget.max_bytes, (chunk.name, chunk.stat().st_size)
    archive = Target(BPPPB, None, cube.size)
    total = net.stat().st_size + sum(c.stat().st_size for c in chunk_files)
    assert archive.min_bytes <= total <= archive.max_bytes


def test_one_chunk_reads_alone_in_a_fresh_process(store, cube):
    """... and without torch: a CPU read synthesises in numpy (a Dask worker needs no torch)."""
    child = textwrap.dedent(
        f"""
        import sys
        import xarray as xr
        ds = xr.open_zarr({str(store)!r}, consolidated=False)
        print(float(ds.reflectance.isel(y=slice(32, 64), x=slice(0, 32)).mean()))
        assert "torch" not in sys.modules, "the read imported torch"
        """
    )
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    expected = float(xr.open_zarr(store, consolidated=False).reflectance.isel(y=slice(32, 64), x=slice(0, 32)).mean())
    assert float(out.stdout.split()[-1]) == pytest.approx(expected)


def test_swapped_and_deleted_chunks_are_found(store, tmp_path):
    path = fresh_copy(store, tmp_path)
    a, b = path / "reflectance" / "c" / "0" / "0" / "1", path / "reflectance" / "c" / "0" / "1" / "0"
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    (path / "reflectance" / "c" / "0" / "1" / "1").unlink()
    found = {(d.key, "swapped" in d.error, "missing" in d.error) for d in zarr_store.verify(path)}
    assert found == {("c/0/0/1", True, False), ("c/0/1/0", True, False), ("c/0/1/1", False, True)}


def test_damaged_or_missing_network_is_named(store, tmp_path):
    path = fresh_copy(store, tmp_path)
    (net,) = network_files(path)
    data = bytearray(net.read_bytes())
    data[len(data) // 2] ^= 0xFF
    net.write_bytes(bytes(data))
    (problem,) = zarr_store.verify(path)  # said once, by the network's key, not once per chunk
    assert problem.key == net.name and "damaged" in problem.error
    archive_network.forget()
    with pytest.raises(archive_network.SharedNetworkError, match=f"{NETWORK_PREFIX}.*damaged"):
        xr.open_zarr(path, consolidated=False).reflectance.values
    # a valid network, but not the one the chunks were written with: its sha256 says so
    net.write_bytes(archive_network.pack("latent-grid", 1, {"other": True}, {}))
    archive_network.forget()
    with pytest.raises(archive_network.SharedNetworkError, match="not the network the chunks were written with"):
        xr.open_zarr(path, consolidated=False).reflectance.values
    net.unlink()
    archive_network.forget()
    with pytest.raises(archive_network.SharedNetworkError, match=f"{NETWORK_PREFIX}.*missing"):
        zarr.open(path, mode="r")["reflectance"][:, :32, :32]


def test_chunks_without_a_network_still_read(tmp_path, cube):
    """A store written without shared=True has no network file and reads as before."""
    path = tmp_path / "plain.zarr"
    dataset(cube).inr.to_zarr(path, bpppb=1.0, tile=TILE, codec_options={"components": 3}, progress=False,
                              consolidated=False)
    assert network_files(path) == []
    assert psnr_per_band(cube, xr.open_zarr(path, consolidated=False).reflectance.values) > mean_baseline(cube) + 10


def test_compressed_form_with_a_shared_network(tmp_path, cube):
    """``ds.chunk(...).inr.compress(shared=True)``: the network rides in the form, is counted, and survives a file."""
    from torchgeo_inr.plugins.archive import open_compressed
    from torchgeo_inr.plugins.shared_network import FORM_ATTR

    ds = dataset(cube).chunk({"y": TILE, "x": TILE})
    form = ds.inr.compress(codec="latent-grid", bpppb=BPPPB, shared=True, network_steps=150, progress=False, **LATENT)
    net = bytes(np.asarray(form.reflectance.attrs[FORM_ATTR], dtype=np.uint8))
    streams = [bytes(s) for s in form.reflectance.values.ravel()]
    assert form.inr.nbytes == len(net) + sum(map(len, streams)) and 0.9 * BPPPB <= form.inr.bpppb <= BPPPB
    assert all(set(bitstream.unpack(s).sections) == {"net", "latents"} for s in streams)
    form.inr.to_file(tmp_path / "f.inrx")
    archive_network.forget()
    back = open_compressed(tmp_path / "f.inrx").inr.decompress()
    assert FORM_ATTR not in back.reflectance.attrs
    assert psnr_per_band(cube, back.reflectance.values) > mean_baseline(cube) + 10


def test_a_shared_form_names_the_codec_its_streams_are(cube):
    """``pca-jpeg2000`` with ``shared=True`` writes ``pca-jpeg2000-shared`` chunks: the form says so."""
    form = dataset(cube).chunk({"y": TILE, "x": TILE}).inr.compress(codec="pca-jpeg2000", bpppb=1.0, shared=True,
                                                                    progress=False)
    written = {bitstream.unpack(bytes(s)).codec for s in form.reflectance.values.ravel()}
    assert written == {"pca-jpeg2000-shared"}
    assert form.inr.info()["variables"]["reflectance"]["codec"] == "pca-jpeg2000-shared"


def test_meta_siren_with_an_archive_base(tmp_path, cube):
    """A base meta-trained on the archive's tiles, stored in it; each chunk holds its latents only."""
    path = tmp_path / "m.zarr"
    tiny = {"width": 16, "depth": 2, "features": 8, "latent_dim": 16, "head_width": 16}
    dataset(cube).inr.to_zarr(path, codec="meta-siren", bpppb=2.0, tile=TILE, shared=True, network_steps=30,
                              network_options={"base_config": tiny}, progress=False, consolidated=False)
    (net,) = network_files(path)
    chunk = bitstream.unpack((path / "reflectance" / "c" / "0" / "0" / "0").read_bytes())
    assert chunk.header["base"] == {"id": "archive", "sha256": net.name.split(".")[-1]}
    assert "wavelengths" not in chunk.sections  # the network holds them once
    assert 8 * every_byte(path / "reflectance") / cube.size <= 2.0 + 8 * 2000 / cube.size  # + zarr.json
    archive_network.forget()
    back = xr.open_zarr(path, consolidated=False).reflectance.values
    assert psnr_per_band(cube, back) > mean_baseline(cube) + 3


def test_appending_reuses_the_network(store, tmp_path, cube):
    """A region written later into the array is coded against its stored network: no refit, same network."""
    path = fresh_copy(store, tmp_path)
    (net,) = network_files(path)
    before = net.read_bytes()
    part = dataset(cube).drop_vars("wavelength").isel(y=slice(0, TILE), x=slice(0, TILE))
    part = part.assign(reflectance=part.reflectance[:, ::-1, :])  # new values for chunk (0, 0)
    part.to_zarr(path, region={"y": slice(0, TILE), "x": slice(0, TILE)}, mode="r+", consolidated=False)
    assert network_files(path) == [net] and net.read_bytes() == before
    stream = bitstream.unpack((path / "reflectance" / "c" / "0" / "0" / "0").read_bytes())
    assert stream.sections["net"].hex() == archive_network.digest(before)
    archive_network.forget()
    back = xr.open_zarr(path, consolidated=False).reflectance.values[:, :TILE, :TILE]
    assert psnr_per_band(cube[:, TILE - 1 :: -1, :TILE], back) > mean_baseline(cube) + 10


def test_appended_tiles_reuse_the_network_and_report_their_rate(store, tmp_path, cube, monkeypatch, caplog):
    """``ds.inr.to_zarr(append_dim=...)``: new tiles are coded against the stored network (no fit, the same file),
    round-trip, and the rate of what was appended is reported from its chunks' real bytes."""
    from torchgeo_inr.plugins import shared_network
    from torchgeo_inr.ratecontrol import Target

    path = fresh_copy(store, tmp_path)
    (net,) = network_files(path)
    before, sha = net.read_bytes(), net.name.split(".")[-1]
    budget = json.loads((path / "reflectance" / "zarr.json").read_text())["codecs"][0]["configuration"]["bpppb"]

    def no_fit(*args, **kwargs):
        raise AssertionError("appending fitted a network")

    monkeypatch.setattr(shared_network, "fit_for_array", no_fit)
    new = np.ascontiguousarray(cube[:, ::-1, :TILE])  # a new column of tiles
    with caplog.at_level(logging.INFO, logger=zarr_store.__name__):
        dataset(new).inr.to_zarr(path, codec="latent-grid", bpppb=BPPPB, shared=True, append_dim="x", progress=False,
                                 consolidated=False)
    assert network_files(path) == [net] and net.read_bytes() == before
    added = [path / "reflectance" / "c" / "0" / str(i) / "2" for i in (0, 1)]
    for chunk in added:  # latents against the stored network, each within the array's chunk budget
        assert bitstream.unpack(chunk.read_bytes()).sections["net"].hex() == sha
        size = Target(budget, None, SHAPE[0] * TILE * TILE)
        assert size.min_bytes <= chunk.stat().st_size <= size.max_bytes
    (report,) = zarr_store.appended(zarr.open(path, mode="r")["reflectance"])
    nbytes = sum(c.stat().st_size for c in added)
    assert report == {"region": [[0, 16], [0, 64], [64, 96]], "chunks": 2, "bytes": nbytes, "values": new.size,
                      "bpppb": pytest.approx(8 * nbytes / new.size), "network": sha}
    assert f"{8 * nbytes / new.size:.4f} bpppb" in caplog.text and "not refitted" in caplog.text
    archive_network.forget()
    back = xr.open_zarr(path, consolidated=False).reflectance.values
    assert back.shape == (16, 64, 96) and psnr_per_band(new, back[:, :, 64:]) > mean_baseline(new) + 10
    assert zarr_store.verify(path) == []


def test_a_new_scene_appended_along_time_reuses_the_basis(tmp_path, cube, monkeypatch):
    """(time, band, y, x): the network is fitted on the first scenes' tiles; a scene appended along ``time`` is
    coded against it, with no fit, and reported; the array's record of written chunks is kept."""
    from torchgeo_inr.plugins import shared_network

    other = synthetic_cube(*SHAPE, seed=6)

    def scenes(*cubes, start=0):
        return xr.Dataset({"reflectance": (("time", "band", "y", "x"), np.stack(cubes))},
                          coords={"time": np.arange(start, start + len(cubes))})

    path = tmp_path / "t.zarr"
    scenes(cube).inr.to_zarr(path, codec="pca-jpeg2000", bpppb=1.0, tile=TILE, shared=True, progress=False,
                             consolidated=False)
    (net,) = network_files(path)
    monkeypatch.setattr(shared_network, "fit_for_array", None)  # any fit would fail
    (path / "reflectance" / "c" / "0" / "0" / "0" / "1").unlink()  # lost before the append: still found after it
    scenes(other, start=1).inr.to_zarr(path, append_dim="time", progress=False, consolidated=False)
    assert network_files(path) == [net]
    assert [(d.key, "missing" in d.error) for d in zarr_store.verify(path)] == [("c/0/0/0/1", True)]
    (report,) = zarr_store.appended(zarr.open(path, mode="r")["reflectance"])
    added = [f for f in (path / "reflectance" / "c" / "1").rglob("*") if f.is_file()]
    assert report["chunks"] == len(added) == 4 and report["bytes"] == sum(f.stat().st_size for f in added)
    archive_network.forget()
    back = xr.open_zarr(path, consolidated=False).reflectance.values
    assert back.shape == (2, *SHAPE) and psnr_per_band(other, back[1]) > mean_baseline(other) + 10


def test_an_append_that_cuts_a_stored_chunk_is_refused(tmp_path, cube):
    """After a ragged last chunk (40 columns in chunks of 32), appending would decode and re-encode that lossy
    chunk: refused, naming it, before anything is encoded or written."""
    from torchgeo_inr.plugins.zarr_codec import PartialChunkWriteError

    path = tmp_path / "r.zarr"
    dataset(cube[:, :, :40]).inr.to_zarr(path, codec="pca-jpeg2000", bpppb=1.0, tile=TILE, exact_tile=True,
                                         shared=True, progress=False, consolidated=False)
    stored = {f: f.read_bytes() for f in (path / "reflectance").rglob("*") if f.is_file()}
    with pytest.raises(PartialChunkWriteError, match="cuts the stored chunk 'c/0/0/1'"):
        dataset(cube[:, :, 40:]).inr.to_zarr(path, append_dim="x", progress=False, consolidated=False)
    assert {f: f.read_bytes() for f in (path / "reflectance").rglob("*") if f.is_file()} == stored


def test_the_fit_reads_only_the_sampled_tiles(tmp_path, cube):
    """A Dask-backed array is not loaded whole to fit its network (it may be larger than memory): only the
    sampled tiles are read."""
    import dask.array as da

    reads = []

    def block(block_info=None):  # a source that says which of its blocks are read
        box = block_info[None]["array-location"]
        reads.append(box)
        return cube[tuple(slice(*b) for b in box)]

    source = da.map_blocks(block, chunks=((16,), (TILE, TILE), (TILE, TILE)), meta=np.empty((0, 0, 0), cube.dtype))
    lazy = dataset(cube).assign(reflectance=(("band", "y", "x"), source))
    lazy.inr.to_zarr(tmp_path / "s.zarr", codec="pca-jpeg2000", bpppb=1.0, tile=TILE, shared=True, sample=[3],
                     compute=False, progress=False, consolidated=False)  # the fit now, the chunks when computed
    assert reads == [[(0, 16), (TILE, 64), (TILE, 64)]]


def test_pca_jpeg2000_with_a_shared_basis_fitted_on_a_sample(tmp_path, cube):
    """``pca-jpeg2000`` with ``shared=True``: one basis (fitted on 2 of the 4 tiles), chunks of codestreams only."""
    path = tmp_path / "p.zarr"
    dataset(cube).inr.to_zarr(path, codec="pca-jpeg2000", bpppb=1.0, tile=TILE, shared=True, sample=2,
                              progress=False, consolidated=False)
    (net,) = network_files(path)
    config = json.loads((path / "reflectance" / "zarr.json").read_text())["codecs"][0]["configuration"]
    assert config["codec"] == "pca-jpeg2000-shared" and config["options"]["network"] == net.name.split(".")[-1]
    chunk = bitstream.unpack((path / "reflectance" / "c" / "0" / "1" / "1").read_bytes())
    assert set(chunk.sections) == {"net", "off", "j2k"}
    total = net.stat().st_size + sum(f.stat().st_size for f in (path / "reflectance" / "c").rglob("*") if f.is_file())
    assert 8 * total / cube.size <= 1.0
    archive_network.forget()
    assert psnr_per_band(cube, xr.open_zarr(path, consolidated=False).reflectance.values) > mean_baseline(cube) + 15
