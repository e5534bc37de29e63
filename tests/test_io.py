import h5py
import numpy as np
import pytest
import scipy.io

from torchgeo_inr.errors import SceneError
from torchgeo_inr.io import read_scene, write_scene
from torchgeo_inr.scene import Scene


@pytest.fixture
def scene(cube):
    wl = np.linspace(400.5, 2500.25, cube.shape[0])
    return Scene.from_array(
        cube,
        wavelengths=wl,
        crs="EPSG:32616",
        transform=(30.0, 0.0, 500000.0, 0.0, -30.0, 4000000.0),
    )


@pytest.mark.parametrize("suffix", [".npy", ".mat", ".tif", ".hdr"])
def test_round_trip(tmp_path, scene, suffix):
    path = tmp_path / f"scene{suffix}"
    write_scene(scene, path)
    back = read_scene(path)
    np.testing.assert_array_equal(back.to_numpy(), scene.to_numpy())
    assert back.dtype == np.uint16
    if suffix != ".npy":
        np.testing.assert_allclose(back.wavelengths, scene.wavelengths, atol=1e-6)
    if suffix in {".tif", ".hdr"}:
        assert "32616" in back.crs or "UTM zone 16N" in back.crs
        assert back.transform == scene.transform


def test_mat_v73_through_h5py(tmp_path, cube):
    path = tmp_path / "v73.mat"
    hwb = np.moveaxis(cube, 0, -1)
    with h5py.File(path, "w") as f:  # MATLAB v7.3 stores the axes reversed
        f["cube"] = hwb.transpose(2, 1, 0)
    back = read_scene(path)
    np.testing.assert_array_equal(back.to_numpy(), cube)


def test_mat_finds_the_one_cube(tmp_path, cube):
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"anything": np.moveaxis(cube, 0, -1), "gt": np.zeros((3, 3))})
    assert read_scene(path).shape == cube.shape


def test_mat_ambiguous(tmp_path, cube):
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"a": np.moveaxis(cube, 0, -1), "b": np.moveaxis(cube, 0, -1)})
    with pytest.raises(SceneError, match="exactly one 3-D array"):
        read_scene(path)
    assert read_scene(path, variable="b").shape == cube.shape


def test_npy_pickle_refused(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(SceneError, match="plain numeric"):
        read_scene(path)


def test_nan_round_trip_tif(tmp_path):
    data = np.random.default_rng(1).random((3, 5, 6)).astype(np.float32)
    data[:, 0, 0] = np.nan
    path = tmp_path / "f.tif"
    write_scene(Scene.from_array(data), path)
    back = read_scene(path)
    assert np.isnan(back.to_numpy()[:, 0, 0]).all()


def test_unknown_extension(tmp_path):
    path = tmp_path / "x.xyz"
    path.write_bytes(b"1")
    with pytest.raises(SceneError, match="cannot tell the format"):
        read_scene(path)


def test_missing_file(tmp_path):
    with pytest.raises(SceneError, match="no such file"):
        read_scene(tmp_path / "nope.mat")
