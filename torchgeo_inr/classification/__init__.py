"""Classification on (compressed) hyperspectral scenes: a TorchGeo task with ASW and ISI.

- :class:`HyperspectralPatchDataModule`: labelled patches of a benchmark
  scene, original or decoded from a torchgeo-inr stream, standard splits
- :class:`HSIClassificationTask`: SpectralFormer-style or CNN backbone, with
  Adaptive Spectral Weighting and Implicit Spectral Interpolation
- :mod:`.maps`: classification maps and their figure

Run from LightningCLI configs (``examples/classification/*.yaml``)::

    python -m torchgeo_inr.classification fit --config examples/classification/compressed_asw_isi.yaml
"""

from .asw import AdaptiveSpectralWeighting
from .datamodule import HyperspectralPatchDataModule
from .task import HSIClassificationTask

__all__ = ["AdaptiveSpectralWeighting", "HSIClassificationTask", "HyperspectralPatchDataModule"]
