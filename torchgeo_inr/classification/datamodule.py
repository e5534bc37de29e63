"""Patch classification data for the labelled benchmark scenes, original or decoded from a stream.

The same standard split serves both (it depends on the ground truth and the
seed only), so a classifier trained on a compressed scene is tested on
exactly the pixels of one trained on the original. With ``stream`` set, the
scene is decoded from that torchgeo-inr file and replaces the cube read from
disk; the shapes must agree.

Validation is a fixed random ``val_fraction`` of the test pixels, for
monitoring only: nothing is selected on it, the model tested is the one of
the last epoch, and the test set is the whole test split.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Subset
from torchgeo.datamodules import NonGeoDataModule

from .normalise import ScaleBands, band_range


def dataset_classes() -> dict:
    from ..datasets import IndianPines, PaviaCentre, PaviaUniversity

    return {"indian_pines": IndianPines, "pavia_university": PaviaUniversity, "pavia_centre": PaviaCentre}


def decoded_scene(stream: str | Path) -> np.ndarray:
    """The (B, H, W) float32 scene of a torchgeo-inr stream file."""
    from ..compress import decode

    return decode(Path(stream).read_bytes()).data


class HyperspectralPatchDataModule(NonGeoDataModule):
    """Patches centred on labelled pixels of a benchmark scene, scaled per band to [0, 1].

    Args:
        dataset: "indian_pines", "pavia_university" or "pavia_centre"
        root: folder with the scene's .mat files
        stream: a torchgeo-inr stream of the scene; when given, its decode is classified
        patch_size: odd side of the patches
        batch_size: samples per batch
        num_workers: data-loading processes
        split_seed: seed of the training-pixel draw
        train_counts: training pixels per class, instead of the standard split's
        val_fraction: share of the test pixels used to monitor training
        download: download missing files
    """

    def __init__(
        self,
        dataset: str = "indian_pines",
        root: str = "data",
        stream: str | None = None,
        patch_size: int = 7,
        batch_size: int = 64,
        num_workers: int = 0,
        split_seed: int = 0,
        train_counts: Sequence[int] | None = None,
        val_fraction: float = 0.1,
        download: bool = False,
    ) -> None:
        classes = dataset_classes()
        if dataset not in classes:
            raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(classes)}")
        cls = classes[dataset]
        if train_counts is not None:
            cls = type(cls.__name__, (cls,), {"train_counts": tuple(int(c) for c in train_counts)})
        super().__init__(cls, batch_size, num_workers, root=root, mode="patch", patch_size=patch_size,
                         seed=split_seed, download=download)  # fmt: skip
        self.stream = stream
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.scale: ScaleBands | None = None
        self._decoded: np.ndarray | None = None

    def setup(self, stage: str) -> None:
        if self.stream is not None and self._decoded is None:  # decoded once for fit, test and predict
            self._decoded = decoded_scene(self.stream)
        # The dataset refuses an image whose shape is not the scene's.
        kwargs = {**self.kwargs, "image": self._decoded}
        train = self.dataset_class(split="train", **kwargs)
        self.scale = ScaleBands(*band_range(train.image))
        self.classes = train.classes
        self.mask = train.mask
        train.transforms = self.scale
        test = self.dataset_class(split="test", transforms=self.scale, **kwargs)
        if stage == "fit":
            self.train_dataset = train
        if stage in ("fit", "validate"):
            count = max(1, round(self.val_fraction * len(test)))
            order = torch.randperm(len(test), generator=torch.Generator().manual_seed(self.split_seed + 1))
            self.val_dataset = Subset(test, order[:count].tolist())
        if stage in ("test", "predict"):
            self.test_dataset = test
            self.predict_dataset = test

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Scaling happens per sample (:class:`ScaleBands`); no batch augmentation here."""
        return batch
