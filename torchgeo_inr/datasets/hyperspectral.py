"""Shared logic of the single-scene hyperspectral benchmarks (Indian Pines, Pavia, Cuprite).

Each benchmark is one scene in one or two MATLAB files. The dataset serves it
whole (``mode='scene'``, one sample) or as patches centred on the labelled
pixels of the standard training or test split (``mode='patch'``). Bands are
named and picked as in TorchGeo's ``HySpecNet11k``: ``all_bands``,
``bands=``, ``rgb_bands`` (what ``plot()`` draws, else
``RGBBandsMissingError``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import ClassVar, Literal

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from torch import Tensor
from torchgeo.datasets import DatasetNotFoundError, NonGeoDataset, RGBBandsMissingError
from torchgeo.datasets.utils import Path, Sample, check_integrity, download_url, quantile_normalization

from ..errors import SceneError
from ..io import load_mat_arrays
from ..plotting import STRETCH_PERCENTILES
from .splits import standard_split

#: Where the EHU Computational Intelligence Group serves the benchmark files.
EHU_URL = "http://www.ehu.eus/ccwintco/uploads/"

#: Mask value of pixels without ground truth; class ``k`` (0-based) has mask value ``k + 1``.
UNLABELLED = 0


def read_mat_variable(path: Path, name: str) -> np.ndarray:
    """One numeric variable of a .mat file, with an error that lists what the file holds instead."""
    arrays = load_mat_arrays(path)
    if name not in arrays:
        raise SceneError(f"{path} has no variable {name!r}; it has {sorted(arrays)}")
    return arrays[name]


def reflect_indices(indices: np.ndarray, size: int) -> np.ndarray:
    """Fold indices that fall outside ``[0, size)`` back inside, as ``np.pad(mode='reflect')`` does."""
    indices = np.abs(indices)
    return np.where(indices >= size, 2 * (size - 1) - indices, indices)


class HyperspectralSceneDataset(NonGeoDataset):
    """A single hyperspectral scene, whole or as labelled patches; subclasses name the files.

    Scene mode gives one sample: ``image`` float32 (B, H, W), ``wavelength``
    float32 (B,) in nm and, where there is ground truth, ``mask`` long (H, W)
    with :data:`UNLABELLED` (0) or ``k + 1`` for ``classes[k]``. B is the
    number of ``bands`` picked (default: ``all_bands``, in the file's order).

    Patch mode gives one sample per labelled pixel of the split: ``image``
    float32 (B, p, p) centred on the pixel (reflect-padded at the borders),
    ``label`` long 0-based index into ``classes``, ``wavelength`` and
    ``position`` long (row, col).

    The ``image`` argument replaces the cube read from disk (same shape), so
    that a decoded, compressed scene goes through exactly the same splits.
    """

    #: File name -> download URL, for every file the scene needs.
    urls: ClassVar[dict[str, str]]
    #: Known checksums per file name; files in neither are not verified.
    md5s: ClassVar[dict[str, str]] = {}
    sha256s: ClassVar[dict[str, str]] = {}

    image_file: ClassVar[str]
    image_variable: ClassVar[str]
    mask_file: ClassVar[str | None] = None
    mask_variable: ClassVar[str | None] = None

    #: Names of the file's bands, in its order ("B<sensor band number>"), as TorchGeo names bands.
    all_bands: ClassVar[tuple[str, ...]]
    #: The bands nearest 640, 550 and 460 nm: the ones :meth:`plot` draws.
    rgb_bands: ClassVar[tuple[str, ...]]

    #: Class names; ``classes[k]`` is patch label ``k`` and mask value ``k + 1``.
    classes: ClassVar[tuple[str, ...]] = ()
    #: Training pixels per class of the standard split.
    train_counts: ClassVar[tuple[int, ...]] = ()

    modes = ("scene", "patch")
    splits = ("train", "test")

    def __init__(
        self,
        root: Path = "data",
        split: Literal["train", "test"] = "train",
        mode: Literal["scene", "patch"] = "scene",
        patch_size: int = 7,
        seed: int = 0,
        image: np.ndarray | Tensor | None = None,
        bands: Sequence[str] | None = None,
        transforms: Callable[[Sample], Sample] | None = None,
        download: bool = False,
        checksum: bool = False,
    ) -> None:
        """Initialize a new dataset instance.

        Args:
            root: root directory where the .mat files are, or go when downloaded
            split: "train" or "test" pixels of the standard split (patch mode only)
            mode: "scene" for the whole scene as one sample, "patch" for one
                patch per labelled pixel of ``split``
            patch_size: odd side, in pixels, of the patches (patch mode only)
            seed: seed of the random training-pixel draw (patch mode only)
            image: (B, H, W) array or tensor used instead of the cube on disk,
                e.g. a decoded compressed scene; it must have the cube's shape
                (all its bands, or only the ``bands`` picked)
            bands: names of the bands to return, from ``all_bands`` (default:
                all of them); samples and ``wavelengths`` follow this order
            transforms: a function/transform that takes an input sample
                and returns a transformed version
            download: if True, download missing files into ``root``
            checksum: if True, verify the files' MD5 or SHA-256 where known

        Raises:
            DatasetNotFoundError: if a file is missing and *download* is False.
            RuntimeError: if *checksum* is True and a file does not match.
            ValueError: if an argument is invalid (an unknown band among them),
                or patch mode is asked of a scene without ground truth.
        """
        if split not in self.splits:
            raise ValueError(f"split must be one of {self.splits}, not {split!r}")
        if mode not in self.modes:
            raise ValueError(f"mode must be one of {self.modes}, not {mode!r}")
        if mode == "patch" and self.mask_file is None:
            raise ValueError(f"{type(self).__name__} has no class ground truth, so it has no patch mode")
        if patch_size < 1 or patch_size % 2 == 0:
            raise ValueError(f"patch_size must be a positive odd number, not {patch_size}")

        self.root = root
        self.split = split
        self.mode = mode
        self.patch_size = patch_size
        self.seed = seed
        self.transforms = transforms
        self.download = download
        self.checksum = checksum

        self._verify()

        cube, wavelengths = self._load_image()
        if len(wavelengths) != cube.shape[0]:
            raise SceneError(f"{self.image_file}: {cube.shape[0]} bands but {len(wavelengths)} wavelengths")
        if len(self.all_bands) != cube.shape[0]:
            raise SceneError(f"{self.image_file}: {cube.shape[0]} bands, but {type(self).__name__} names "
                             f"{len(self.all_bands)}")  # fmt: skip
        self.bands = self._checked_bands(bands)
        self.band_indices = [self.all_bands.index(b) for b in self.bands]
        picked = np.asarray(self.band_indices)
        if image is not None:
            cube = self._replacement_image(image, cube.shape, len(picked))
        if cube.shape[0] != len(picked) or image is None:
            cube = cube[picked]
        self.image = torch.from_numpy(np.ascontiguousarray(cube, dtype=np.float32))
        self.wavelengths = torch.from_numpy(np.asarray(wavelengths, dtype=np.float32)[picked])
        self.mask = self._load_mask()

        if mode == "patch":
            if patch_size // 2 >= min(cube.shape[1:]):
                raise ValueError(f"patch_size {patch_size} is too large for a {cube.shape[1:]} scene")
            train, test = standard_split(self.mask.numpy(), self.train_counts, seed)
            pixels = train if split == "train" else test
            self.positions = torch.from_numpy(np.stack(np.unravel_index(pixels, self.mask.shape), axis=1))

    def __len__(self) -> int:
        """Return the number of samples: 1 scene, or the pixels of the split.

        Returns:
            length of the dataset
        """
        return 1 if self.mode == "scene" else len(self.positions)

    def __getitem__(self, index: int) -> Sample:
        """Return the scene, or the patch of the ``index``-th pixel of the split.

        Args:
            index: index to return

        Returns:
            the sample described in the class docstring

        Raises:
            IndexError: if index is out of range of the dataset
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} samples")
        if self.mode == "scene":
            sample = {"image": self.image, "wavelength": self.wavelengths}
            if self.mask is not None:
                sample["mask"] = self.mask
        else:
            row, col = (int(v) for v in self.positions[index])
            sample = {
                "image": self._patch(row, col),
                "label": self.mask[row, col] - 1,
                "wavelength": self.wavelengths,
                "position": self.positions[index].clone(),
            }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def _verify(self) -> None:
        """Verify that every file is in ``root``, downloading the missing ones if allowed."""
        for filename, url in self.urls.items():
            checksums = {}
            if self.checksum:
                checksums = {"md5": self.md5s.get(filename), "sha256": self.sha256s.get(filename)}
            path = os.path.join(self.root, filename)
            if os.path.isfile(path):
                if checksums and not check_integrity(path, **checksums):
                    raise RuntimeError(f"Dataset found, but {filename} is corrupted.")
            elif self.download:
                download_url(url, self.root, **checksums)
            else:
                raise DatasetNotFoundError(self)

    def _load_image(self) -> tuple[np.ndarray, np.ndarray]:
        """The cube as (B, H, W) and its band centres in nm."""
        cube = read_mat_variable(os.path.join(self.root, self.image_file), self.image_variable)
        if cube.ndim != 3:
            raise SceneError(f"{self.image_file}: {self.image_variable} is {cube.ndim}-D, expected (H, W, B)")
        return np.moveaxis(cube, -1, 0), self._wavelengths(cube.shape[-1])

    def _wavelengths(self, bands: int) -> np.ndarray:
        """Band centres in nm of a cube with ``bands`` bands."""
        raise NotImplementedError

    def _load_mask(self) -> Tensor | None:
        """The ground truth as long (H, W), or None for a scene without one."""
        if self.mask_file is None or self.mask_variable is None:
            return None
        mask = read_mat_variable(os.path.join(self.root, self.mask_file), self.mask_variable)
        if mask.shape != tuple(self.image.shape[1:]):
            shape = tuple(self.image.shape[1:])
            raise SceneError(f"{self.mask_file}: ground truth is {mask.shape}, image is {shape}")
        return torch.from_numpy(mask.astype(np.int64))

    def _checked_bands(self, bands: Sequence[str] | None) -> tuple[str, ...]:
        """The bands asked for, each one of ``all_bands`` and none twice."""
        if bands is None:
            return tuple(self.all_bands)
        if isinstance(bands, str):
            raise ValueError(f"bands must be a sequence of band names, e.g. [{bands!r}], not one string")
        bands = tuple(bands)
        unknown = [b for b in bands if b not in self.all_bands]
        if unknown:
            shown = ", ".join(self.all_bands[:3]) + ", ..., " + self.all_bands[-1]
            raise ValueError(f"{type(self).__name__} has no bands {unknown}; its bands are {shown}")
        if not bands or len(set(bands)) != len(bands):
            raise ValueError(f"bands must name at least one band, each once; got {list(bands)}")
        return bands

    def _replacement_image(self, image: np.ndarray | Tensor, shape: tuple[int, ...], picked: int) -> np.ndarray:
        """The caller's (B, H, W) image, checked to have the shape of the cube it replaces (all or picked bands)."""
        if isinstance(image, Tensor):
            image = image.detach().cpu().numpy()
        image = np.asarray(image)
        if image.shape not in (shape, (picked, *shape[1:])):
            raise ValueError(
                f"image must have the scene's shape {shape} (B, H, W), or {(picked, *shape[1:])} for the bands "
                f"picked, not {image.shape}"
            )
        return image

    def _patch(self, row: int, col: int) -> Tensor:
        """The (B, p, p) patch centred on (row, col), reflect-padded where it overhangs the scene."""
        radius = self.patch_size // 2
        _, height, width = self.image.shape
        rows = reflect_indices(np.arange(row - radius, row + radius + 1), height)
        cols = reflect_indices(np.arange(col - radius, col + radius + 1), width)
        return self.image[:, torch.from_numpy(rows)[:, None], torch.from_numpy(cols)[None, :]]

    def plot(self, sample: Sample, show_titles: bool = True, suptitle: str | None = None) -> Figure:
        """Plot a sample: the ``rgb_bands`` as RGB, then the mask and the prediction where present.

        Each RGB channel is stretched between its 2nd and 98th percentile.

        Args:
            sample: a sample returned by :meth:`__getitem__`, optionally with a
                ``prediction`` (a (H, W) map for scenes, a label for patches)
            show_titles: flag indicating whether to show titles above each panel
            suptitle: optional string to use as a suptitle

        Returns:
            a matplotlib Figure with the rendered sample

        Raises:
            RGBBandsMissingError: if ``bands`` does not include all of ``rgb_bands``.
        """
        if not set(self.rgb_bands) <= set(self.bands):
            raise RGBBandsMissingError()
        rgb_indices = [self.bands.index(b) for b in self.rgb_bands]
        lower, upper = (q / 100 for q in STRETCH_PERCENTILES)
        channels = [quantile_normalization(c.float(), lower, upper) for c in sample["image"][rgb_indices]]
        rgb = torch.stack(channels, dim=-1).numpy()
        panels: list[tuple[str, np.ndarray]] = [("Image", rgb)]
        for key in ("mask", "prediction"):
            if key in sample and sample[key].ndim == 2:
                panels.append((key.capitalize(), sample[key].numpy()))

        fig, axs = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4), squeeze=False)
        class_colours = ListedColormap(["black", *matplotlib.colormaps["tab20"].colors[: len(self.classes)]])
        for ax, (title, picture) in zip(axs[0], panels):
            if picture.ndim == 2:
                ax.imshow(
                    picture, cmap=class_colours, vmin=0, vmax=len(self.classes), interpolation="nearest"
                )
            else:
                ax.imshow(picture)
            ax.axis("off")
            if show_titles:
                ax.set_title(title)

        if show_titles and "label" in sample:
            title = f"Label: {self.classes[int(sample['label'])]}"
            if "prediction" in sample:
                title += f"\nPrediction: {self.classes[int(sample['prediction'])]}"
            axs[0, 0].set_title(title)

        if suptitle is not None:
            fig.suptitle(suptitle)
        return fig
