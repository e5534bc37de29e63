"""The ``.inr`` xarray accessor, Dask tiling, the compressed form on disk, and open_scene.

Tiny synthetic cubes throughout; the default classical codec keeps every call
well under a second, except the LocalCluster quality test (a few seconds).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import dask
import distributed
import numpy as np
import pytest
import rioxarray  # noqa: F401 - registers .rio, which the CRS tests use
import xarray as xr
from affine import Affine
from conftest import synthetic_cube
from torchgeo_inr.plugins.archive import metadata_nbytes
from torchgeo_inr.plugins.band_dim import find_band_dim, wavelengths_of
from torchgeo_inr.plugins.decode_device import ENV as DEVICE_ENV
from torchgeo_inr.plugins.decode_device import decode_device
from torchgeo_inr.plugins.progress import tile_progress

import torchgeo_inr
from torchgeo_inr.errors import BitstreamError, GuessWarning, RateError, SceneError, UnknownCodecError
from torchgeo_inr.io import write_scene
from torchgeo_inr.metrics import psnr_per_band, quality_report
from torchgeo_inr.scene import Scene

#: High enough that 8 x 16 x 16 tiles fit (their smallest stream is ~540 bytes = 2.1 bpppb).
RATE = 4.0
TRANSFORM = (30.0, 0.0, 500000.0, 0.0, -30.0, 4000000.0)


def make_array(bands=8, height=40, width=36, seed=0, dims=("band", "y", "x"), name="reflectance"):
    cube = synthetic_cube(bands, height, width, seed)
    order = [("band", "y", "x").index(d) if d in ("band", "y", "x") else i for i, d in enumerate(dims)]
    coords = {
        "band": np.arange(1, bands + 1),
        "wavelength": ("band", np.linspace(400.0, 1000.0, bands), {"units": "nm"}),
        "y": 4000000.0 - 30.0 * (np.arange(height) + 0.5),
        "x": 500000.0 + 30.0 * (np.arange(width) + 0.5),
    }
    coords = {k: v for k, v in coords.items() if k in dims or k == "wavelength"}
    return xr.DataArray(
        cube.transpose(order), dims=dims, coords=coords, name=name, attrs={"units": "DN", "sensor": "synthetic"}
    )


def as_bhw(array: xr.DataArray) -> np.ndarray:
    return np.asarray(array.transpose("band", "y", "x").values)


def attrs_equal(a: dict, b: dict) -> bool:
    """attrs equality that copes with arrays and NaN, and checks value types."""
    if a.keys() != b.keys():
        return False
    for key, x in a.items():
        y = b[key]
        if type(x) is not type(y):
            return False
        if isinstance(x, (np.ndarray, np.generic, float)):
            if not np.array_equal(np.asarray(x), np.asarray(y), equal_nan=np.asarray(x).dtype.kind == "f"):
                return False
        elif x != y:
            return False
    return True


def assert_same_frame(back, original):
    """Same type, dims (in order), coords, attrs and dtype: everything but the (lossy) values."""
    assert type(back) is type(original)
    assert list(back.sizes.items()) == list(original.sizes.items())
    xr.testing.assert_identical(back.coords.to_dataset(), original.coords.to_dataset())
    assert attrs_equal(back.attrs, original.attrs)
    if isinstance(original, xr.DataArray):
        assert back.name == original.name
        assert back.dtype == original.dtype
    else:
        assert list(back.data_vars) == list(original.data_vars)
        for name in original.data_vars:
            assert back[name].dims == original[name].dims
            assert back[name].dtype == original[name].dtype
            assert attrs_equal(back[name].attrs, original[name].attrs)


# -- registration -------------------------------------------------------------------
def test_import_registers_accessor_without_importing_dask():
    code = (
        "import sys, torchgeo_inr;"
        "assert 'dask' not in sys.modules and 'distributed' not in sys.modules, 'dask imported';"
        "import xarray as xr;"
        "assert hasattr(xr.Dataset(), 'inr') and hasattr(xr.DataArray(0), 'inr');"
        "assert callable(torchgeo_inr.open_scene) and callable(torchgeo_inr.open_compressed)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- round trips ----------------------------------------------------------------------
def test_dataarray_round_trip():
    da = make_array()
    form = da.inr.compress(bpppb=2.0, progress=False)
    assert isinstance(form, xr.Dataset) and form.inr.is_compressed
    assert form["reflectance"].dims == ("tile_y", "tile_x") and form["reflectance"].shape == (1, 1)
    assert form.inr.nbytes == len(form["reflectance"].values[0, 0])
    assert form.inr.bpppb == pytest.approx(8 * form.inr.nbytes / da.size)
    assert form.inr.bpppb <= 2.0
    back = form.inr.decompress()
    assert_same_frame(back, da)
    assert isinstance(back.data, np.ndarray)  # NumPy in, NumPy out
    assert psnr_per_band(da.values, back.values) > 38


def test_dataset_round_trip_keeps_crs(tmp_path):
    da = make_array()
    ds = da.to_dataset().rio.write_crs("EPSG:32616").rio.write_transform()
    ds.attrs.update(title="synthetic scene", history=("made", "in a test"))
    form = ds.inr.compress(bpppb=2.0, progress=False)
    assert "spatial_ref" in form.coords
    back = form.inr.decompress()
    assert_same_frame(back, ds)
    assert back.rio.crs == ds.rio.crs and back.rio.crs.to_epsg() == 32616
    assert back.rio.transform() == ds.rio.transform()
    assert back.inr.crs == ds.inr.crs
    assert psnr_per_band(ds["reflectance"].values, back["reflectance"].values) > 38


def test_dims_in_another_order():
    da = make_array(dims=("y", "x", "band"))
    back = da.inr.compress(bpppb=2.0, progress=False).inr.decompress()
    assert_same_frame(back, da)
    assert psnr_per_band(as_bhw(da), as_bhw(back)) > 38


def test_dataset_with_two_cubes():
    ds = xr.Dataset({"a": make_array(seed=1), "b": make_array(seed=2)})
    form = ds.inr.compress(bpppb=2.0, progress=False)
    assert set(form.inr.info()["variables"]) == {"a", "b"}
    back = form.inr.decompress()
    assert_same_frame(back, ds)
    mixed = xr.Dataset({"a": make_array(seed=1).chunk({"y": 20}), "b": make_array(seed=2).chunk({"y": 24})})
    with pytest.raises(SceneError, match="chunked differently"):
        mixed.inr.compress(bpppb=RATE)


def test_dataset_with_a_non_cube_variable_needs_var():
    ds = make_array().to_dataset()
    ds["labels"] = (("y", "x"), np.zeros((40, 36), dtype=np.uint8))
    with pytest.raises(SceneError, match=r"var="):
        ds.inr.compress(bpppb=2.0, progress=False)
    back = ds.inr.compress(bpppb=2.0, var="reflectance", progress=False).inr.decompress()
    assert list(back.data_vars) == ["reflectance"]


# -- band dimension and wavelengths ---------------------------------------------------------
def test_band_dim_found_by_wavelength_coordinate():
    cube = synthetic_cube(8, 20, 18, 0)
    wavelength_um = ("channel", np.linspace(0.4, 1.0, 8))
    da = xr.DataArray(cube, dims=("channel", "row", "col"), coords={"wavelength": wavelength_um})
    assert find_band_dim(da) == "channel"
    with pytest.warns(GuessWarning, match="micrometres"):  # no units: guessed from the values, and said
        np.testing.assert_allclose(wavelengths_of(da, "channel"), np.linspace(400, 1000, 8))
    with pytest.warns(GuessWarning):
        back = da.inr.compress(bpppb=RATE, progress=False).inr.decompress()
    assert_same_frame(back, da)


def test_wavelengths_from_band_coordinate_and_attrs():
    da = xr.DataArray(np.zeros((3, 2, 2)), dims=("band", "y", "x"), coords={"band": [450.0, 550.0, 650.0]})
    with pytest.warns(GuessWarning, match="taken as band wavelengths in nm"):
        np.testing.assert_allclose(da.inr.wavelengths, [450, 550, 650])
    plain = xr.DataArray(np.zeros((3, 2, 2)), dims=("band", "y", "x"), coords={"band": [1, 2, 3]})
    assert plain.inr.wavelengths is None
    plain.attrs["wavelength"] = "{0.45, 0.55, 0.65}"  # ENVI text, micrometres
    with pytest.warns(GuessWarning, match="micrometres"):
        np.testing.assert_allclose(plain.inr.wavelengths, [450, 550, 650])
    plain.attrs["wavelength"] = [400.0, 500.0]
    with pytest.raises(SceneError, match="2 wavelengths for 3 bands"):
        plain.inr.wavelengths


@pytest.mark.filterwarnings("error::torchgeo_inr.errors.GuessWarning")
def test_wavelengths_with_units_are_not_guessed():
    nm = xr.DataArray(np.zeros((3, 2, 2)), dims=("band", "y", "x"), coords={"band": ("band", [450.0, 550.0, 650.0], {"units": "nm"})})
    np.testing.assert_allclose(nm.inr.wavelengths, [450, 550, 650])
    um = xr.DataArray(np.zeros((3, 2, 2)), dims=("band", "y", "x"), attrs={"wavelength": [0.45, 0.55, 0.65], "wavelength_units": "um"})
    np.testing.assert_allclose(um.inr.wavelengths, [450, 550, 650])
    np.testing.assert_allclose(make_array().inr.wavelengths, np.linspace(400, 1000, 8))


def test_transform_from_coordinates_through_rioxarray():
    assert make_array().inr.transform == TRANSFORM  # no GeoTransform: derived from the x/y coordinates
    assert make_array().inr.crs is None
    assert xr.DataArray(np.zeros((3, 4, 4)), dims=("band", "y", "x")).inr.transform is None
    assert xr.DataArray(np.zeros((3, 4, 4)), dims=("band", "a", "b")).inr.transform is None
    written = make_array().rio.write_crs("EPSG:32616")
    assert "32616" in written.inr.crs


def test_missing_ambiguous_and_wrong_band_dims():
    cube = synthetic_cube(8, 20, 18, 0)
    anonymous = xr.DataArray(cube, dims=("a", "b", "c"))
    with pytest.raises(SceneError, match=r"cannot find the band dimension.*band_dim="):
        anonymous.inr.compress(bpppb=RATE)
    back = anonymous.inr.compress(bpppb=RATE, band_dim="a", progress=False).inr.decompress()
    assert back.dims == ("a", "b", "c")
    with pytest.raises(SceneError, match="ambiguous"):
        xr.DataArray(cube, dims=("band", "wavelength", "x")).inr.compress(bpppb=RATE)
    with pytest.raises(SceneError, match="not a dimension"):
        anonymous.inr.compress(bpppb=RATE, band_dim="band")
    with pytest.raises(SceneError, match="exactly two spatial"):
        xr.DataArray(cube[None], dims=("time", "band", "y", "x")).inr.compress(bpppb=RATE)
    with pytest.raises(SceneError, match="cannot find the band dimension"):
        xr.DataArray(cube[0], dims=("y", "x")).inr.compress(bpppb=RATE)


# -- bad values ---------------------------------------------------------------------------
def test_nan_is_masked_and_given_back_chunked():
    cube = synthetic_cube(8, 32, 32, 0).astype(np.float32)
    cube[:, 3:6, 20:25] = np.nan  # a few holes
    cube[:, 16:, 16:] = np.nan  # one whole tile
    da = xr.DataArray(cube, dims=("band", "y", "x")).chunk({"y": 16, "x": 16})
    form = da.inr.compress(bpppb=RATE)
    assert len(form["__xarray_dataarray_variable__"].values[1, 1]) == 0  # the empty tile costs nothing
    back = form.inr.decompress().values
    assert back.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(back), np.isnan(cube))
    assert quality_report(cube, back, mask=np.isnan(cube))["psnr_band"] > 38


def test_integer_nodata_and_dtype_kept():
    cube = synthetic_cube(8, 20, 18, 0)
    cube[:, :4, :4] = 0
    da = xr.DataArray(cube, dims=("band", "y", "x"), attrs={"_FillValue": 0})
    back = da.inr.compress(bpppb=RATE, progress=False).inr.decompress()
    assert back.dtype == np.uint16 and back.attrs["_FillValue"] == 0
    np.testing.assert_array_equal(back.values == 0, cube == 0)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float64"])
def test_integer_and_float_dtypes(dtype):
    cube = synthetic_cube(8, 20, 18, 0).astype(np.float64)
    if dtype == "uint8":
        cube = cube / 30  # ~35..235
    elif dtype == "int16":
        cube = cube - 5000  # negative values
    da = xr.DataArray(cube.astype(dtype), dims=("band", "y", "x"))
    back = da.inr.compress(bpppb=RATE, progress=False).inr.decompress()
    assert back.dtype == np.dtype(dtype)
    if dtype == "uint8":
        assert back.values.min() >= 0 and back.values.max() <= 255  # rounded and clipped to the dtype
    assert psnr_per_band(da.values, back.values) > 30


def test_tile_too_small_names_the_tile():
    da = xr.DataArray(synthetic_cube(8, 32, 32, 0), dims=("band", "y", "x")).chunk({"y": 8, "x": 8})
    with pytest.raises(RateError, match=r"tile \(\d+, \d+\) = y \d+:\d+, x \d+:\d+: .*smallest stream"):
        da.inr.compress(bpppb=0.05)


def test_other_errors():
    da = make_array()
    with pytest.raises(UnknownCodecError):
        da.inr.compress(bpppb=1.0, codec="no-such-codec")
    form = da.inr.compress(bpppb=2.0, progress=False)
    with pytest.raises(SceneError, match="already a compressed form"):
        form.inr.compress(bpppb=1.0)
    with pytest.raises(SceneError, match="not a compressed form"):
        da.to_dataset().inr.decompress()
    with pytest.raises(SceneError, match="dtype"):
        xr.DataArray(np.zeros((3, 4, 4), dtype=complex), dims=("band", "y", "x")).inr.compress()


def test_to_zarr_delegates_or_says_what_is_missing(tmp_path, monkeypatch):
    da = make_array()
    if importlib.util.find_spec("torchgeo_inr.plugins.zarr_store") is None:
        with pytest.raises(NotImplementedError, match="zarr_store"):
            da.inr.to_zarr(tmp_path / "x.zarr", bpppb=1.0)
        return
    import torchgeo_inr.plugins.zarr_store as zarr_store

    seen = {}
    monkeypatch.setattr(zarr_store, "to_zarr", lambda obj, store, **kw: seen.update(obj=obj, store=store, **kw))
    da.inr.to_zarr(tmp_path / "x.zarr", bpppb=1.0, zarr_format=2)
    assert seen["obj"] is da and seen["bpppb"] == 1.0 and seen["zarr_format"] == 2


# -- Dask ---------------------------------------------------------------------------------
def test_lazy_decompression_decodes_only_indexed_tiles(monkeypatch):
    da = make_array(height=32, width=32).chunk({"y": 16, "x": 16})
    form = da.inr.compress(bpppb=RATE)
    assert form["reflectance"].shape == (2, 2)
    calls = []
    real_decode = torchgeo_inr.compress.decode

    def counting_decode(data, **kwargs):
        calls.append(len(data))
        return real_decode(data, **kwargs)

    monkeypatch.setattr(torchgeo_inr.compress, "decode", counting_decode)
    lazy = form.inr.decompress()
    assert calls == [] and lazy.chunks == da.chunks
    with dask.config.set(scheduler="synchronous"):
        corner = lazy.isel(y=slice(0, 5), x=slice(0, 5)).compute()
        assert len(calls) == 1
        lazy.isel(y=slice(20, 24)).compute()  # the bottom row of tiles
        assert len(calls) == 3
        full = lazy.compute()
    assert len(calls) == 7
    np.testing.assert_array_equal(corner.values, full.values[:, :5, :5])
    assert_same_frame(full, da)


def test_tiles_that_do_not_divide_the_scene_and_band_chunks():
    da = make_array(height=40, width=36).chunk({"band": 4, "y": 24, "x": 20})
    form = da.inr.compress(bpppb=RATE)
    assert form["reflectance"].shape == (2, 2)
    assert list(form["tile_y"].values) == [0, 24] and list(form["tile_x"].values) == [0, 20]
    lazy = form.inr.decompress()
    assert lazy.chunks == ((4, 4), (24, 16), (20, 16))  # the input's chunks, band split included
    back = lazy.compute()
    assert_same_frame(back, da.compute())
    assert psnr_per_band(da.values, back.values) > 38
    assert form.inr.bpppb <= RATE


def test_chunked_on_local_cluster_matches_unchunked(tmp_path):
    da = make_array(bands=8, height=128, width=96)
    whole = da.inr.compress(bpppb=1.0, progress=False)
    whole_psnr = psnr_per_band(da.values, whole.inr.decompress().values)
    local = da.chunk({"y": 64}).inr.compress(bpppb=1.0, progress=False)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster):
        tiled = da.chunk({"y": 64}).inr.compress(bpppb=1.0)
        assert "encode_tile" in cluster.scheduler.task_prefixes  # the tiles ran on the cluster
        back = tiled.inr.decompress().compute()
    assert tiled.inr.bpppb <= 1.0
    # The cluster writes the very streams the local scheduler writes...
    assert [bytes(s) for s in tiled["reflectance"].values.ravel()] == [bytes(s) for s in local["reflectance"].values.ravel()]
    # ...and two tiles cost little against one scene (each pays its own header and basis).
    tiled_psnr = psnr_per_band(da.values, back.values)
    assert abs(tiled_psnr - whole_psnr) < 1.0, (whole_psnr, tiled_psnr)


def test_compute_false_composes_on_a_local_cluster():
    da = make_array(height=32, width=32).chunk({"y": 16, "x": 16})
    eager = da.inr.compress(bpppb=RATE, progress=False)
    lazy = da.inr.compress(bpppb=RATE, compute=False)
    assert lazy.inr.is_lazy and not eager.inr.is_lazy
    assert lazy["reflectance"].shape == (2, 2) and lazy["reflectance"].chunks == ((1, 1), (1, 1))
    with pytest.raises(SceneError, match="lazy.*compute it first"):
        lazy.inr.bpppb
    decoded = lazy.inr.decompress()  # a graph on the encode tasks
    assert decoded.chunks == da.chunks
    band_means = decoded.astype(np.float64).mean(dim=("y", "x"))  # another Dask step on top
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster):
        form, means = dask.compute(lazy, band_means)
        assert {"encode_tile", "mean_chunk"} <= set(cluster.scheduler.task_prefixes)  # (decoding fused into the mean)
    assert not form.inr.is_lazy and form.inr.nbytes == eager.inr.nbytes
    for a, b in zip(form["reflectance"].values.ravel(), eager["reflectance"].values.ravel()):
        assert a == b  # the same bytes as the eager compress
    expected = eager.inr.decompress().astype(np.float64).mean(dim=("y", "x")).compute()
    np.testing.assert_allclose(means.values, expected.values)


def test_progress_over_tiles(capsys, tmp_path):
    da = make_array(height=16, width=32).chunk({"x": 16})  # two tiles side by side
    capsys.readouterr()
    da.inr.compress(bpppb=RATE)
    err = capsys.readouterr().err
    assert "encoding" in err and "2/2" in err
    lazy = da.inr.compress(bpppb=RATE, compute=False)
    assert capsys.readouterr().err == ""  # nothing runs, nothing shown
    with tile_progress(total=2, desc="my job"):
        dask.compute(lazy, lazy.inr.decompress().sum())
    err = capsys.readouterr().err
    assert "my job" in err and "2/2" in err
    da.inr.to_zarr(tmp_path / "p.zarr", bpppb=RATE, tile=16)
    err = capsys.readouterr().err
    assert "writing Zarr chunks" in err and "2/2" in err
    da.inr.compress(bpppb=RATE, progress=False)
    assert capsys.readouterr().err == ""


def test_decode_device_plumbing_on_cpu(monkeypatch):
    da = make_array(height=16, width=32).chunk({"x": 16})  # two tiles side by side
    form = da.inr.compress(bpppb=RATE, progress=False)
    reference = form.inr.decompress().values
    devices = []
    real_decode = torchgeo_inr.compress.decode

    def recording_decode(data, *, device=None):
        devices.append(device)
        return real_decode(data, device=device)

    monkeypatch.setattr(torchgeo_inr.compress, "decode", recording_decode)
    on_cpu = form.inr.decompress(device="cpu")
    assert on_cpu.chunks == da.chunks
    np.testing.assert_array_equal(on_cpu.values, reference)
    assert devices == ["cpu"] * 2
    batched = form.inr.decompress(device="cpu", tiles_per_task=2)  # two tiles per Dask task
    assert batched.chunks == da.chunks and len(batched.data.dask.layers) >= 2
    np.testing.assert_array_equal(batched.values, reference)
    devices.clear()
    with decode_device("cpu"):  # process-wide, as xr.open_zarr reads use it
        np.testing.assert_array_equal(form.inr.decompress(lazy=False).values, reference)
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    form.inr.decompress(lazy=False)
    assert devices == ["cpu"] * 4
    monkeypatch.delenv(DEVICE_ENV)
    with pytest.raises(ValueError, match="not a torch device"):
        form.inr.decompress(device="warp-drive")
    with pytest.raises(ValueError, match="tiles_per_task"):
        form.inr.decompress(tiles_per_task=0)


# -- on disk -----------------------------------------------------------------------------------
def test_file_round_trip(tmp_path):
    da = make_array(height=32, width=32)
    da = da.assign_coords(
        time=np.datetime64("2021-06-01T10:30:00", "ns"),
        band_name=("band", np.array([f"B{i:02d}" for i in range(8)], dtype=object)),
    )
    da.attrs.update(
        scale=np.float32(0.5), offsets=np.arange(3), pair=(1, 2), nested={"a": [1, "x"]}, blob=b"\x00\x01", nan=np.nan
    )
    ds = da.to_dataset().rio.write_crs("EPSG:4326")
    form = ds.chunk({"y": 16}).inr.compress(bpppb=RATE)
    path = form.inr.to_file(tmp_path / "scene.inrx")
    read = torchgeo_inr.open_compressed(path)
    xr.testing.assert_identical(read, form)
    assert read.inr.nbytes == form.inr.nbytes and read.inr.bpppb == form.inr.bpppb
    assert path.stat().st_size == read.inr.nbytes + metadata_nbytes(path)
    back = read.inr.decompress()
    assert_same_frame(back, ds.chunk({"y": 16}))
    assert type(back["reflectance"].attrs["pair"]) is tuple
    np.testing.assert_array_equal(back["reflectance"].values, form.inr.decompress()["reflectance"].values)


def test_file_refuses_what_it_cannot_store_and_damage(tmp_path):
    import datetime

    da = make_array(height=16, width=16)
    bad = da.assign_coords(when=("band", np.array([datetime.date(2020, 1, i + 1) for i in range(8)], dtype=object)))
    with pytest.raises(SceneError, match="coordinate 'when' holds Python objects"):
        bad.inr.compress(bpppb=RATE, progress=False).inr.to_file(tmp_path / "bad.inrx")
    odd = da.copy()
    odd.attrs["when"] = datetime.date(2020, 1, 1)
    with pytest.raises(SceneError, match="attribute 'when' is a date"):
        odd.inr.compress(bpppb=RATE, progress=False).inr.to_file(tmp_path / "odd.inrx")
    path = da.inr.compress(bpppb=RATE, progress=False).inr.to_file(tmp_path / "ok.inrx")
    raw = bytearray(path.read_bytes())
    (tmp_path / "cut.inrx").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(BitstreamError):
        torchgeo_inr.open_compressed(tmp_path / "cut.inrx")
    (tmp_path / "junk.inrx").write_bytes(b"not a zip at all")
    with pytest.raises(BitstreamError):
        torchgeo_inr.open_compressed(tmp_path / "junk.inrx")


# -- open_scene --------------------------------------------------------------------------------
def test_open_scene_geotiff_npy_and_mat(tmp_path):
    cube = synthetic_cube(8, 20, 18, 0)
    wl = np.linspace(400.0, 1000.0, 8)
    write_scene(Scene.from_array(cube, wavelengths=wl, crs="EPSG:32616", transform=TRANSFORM), tmp_path / "s.tif")
    ds = torchgeo_inr.open_scene(tmp_path / "s.tif")
    da = ds["band_data"]
    assert da.dims == ("band", "y", "x") and da.dtype == np.uint16
    np.testing.assert_allclose(ds["wavelength"].values, wl)
    assert ds.rio.crs.to_epsg() == 32616 and ds.rio.transform() == Affine(*TRANSFORM)
    assert float(ds.x[0]) == 500015.0 and float(ds.y[0]) == 3999985.0
    back = ds.inr.compress(bpppb=RATE, progress=False).inr.decompress()
    assert_same_frame(back, ds)

    np.save(tmp_path / "s.npy", cube)
    chunked = torchgeo_inr.open_scene(tmp_path / "s.npy", chunks={"y": 10})
    assert chunked["band_data"].chunks == ((8,), (10, 10), (18,))

    mat = torchgeo_inr.open_scene("tests/data/indian_pines/Indian_pines_corrected.mat")
    assert mat["indian_pines_corrected"].shape == (200, 10, 8)
    assert "wavelength" not in mat.coords
