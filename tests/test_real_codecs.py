"""The classical codecs on the real Indian Pines scene: the bar the neural codecs must clear."""

import pytest
from conftest import require

from torchgeo_inr import compress, metrics
from torchgeo_inr.io import read_scene

# Per-band PSNR (dB) the classical baselines must reach (../shared/DESIGN.md).
BAR = {("pca-jpeg2000", 0.1): 41.17, ("jpeg2000", 0.2): 29.33}


@pytest.fixture(scope="module")
def indian_pines(real_data_dir):
    return read_scene(require(real_data_dir / "indian_pines" / "Indian_pines_corrected.mat"))


@pytest.mark.parametrize(("codec", "rate"), sorted(BAR))
def test_classical_codecs_reach_the_bar(indian_pines, codec, rate):
    data = compress.encode(indian_pines, codec, bpppb=rate, progress=False)
    real = metrics.bpppb(len(data), indian_pines.shape)
    assert 0.9 * rate <= real <= rate
    decoded = compress.decode(data)
    assert metrics.psnr_per_band(indian_pines.to_numpy(), decoded.to_numpy()) >= BAR[(codec, rate)]
