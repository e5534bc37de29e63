"""Tiles of a whole scene, for compression experiments that work tile by tile (as the Dask and Zarr paths do).

Every pixel lies in at least one tile and every tile has the same size: the
last row and column of tiles are moved inward to end at the scene's edge
(they overlap their neighbours there), so batches need no padding.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from matplotlib.figure import Figure
from torchgeo.datasets import NonGeoDataset
from torchgeo.datasets.utils import Sample

from .hyperspectral import HyperspectralSceneDataset


def tile_starts(size: int, tile: int, stride: int) -> list[int]:
    """First index of each tile along an axis of ``size``: every ``stride``, the last one ending at the edge."""
    if not 1 <= tile <= size:
        raise ValueError(f"tile size {tile} must be between 1 and the scene's {size} pixels")
    if stride < 1:
        raise ValueError(f"stride must be positive, not {stride}")
    starts = list(range(0, size - tile + 1, stride))
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return starts


class SceneTiles(NonGeoDataset):
    """The tiles of one scene-mode dataset (whole scene: one tile).

    A sample holds ``image`` (B, t, t), ``wavelength`` (B,), ``position``
    (row, column of the tile's first pixel) and, where the scene has ground
    truth, ``mask`` (t, t).
    """

    def __init__(
        self,
        scene: HyperspectralSceneDataset,
        size: int | None = None,
        stride: int | None = None,
        transforms: Callable[[Sample], Sample] | None = None,
    ) -> None:
        """Initialize a new SceneTiles instance.

        Args:
            scene: a dataset in ``mode="scene"`` (its ``bands`` are the tiles' bands)
            size: side of the square tiles in pixels; None for the whole scene as one tile
            stride: pixels between tile starts (default: ``size``, tiles that do not overlap)
            transforms: a function/transform that takes a sample and returns a transformed version

        Raises:
            ValueError: if the scene is not in scene mode, or the tile size or stride does not fit.
        """
        if scene.mode != "scene":
            raise ValueError(f"SceneTiles needs a dataset in mode='scene', not mode={scene.mode!r}")
        self.scene = scene
        self.transforms = transforms
        _, height, width = scene.image.shape
        if size is None:
            if stride is not None:
                raise ValueError("stride needs a tile size")
            self.size = None
            self.positions = torch.zeros((1, 2), dtype=torch.long)
            return
        self.size = int(size)
        stride = self.size if stride is None else int(stride)
        rows, cols = tile_starts(height, self.size, stride), tile_starts(width, self.size, stride)
        self.positions = torch.tensor([(r, c) for r in rows for c in cols], dtype=torch.long)

    def __len__(self) -> int:
        """Return the number of tiles.

        Returns:
            length of the dataset
        """
        return len(self.positions)

    def __getitem__(self, index: int) -> Sample:
        """Return one tile.

        Args:
            index: index to return

        Returns:
            the sample described in the class docstring

        Raises:
            IndexError: if index is out of range of the dataset
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} tiles")
        row, col = (int(v) for v in self.positions[index])
        _, height, width = self.scene.image.shape
        rows = slice(row, row + (self.size or height))
        cols = slice(col, col + (self.size or width))
        sample = {
            "image": self.scene.image[:, rows, cols],
            "wavelength": self.scene.wavelengths,
            "position": self.positions[index].clone(),
        }
        if self.scene.mask is not None:
            sample["mask"] = self.scene.mask[rows, cols]
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def plot(self, sample: Sample, show_titles: bool = True, suptitle: str | None = None) -> Figure:
        """Plot a tile as its scene's dataset plots a scene (see :meth:`HyperspectralSceneDataset.plot`)."""
        return self.scene.plot(sample, show_titles=show_titles, suptitle=suptitle)
