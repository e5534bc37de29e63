"""``max_error=`` through the xarray accessor and both Zarr codecs: the bound holds on every chunk."""

from __future__ import annotations

import json

import numcodecs
import numpy as np
import pytest
import xarray as xr
import zarr
from conftest import synthetic_cube
from torchgeo_inr.plugins.numcodecs_codec import InrNumcodec
from torchgeo_inr.plugins.zarr_codec import CODEC_NAME, InrCodec

import torchgeo_inr as tgi

SHAPE = (6, 20, 18)
#: No lossy layer: the tests check the wiring and the bound, in well under a second per chunk.
NO_LOSSY = {"lossy": None}


@pytest.fixture(scope="module")
def cube() -> np.ndarray:
    return synthetic_cube(*SHAPE, seed=9)


def _within(back, cube, bound):
    bound = np.broadcast_to(np.asarray(bound, dtype=float).reshape(-1, 1, 1), cube.shape)
    assert (np.abs(back.astype(float) - cube.astype(float)) <= bound).all()


@pytest.mark.parametrize("chunked", [False, True])
def test_accessor_max_error(cube, chunked):
    da = xr.DataArray(cube, dims=("band", "y", "x"), name="reflectance")
    if chunked:
        da = da.chunk({"y": 10, "x": 9})
    form = da.inr.compress(codec="error-bound", max_error=8, progress=False, **NO_LOSSY)
    assert form.inr.info()["variables"]["reflectance"]["codec"] == "error-bound"
    back = form.inr.decompress(lazy=False)
    _within(back.values, cube, 8)


def test_accessor_per_band_and_relative(cube):
    da = xr.DataArray(cube, dims=("band", "y", "x"))
    per_band = [0, 1, 2, 4, 8, 16]
    back = da.inr.compress(codec="error-bound", max_error=per_band, progress=False, **NO_LOSSY).inr.decompress()
    _within(back.values, cube, per_band)
    back = da.inr.compress(codec="error-bound", relative_error=0.01, progress=False, **NO_LOSSY).inr.decompress()
    _within(back.values, cube, 0.01 * np.ptp(cube.reshape(SHAPE[0], -1), axis=1))
    with pytest.raises(ValueError):
        da.inr.compress(max_error=-1, progress=False)


def test_accessor_bound_over_a_lossy_codec(cube):
    """A registry codec named as ``codec`` becomes the lossy layer; the form says what the streams are."""
    da = xr.DataArray(cube, dims=("band", "y", "x"))
    form = da.inr.compress(codec="jpeg2000", max_error=16, progress=False)
    assert form.inr.info()["variables"][next(iter(form.data_vars))]["codec"] == "error-bound"
    _within(form.inr.decompress().values, cube, 16)


def test_zarr_v3_config_and_bound(tmp_path, cube):
    written = InrCodec(codec="error-bound", max_error=[4] * SHAPE[0], options=NO_LOSSY)
    arr = zarr.create_array(tmp_path / "a.zarr", shape=cube.shape, chunks=(6, 10, 9), dtype=cube.dtype,
                            serializer=written, compressors=None)
    arr[:] = cube
    config = json.loads((tmp_path / "a.zarr" / "zarr.json").read_text())["codecs"][0]
    assert config == {"name": CODEC_NAME, "configuration": {
        "codec": "error-bound", "max_error": [4.0] * SHAPE[0], "band_axis": 0, "options": NO_LOSSY}}
    assert InrCodec.from_dict(config) == written
    _within(zarr.open(tmp_path / "a.zarr", mode="r")[:], cube, 4)
    assert InrCodec(relative_error=0.01).to_dict()["configuration"] == {
        "codec": "pca-jpeg2000", "relative_error": 0.01, "band_axis": 0}
    for bad in ({"max_error": -1}, {"max_error": float("nan")}, {"max_error": True},
                {"max_error": 1, "relative_error": 0.1}):
        with pytest.raises(ValueError):
            InrCodec(**bad)


def test_zarr_v2_bound(tmp_path, cube):
    compressor = InrNumcodec(codec="error-bound", relative_error=0.02, options=NO_LOSSY)
    arr = zarr.create_array(tmp_path / "v2.zarr", shape=cube.shape, chunks=(6, 20, 9), dtype=cube.dtype,
                            zarr_format=2, compressors=compressor, filters=None)
    arr[:] = cube
    meta = json.loads((tmp_path / "v2.zarr" / ".zarray").read_text())["compressor"]
    assert meta["relative_error"] == 0.02 and "bpppb" not in meta
    assert numcodecs.get_codec(meta) == compressor
    back = zarr.open(tmp_path / "v2.zarr", mode="r")[:]
    for j in (slice(0, 9), slice(9, 18)):  # relative to each chunk's band ranges
        part = cube[:, :, j]
        _within(back[:, :, j], part, np.floor(0.02 * np.ptp(part.reshape(SHAPE[0], -1), axis=1)))
    assert tgi.info((tmp_path / "v2.zarr" / "0.0.0").read_bytes())["codec"] == "error-bound"
