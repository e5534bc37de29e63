"""Batched reads of latent-grid chunks that share an archive network: one forward pass per group of tiles.

Most tests forge their chunks: a tiny archive network fitted in a few steps,
then chunk streams of any tile shape holding seeded random latents (within
the network's symbol range). Decoding does not care how good the latents
are, and forging skips the chunk fits and their rate control, so a 3 x 3
grid of four tile shapes costs seconds. One test compresses for real.

Batched and one-by-one decodes are compared within 1e-6 relative, not
exactly: torch's CPU convolution may pick another algorithm for a batch of
tiles than for one, which moves a coefficient by about an ulp of float32.
Measured on Indian Pines (25 tiles of 29 x 29, one thread): a batch of 5 is
bit-identical, a batch of 25 differs by up to 4.9e-7 of the largest
coefficient (1.7e-7 rendered), 212 of 4.2 million uint16 values by one DN;
with two threads even the forged 9-tile grid here differs by an ulp.

A lone chunk on the CPU is decoded by numpy's synthesis (no torch pass):
the one-tile-a-task decodes below are that path, compared with the batched
torch passes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from conftest import synthetic_cube

from torchgeo_inr import archive_network, bitstream, entropy
from torchgeo_inr.codecs import latent_grid_batch, latent_grid_network, latent_grid_shared
from torchgeo_inr.codecs.latent_grid import LatentGridCodec
from torchgeo_inr.errors import BitstreamError, InrError
from torchgeo_inr.plugins.compressed import META
from torchgeo_inr.plugins.shared_network import FORM_ATTR
from torchgeo_inr.scene import Scene

BANDS = 16
ROWS = (24, 24, 16)  # tile heights
COLS = (32, 24, 24)  # tile widths: four tile shapes, (24, 24) four times
RTOL = 1e-6


@pytest.fixture(scope="module")
def cube() -> np.ndarray:
    return synthetic_cube(BANDS, sum(ROWS), sum(COLS), seed=7).astype(np.float32)


@pytest.fixture(scope="module")
def network_blob(cube) -> bytes:
    """A tiny latent-grid archive network (20 steps), as the bytes a form keeps."""
    tiles = [Scene.from_array(cube[:, :16, :24]), Scene.from_array(cube[:, 16:40, 24:56])]
    codec = LatentGridCodec(seed=0, threads=1)
    return codec.fit_network(tiles, bpppb=2.0, shape=cube.shape, chunks=len(ROWS) * len(COLS), device="cpu",
                             progress=False, steps=20)


@pytest.fixture
def net(network_blob) -> latent_grid_network.Network:
    """The network, loaded in this process (again for each test: another may have dropped it)."""
    return latent_grid_network.network(archive_network.load(network_blob).sha256, BANDS)


def forge(network, shape, seed: int, dtype: str = "float32", **sections) -> bytes:
    """A chunk stream of ``shape`` against ``network`` holding seeded random latents; ``sections`` replace its own
    (None: drop it)."""
    rng = np.random.default_rng(seed)
    cfg = network.cfg
    ranges = latent_grid_shared._split(network.lrange, cfg)
    symbols = [np.clip(rng.integers(-3, 4, size=h * w), -r, r)
               for c, (h, w), rs in zip(cfg.channels, cfg.grid_sizes(*shape[1:]), ranges) for r in rs[:c]]
    blob, _ = entropy.encode_tensors(symbols, network.models())
    parts = {"net": network.sha, "latents": blob, **sections}
    return bitstream.pack("latent-grid", 2, {"scene": {"shape": list(shape), "dtype": dtype}},
                          {k: v for k, v in parts.items() if v is not None})


def forged_grid(net) -> np.ndarray:
    grid = np.empty((len(ROWS), len(COLS)), dtype=object)
    for i, h in enumerate(ROWS):
        for j, w in enumerate(COLS):
            grid[i, j] = forge(net, (BANDS, h, w), seed=10 * i + j)
    return grid


@pytest.fixture
def form(cube, net, network_blob) -> xr.Dataset:
    """A compressed form (3 x 3 tiles of four shapes) whose streams are forged latent-grid chunks of ``net``.

    Laid out by a real compress (a fast classical codec), then its streams, network and description swapped."""
    ds = xr.Dataset({"reflectance": (("band", "y", "x"), cube)})
    out = ds.chunk({"y": ROWS, "x": COLS}).inr.compress(codec="pca-jpeg2000", bpppb=2.0, progress=False)
    variable = out["reflectance"]
    meta = {**json.loads(variable.attrs[META]), "codec": "latent-grid", "network": net.sha.hex()}
    attrs = {**variable.attrs, META: json.dumps(meta), FORM_ATTR: np.frombuffer(network_blob, dtype=np.uint8)}
    out["reflectance"] = xr.Variable(variable.dims, forged_grid(net), attrs=attrs)
    return out


@pytest.fixture
def passes(monkeypatch) -> list[int]:
    """The batch size of every forward pass of the shared synthesis."""
    calls: list[int] = []
    synthesize = latent_grid_shared._synthesize

    def counted(model, grids):
        calls.append(int(grids[0].shape[0]))
        return synthesize(model, grids)

    monkeypatch.setattr(latent_grid_shared, "_synthesize", counted)
    return calls


def shapes() -> list[tuple[int, int, int]]:
    return [(BANDS, h, w) for h in ROWS for w in COLS]


def assert_close(a, b) -> None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * np.abs(a).max())


# -- the codec level ---------------------------------------------------------------
def test_read_chunks_equals_read_chunk_in_one_pass_per_shape(net, passes):
    streams = [bitstream.unpack(s) for s in forged_grid(net).ravel()]
    one = [latent_grid_shared.read_chunk(s, shape).render().numpy() for s, shape in zip(streams, shapes())]
    assert passes == [1] * 9
    passes.clear()
    many = [r.render().numpy() for r in latent_grid_shared.read_chunks(streams, shapes(), "cpu")]
    assert sorted(passes) == [1, 2, 2, 4]  # (16, 32); (24, 32) and (16, 24) twice; (24, 24) four times
    for a, b in zip(one, many):
        assert_close(a, b)


def test_a_pass_holds_at_most_max_batch_tiles(net, passes, monkeypatch):
    streams = [bitstream.unpack(s) for s in forged_grid(net).ravel()]
    whole = [r.render().numpy() for r in latent_grid_shared.read_chunks(streams, shapes())]
    monkeypatch.setattr(latent_grid_shared, "MAX_BATCH_TILES", 3)
    passes.clear()
    bounded = [r.render().numpy() for r in latent_grid_shared.read_chunks(streams, shapes())]
    assert sorted(passes) == [1, 1, 2, 2, 3]
    monkeypatch.setattr(latent_grid_shared, "MAX_BATCH_PIXELS", 24 * 24 * 2)  # the pixels bound the passes too
    passes.clear()
    latent_grid_shared.read_chunks(streams, shapes())
    assert sorted(passes) == [1, 1, 1, 2, 2, 2]  # 24 x 32: one a pass (twice); 24 x 24: 2 + 2; 16 x 32; 16 x 24: 2
    for a, b in zip(whole, bounded):
        assert_close(a, b)


def test_decode_chunks_gives_what_decode_gives(net):
    from torchgeo_inr import decode

    raw = list(forged_grid(net).ravel())
    scenes = latent_grid_batch.decode_chunks([bitstream.unpack(s) for s in raw], "cpu")
    for data, scene in zip(raw, scenes):
        alone = decode(data)
        assert scene.dtype == alone.dtype and scene.shape == alone.shape
        assert_close(alone.to_numpy(), scene.to_numpy())


def test_a_chunks_cpu_decode_is_numpy_and_agrees_with_the_torch_model(net, monkeypatch):
    from torchgeo_inr import decode

    raw = list(forged_grid(net).ravel())
    torch_renders = [latent_grid_shared.read_chunk(bitstream.unpack(s), shape).render().numpy()
                     for s, shape in zip(raw, shapes())]
    monkeypatch.setattr(latent_grid_shared, "_synthesize", lambda *a: pytest.fail("a CPU decode ran torch"))
    for data, shape, want in zip(raw, shapes(), torch_renders):
        got = latent_grid_network.decode_chunk_values(bitstream.unpack(data), shape)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
        np.testing.assert_array_equal(decode(data).to_numpy(), got)


def test_a_fresh_process_reads_chunks_without_torch(net, network_blob, tmp_path):
    import subprocess
    import sys

    (tmp_path / "net.bin").write_bytes(network_blob)
    (tmp_path / "chunk.inr").write_bytes(forged_grid(net)[0, 0])
    code = ("import sys, numpy as np, torchgeo_inr as tgi\n"
            "from torchgeo_inr import archive_network\n"
            f"archive_network.load(open({str(tmp_path / 'net.bin')!r}, 'rb').read())\n"
            f"tile = tgi.decode(open({str(tmp_path / 'chunk.inr')!r}, 'rb').read()).to_numpy()\n"
            "assert 'torch' not in sys.modules, 'decode imported torch'\n"
            f"np.save({str(tmp_path / 'tile.npy')!r}, tile)\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    from torchgeo_inr import decode

    # the same numpy decode; BLAS may sum in another order with the threads this process was left with
    want = decode(forged_grid(net)[0, 0]).to_numpy()
    np.testing.assert_allclose(np.load(tmp_path / "tile.npy"), want, rtol=0, atol=1e-6 * np.abs(want).max())


# -- through the compressed form ---------------------------------------------------
def test_decompress_batches_rows_and_matches_one_tile_per_task(form, passes):
    per_tile = form.inr.decompress(tiles_per_task=1).reflectance.values
    assert passes == []  # a lone chunk on the CPU: numpy's synthesis (latent_grid_network.decode_chunk_values)
    per_row = form.inr.decompress(tiles_per_task=3).reflectance.values
    assert len(passes) == 6 and sorted(passes) == [1, 1, 1, 2, 2, 2]  # each row: its two shapes
    passes.clear()
    eager = form.inr.decompress(lazy=False).reflectance.values  # the whole grid in one call
    assert sorted(passes) == [1, 2, 2, 4]
    assert per_tile.dtype == per_row.dtype == eager.dtype == np.float32
    assert np.isfinite(per_tile).all()
    assert_close(per_tile, per_row)
    assert_close(per_tile, eager)


def test_decompress_on_a_device_batches_whole_rows(form, passes):
    """``device="cpu"`` named: still the CPU (one tile a task); the row default of an accelerator is
    what ``tiles_per_task`` gives here, run on the CPU."""
    from torchgeo_inr.plugins import decode_device

    assert not decode_device.is_accelerator(decode_device.current("cpu"))
    form.inr.decompress(device="cpu").reflectance.values
    assert passes == []  # one tile a task: numpy's synthesis
    form.inr.decompress(device="cpu", tiles_per_task=len(COLS)).reflectance.values
    assert len(passes) == 6


def test_empty_and_other_tiles_in_a_batched_row(form, net):
    """An all-nodata tile (empty stream) in a row of chunks is the fill value; the chunks still batch."""
    grid = forged_grid(net)
    grid[1, 1] = b""
    changed = form.copy()
    changed["reflectance"] = xr.Variable(form["reflectance"].dims, grid, attrs=form["reflectance"].attrs)
    per_tile = changed.inr.decompress(tiles_per_task=1).reflectance.values
    per_row = changed.inr.decompress(tiles_per_task=3).reflectance.values
    assert np.isnan(per_row[:, 24:48, 32:56]).all()
    assert_close(np.nan_to_num(per_tile), np.nan_to_num(per_row))


@pytest.mark.parametrize("damage", ["short net", "unknown net", "no latents", "not a stream"])
def test_a_damaged_chunk_in_a_batch_names_its_tile(form, net, damage):
    grid = forged_grid(net)
    shape = (BANDS, ROWS[1], COLS[2])
    grid[1, 2] = {
        "short net": lambda: forge(net, shape, 0, net=net.sha[:31]),
        "unknown net": lambda: forge(net, shape, 0, net=bytes(32)),
        "no latents": lambda: forge(net, shape, 0, latents=None),
        "not a stream": lambda: bytes(grid[1, 2])[:-7],
    }[damage]()
    changed = form.copy()
    changed["reflectance"] = xr.Variable(form["reflectance"].dims, grid, attrs=form["reflectance"].attrs)
    messages = []
    for per_task in (1, 3):
        with pytest.raises(InrError) as err:
            changed.inr.decompress(tiles_per_task=per_task).reflectance.values
        messages.append(str(err.value))
    with pytest.raises(InrError) as err:
        changed.inr.decompress(lazy=False)
    messages.append(str(err.value))
    assert "tile (1, 2) = y 24:48, x 56:80" in messages[0]
    assert messages[1] == messages[0] == messages[2]
    assert isinstance(err.value, BitstreamError)


def test_a_real_shared_archive_decodes_the_same_batched(passes):
    """Compressed for real (4 tiles of 32 x 32, few steps), decoded one tile per task and two per task."""
    cube = synthetic_cube(BANDS, 64, 64, seed=5)
    ds = xr.Dataset({"reflectance": (("band", "y", "x"), cube)})
    form = ds.chunk({"y": 32, "x": 32}).inr.compress(codec="latent-grid", bpppb=0.5, shared=True, network_steps=150,
                                                     progress=False, steps=150, threads=1)
    passes.clear()
    one = form.inr.decompress(tiles_per_task=1).reflectance.values
    assert passes == []  # one tile a task on the CPU: numpy's synthesis, against the batched torch passes below
    passes.clear()
    two = form.inr.decompress(tiles_per_task=2).reflectance.values
    assert passes == [2, 2]
    assert one.dtype == two.dtype == np.uint16
    # uint16: values within 1e-6 relative round alike but at a .5 boundary, where they may differ by one
    assert np.abs(one.astype(np.int64) - two.astype(np.int64)).max() <= 1
    assert (one == two).mean() > 0.999
