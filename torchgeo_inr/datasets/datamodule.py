"""Whole scenes, or tiles of them, as a TorchGeo data module: the input of compression experiments.

The patch data module (:class:`torchgeo_inr.classification.datamodule.HyperspectralPatchDataModule`)
serves labelled pixels for classification; this one serves the scene itself,
in its recorded values (no normalisation), so that a codec fitted or
evaluated through Lightning sees what ``torchgeo_inr.encode`` would. A
single scene has no training/test split: every stage gets the same tiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module

from torchgeo.datamodules import NonGeoDataModule
from torchgeo.datasets.utils import Sample

from .tiles import SceneTiles

#: Data module name -> dataset class name (in :mod:`torchgeo_inr.datasets`).
SCENES = {
    "indian_pines": "IndianPines",
    "pavia_university": "PaviaUniversity",
    "pavia_centre": "PaviaCentre",
    "cuprite": "Cuprite",
}


class HyperspectralSceneDataModule(NonGeoDataModule):
    """One benchmark scene, whole or in tiles of equal size, for compression experiments.

    Args:
        dataset: "indian_pines", "pavia_university", "pavia_centre" or "cuprite"
        root: folder with the scene's .mat files
        bands: band names to serve (default: all; see the dataset's ``all_bands``)
        tile_size: side of square tiles; None serves the whole scene as one sample
        stride: pixels between tiles (default: ``tile_size``); see :class:`SceneTiles`
        batch_size: samples per batch
        num_workers: data-loading processes
        download: download missing files
        checksum: verify the files' checksums
    """

    def __init__(
        self,
        dataset: str = "indian_pines",
        root: str = "data",
        bands: Sequence[str] | None = None,
        tile_size: int | None = None,
        stride: int | None = None,
        batch_size: int = 1,
        num_workers: int = 0,
        download: bool = False,
        checksum: bool = False,
    ) -> None:
        if dataset not in SCENES:
            raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(SCENES)}")
        cls = getattr(import_module("torchgeo_inr.datasets"), SCENES[dataset])
        super().__init__(cls, batch_size, num_workers, root=root, mode="scene", bands=bands,
                         download=download, checksum=checksum)  # fmt: skip
        self.tile_size = tile_size
        self.stride = stride

    def setup(self, stage: str) -> None:
        """Read the scene once and serve its tiles to every stage."""
        if getattr(self, "tiles", None) is None:
            self.tiles = SceneTiles(self.dataset_class(**self.kwargs), self.tile_size, self.stride)
        self.train_dataset = self.val_dataset = self.test_dataset = self.predict_dataset = self.tiles

    def on_after_batch_transfer(self, batch: Sample, dataloader_idx: int) -> Sample:
        """No normalisation: a codec sees the scene's recorded values."""
        return batch
