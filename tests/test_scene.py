import numpy as np
import pytest

from torchgeo_inr.errors import SceneError
from torchgeo_inr.scene import Scene


def test_from_array_keeps_dtype_and_values(cube):
    scene = Scene.from_array(cube)
    assert scene.shape == cube.shape
    assert scene.data.dtype == np.float32
    assert scene.dtype == np.uint16
    np.testing.assert_array_equal(scene.to_numpy(), cube)


def test_band_axis_last(cube):
    scene = Scene.from_array(np.moveaxis(cube, 0, -1), band_axis=-1)
    np.testing.assert_array_equal(scene.to_numpy(), cube)


def test_two_dimensional_is_one_band():
    assert Scene.from_array(np.ones((4, 5))).shape == (1, 4, 5)


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4, 5), (0, 4, 4)])
def test_bad_shapes(shape):
    with pytest.raises(SceneError, match="shape|empty"):
        Scene.from_array(np.zeros(shape))


def test_nan_becomes_mask_and_comes_back():
    data = np.random.default_rng(0).random((3, 4, 5)).astype(np.float32)
    data[1, 2, 3] = np.nan
    scene = Scene.from_array(data)
    assert scene.mask is not None and scene.mask.sum() == 1
    assert np.isfinite(scene.data).all()
    out = scene.to_numpy()
    assert np.isnan(out[1, 2, 3])
    np.testing.assert_array_equal(out[~scene.mask], data[~scene.mask])


def test_integer_nodata_value():
    data = np.full((2, 3, 3), 7, dtype=np.int16)
    data[0, 0, 0] = -9999
    scene = Scene.from_array(data, nodata=-9999)
    assert scene.mask[0, 0, 0] and scene.mask.sum() == 1
    assert scene.data[0, 0, 0] == 7  # filled with the band mean for the codecs
    assert scene.to_numpy()[0, 0, 0] == -9999


def test_infinite_refused():
    data = np.ones((2, 3, 3))
    data[0, 0, 0] = np.inf
    with pytest.raises(SceneError, match="infinite"):
        Scene.from_array(data)


def test_all_nodata_refused():
    with pytest.raises(SceneError, match="nothing to compress"):
        Scene.from_array(np.full((2, 2, 2), np.nan))


def test_wavelength_count_checked(cube):
    with pytest.raises(SceneError, match="wavelengths"):
        Scene.from_array(cube, wavelengths=[400, 500])


def test_non_numeric_refused():
    with pytest.raises(SceneError, match="dtype"):
        Scene.from_array(np.array([["a"]]))


def test_restore_clips_integers():
    scene = Scene.from_array(np.array([[[0, 255]]], dtype=np.uint8))
    scene = scene.with_data(np.array([[[-3.2, 300.0]]]))
    np.testing.assert_array_equal(scene.to_numpy(), [[[0, 255]]])
