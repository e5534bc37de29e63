"""latent-grid weighs its bands for the PCA with what pca-jpeg2000's re-weighting measures (coding weights)."""

import numpy as np
from conftest import synthetic_cube

from torchgeo_inr import bitstream
from torchgeo_inr.codec import as_scene
from torchgeo_inr.codecs import latent_grid
from torchgeo_inr.codecs.latent_grid_data import CODING_WEIGHT_SHARE, coding_weights
from torchgeo_inr.codecs.pca_jpeg2000 import PCAJPEG2000Codec
from torchgeo_inr.latent_grid.side_coding import unpack_bands
from torchgeo_inr.packing import unpack_array


def _log2_peak(cube: np.ndarray) -> np.ndarray:
    return np.log2(np.abs(cube.reshape(cube.shape[0], -1)).max(axis=1).astype(np.float64))


def test_band_weights_are_what_the_pca_stream_stores():
    """The weights are the re-weighting's choice: each band's peak over the scale its stream holds."""
    cube = synthetic_cube(24, 32, 32, seed=4)
    codec = PCAJPEG2000Codec()
    weights = codec.band_weights(as_scene(cube), 0.5)  # the scene as encode sees it (uint16: its header's size)
    encoded = codec.encode_with_report(cube, bpppb=0.5, progress=False)
    assert len(encoded.report.attempts) == 1  # the stream was coded for this very budget
    stored = unpack_array(bitstream.unpack(encoded.data).section("scale"), "f2", 24, "scale").astype(np.float64)
    np.testing.assert_allclose(weights, _log2_peak(cube) - stored)
    assert weights.shape == (24,) and np.ptp(weights) > 0.1  # the re-weighting moved the bands apart


def test_coding_weights_take_their_share_and_give_way_where_pca_has_no_stream():
    cube = synthetic_cube(24, 32, 32, seed=4)
    full = PCAJPEG2000Codec().band_weights(as_scene(cube), 0.5)
    np.testing.assert_allclose(coding_weights(as_scene(cube), 0.5), CODING_WEIGHT_SHARE * full)
    assert coding_weights(as_scene(synthetic_cube(8, 4, 4, seed=1)), 0.05) is None  # no stream that small


def test_a_latent_grid_stream_holds_its_bands_over_their_weights(monkeypatch):
    """The weights ride in the per-band scales the stream holds (no new section, nothing new to decode)."""
    cube = synthetic_cube(16, 24, 24, seed=6)
    weights = np.linspace(-1.0, 1.0, 16)
    seen = []

    def fake_weights(scene, bpppb):
        seen.append(bpppb)
        return weights

    monkeypatch.setattr(latent_grid, "coding_weights", fake_weights)
    encoded = latent_grid.LatentGridCodec(steps=30, seed=0, threads=1).encode_with_report(
        cube, bpppb=2.0, progress=False
    )
    assert seen and encoded.report.details["config"]["tilt"] == "coding"
    scale, _ = unpack_bands(bitstream.unpack(encoded.data).sections, 16)
    np.testing.assert_array_equal(scale, (_log2_peak(cube) - weights).astype(np.float16))
