"""Tests of the benchmark-scene datasets: tiny fake files from tests/data/*/data.py, then the real scenes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.io
import torch
import torch.nn as nn
from _pytest.fixtures import SubRequest
from conftest import require
from matplotlib.figure import Figure
from torch.utils.data import ConcatDataset
from torchgeo.datasets import DatasetNotFoundError, RGBBandsMissingError

import torchgeo_inr.datasets.hyperspectral
from torchgeo_inr.datasets import (
    Cuprite,
    HyperspectralSceneDataModule,
    HyperspectralSceneDataset,
    IndianPines,
    PaviaCentre,
    PaviaUniversity,
    SceneTiles,
    standard_split,
)
from torchgeo_inr.datasets.splits import INDIAN_PINES_TRAIN_COUNTS, PAVIA_UNIVERSITY_TRAIN_COUNTS
from torchgeo_inr.datasets.tiles import tile_starts
from torchgeo_inr.datasets.wavelengths import (
    aviris_nominal_wavelengths,
    indian_pines_wavelengths,
    rosis_wavelengths,
)
from torchgeo_inr.errors import GuessWarning, SceneError
from torchgeo_inr.io import load_mat_arrays

DATA = Path(__file__).parent / "data"

# Checksums of the fake files, as printed by tests/data/<folder>/data.py.
FAKE_CHECKSUMS: dict[type[HyperspectralSceneDataset], tuple[str, str, dict[str, str]]] = {
    IndianPines: (
        "indian_pines",
        "md5s",
        {
            "Indian_pines_corrected.mat": "8cb9e2c1a74417905beb8a69fd5bac8d",
            "Indian_pines_gt.mat": "946b6bd63a3d3472da58cec57a104283",
        },
    ),
    PaviaUniversity: (
        "pavia_university",
        "md5s",
        {
            "PaviaU.mat": "1d760309cdd003b1a77d18a63700e105",
            "PaviaU_gt.mat": "4d4b8c8e6019ff23c42556c25cbdb915",
        },
    ),
    PaviaCentre: (
        "pavia_centre",
        "sha256s",
        {"Pavia.mat": "ebd3006c22b4ca4d4d65e8a02d1fa32758be895e6b1d0d08cfbd554ccb9e31bf"},
    ),
    Cuprite: (
        "cuprite",
        "sha256s",
        {
            "Cuprite_f970619t01p02_r02_sc03.a.rfl.mat": (
                "2a5fa83727d523ccd6819942191517eba81660722721f6261cfdcc6f10366366"
            )
        },
    ),
}
FAKE_TRAIN_PIXELS_PER_CLASS = 2  # of the 3 per class in the fake ground truths


def download_url(url: str, root: str | Path, *args: str, **kwargs: str) -> None:
    shutil.copy(url, root)


def use_fake_files(monkeypatch: pytest.MonkeyPatch, cls: type[HyperspectralSceneDataset]) -> Path:
    """Point ``cls`` at its fake files: local 'URLs', their checksums, a split that fits them."""
    folder, checksum_attribute, checksums = FAKE_CHECKSUMS[cls]
    monkeypatch.setattr(torchgeo_inr.datasets.hyperspectral, "download_url", download_url)
    monkeypatch.setattr(cls, "urls", {name: str(DATA / folder / name) for name in cls.urls})
    monkeypatch.setattr(cls, checksum_attribute, checksums)
    monkeypatch.setattr(cls, "train_counts", (FAKE_TRAIN_PIXELS_PER_CLASS,) * len(cls.classes))
    return DATA / folder


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# Pavia's wavelengths are guessed from its band count, with a warning that TestGuesses checks.
@pytest.mark.filterwarnings("ignore::torchgeo_inr.errors.GuessWarning")
class TestLabelledScenes:
    @pytest.fixture(params=[IndianPines, PaviaUniversity, PaviaCentre])
    def cls(self, monkeypatch: pytest.MonkeyPatch, request: SubRequest) -> type[HyperspectralSceneDataset]:
        use_fake_files(monkeypatch, request.param)
        return request.param

    @pytest.fixture
    def dataset(self, cls: type[HyperspectralSceneDataset], tmp_path: Path) -> HyperspectralSceneDataset:
        return cls(tmp_path, transforms=nn.Identity(), download=True, checksum=True)

    @pytest.fixture
    def patches(self, cls: type[HyperspectralSceneDataset], tmp_path: Path) -> HyperspectralSceneDataset:
        return cls(tmp_path, split="train", mode="patch", download=True, checksum=True)

    def test_getitem(self, dataset: HyperspectralSceneDataset) -> None:
        x = dataset[0]
        bands = len(dataset.wavelengths)
        assert x["image"].dtype == torch.float32 and x["image"].shape == (bands, 10, 8)
        assert x["mask"].dtype == torch.long and x["mask"].shape == (10, 8)
        assert x["wavelength"].dtype == torch.float32 and x["wavelength"].shape == (bands,)
        assert set(x["mask"].unique().tolist()) == set(range(len(dataset.classes) + 1))

    def test_len(self, dataset: HyperspectralSceneDataset) -> None:
        assert len(dataset) == 1
        with pytest.raises(IndexError):
            dataset[1]

    def test_add(self, dataset: HyperspectralSceneDataset) -> None:
        ds = dataset + dataset
        assert isinstance(ds, ConcatDataset)
        assert len(ds) == 2

    def test_patch_getitem(self, patches: HyperspectralSceneDataset) -> None:
        x = patches[0]
        assert x["image"].dtype == torch.float32 and x["image"].shape == (len(patches.wavelengths), 7, 7)
        assert x["label"].dtype == torch.long and x["label"].ndim == 0
        assert x["position"].dtype == torch.long and x["position"].shape == (2,)
        row, col = x["position"].tolist()
        assert patches.classes[int(x["label"])] == patches.classes[int(patches.mask[row, col]) - 1]
        assert torch.equal(x["image"][:, 3, 3], patches.image[:, row, col])

    def test_patches_are_reflect_padded(self, patches: HyperspectralSceneDataset) -> None:
        padded = np.pad(patches.image.numpy(), ((0, 0), (3, 3), (3, 3)), mode="reflect")
        for i in range(len(patches)):
            x = patches[i]
            row, col = x["position"].tolist()
            assert np.array_equal(x["image"].numpy(), padded[:, row : row + 7, col : col + 7])

    def test_split_sizes_and_disjointness(self, cls: type[HyperspectralSceneDataset], tmp_path: Path) -> None:
        train = cls(tmp_path, split="train", mode="patch", download=True)
        test = cls(tmp_path, split="test", mode="patch", download=True)
        labelled = int((train.mask > 0).sum())
        assert len(train) == FAKE_TRAIN_PIXELS_PER_CLASS * len(cls.classes)
        assert len(test) == labelled - len(train)
        train_pixels = {tuple(p) for p in train.positions.tolist()}
        test_pixels = {tuple(p) for p in test.positions.tolist()}
        assert not train_pixels & test_pixels
        assert train_pixels | test_pixels == {tuple(p) for p in torch.nonzero(train.mask).tolist()}

    def test_split_is_seeded(self, cls: type[HyperspectralSceneDataset], tmp_path: Path) -> None:
        first = cls(tmp_path, mode="patch", seed=3, download=True)
        again = cls(tmp_path, mode="patch", seed=3, download=True)
        other = [cls(tmp_path, mode="patch", seed=seed, download=True) for seed in range(4, 8)]
        assert torch.equal(first.positions, again.positions)
        assert any(not torch.equal(first.positions, o.positions) for o in other)

    def test_image_replaces_cube(
        self, dataset: HyperspectralSceneDataset, cls: type[HyperspectralSceneDataset], tmp_path: Path
    ) -> None:
        decoded = torch.rand(dataset.image.shape)
        replaced = cls(tmp_path, mode="patch", image=decoded)
        assert torch.equal(replaced.image, decoded)
        with pytest.raises(ValueError, match="shape"):
            cls(tmp_path, image=decoded[:, :-1])

    def test_transforms(self, cls: type[HyperspectralSceneDataset], tmp_path: Path) -> None:
        ds = cls(tmp_path, download=True, transforms=lambda s: {**s, "image": s["image"] * 0})
        assert not ds[0]["image"].any()

    def test_already_downloaded(
        self, dataset: HyperspectralSceneDataset, cls: type[HyperspectralSceneDataset], tmp_path: Path
    ) -> None:
        cls(tmp_path, download=False, checksum=True)

    def test_not_downloaded(self, cls: type[HyperspectralSceneDataset], tmp_path: Path) -> None:
        with pytest.raises(DatasetNotFoundError, match="Dataset not found"):
            cls(tmp_path)

    def test_corrupted(self, cls: type[HyperspectralSceneDataset], tmp_path: Path) -> None:
        for name in cls.urls:
            (tmp_path / name).write_bytes(b"not the file")
        with pytest.raises(RuntimeError, match="corrupted"):
            cls(tmp_path, checksum=True)

    def test_invalid_arguments(self, cls: type[HyperspectralSceneDataset], tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="split"):
            cls(tmp_path, split="val")
        with pytest.raises(ValueError, match="mode"):
            cls(tmp_path, mode="pixels")
        with pytest.raises(ValueError, match="odd"):
            cls(tmp_path, mode="patch", patch_size=6)
        with pytest.raises(ValueError, match="too large"):
            cls(tmp_path, mode="patch", patch_size=17, download=True)

    def test_plot(self, dataset: HyperspectralSceneDataset, patches: HyperspectralSceneDataset) -> None:
        x = dataset[0]
        assert isinstance(dataset.plot(x, suptitle="Test"), Figure)
        assert isinstance(dataset.plot({**x, "prediction": x["mask"].clone()}, show_titles=False), Figure)
        y = patches[0]
        assert isinstance(patches.plot({**y, "prediction": y["label"].clone()}), Figure)


    def test_bands(self, dataset: HyperspectralSceneDataset, cls: type[HyperspectralSceneDataset], tmp_path: Path) -> None:
        assert dataset.bands == cls.all_bands and len(cls.all_bands) == len(dataset.wavelengths)
        picked = [cls.all_bands[5], cls.all_bands[0]]
        some = cls(tmp_path, bands=picked)
        x = some[0]
        assert some.bands == tuple(picked) and x["image"].shape == (2, 10, 8)
        assert torch.equal(x["image"], dataset.image[[5, 0]])
        assert torch.equal(x["wavelength"], dataset.wavelengths[[5, 0]])
        patch = cls(tmp_path, mode="patch", bands=picked)[0]
        assert patch["image"].shape == (2, 7, 7)
        decoded = torch.rand(2, 10, 8)  # a replacement image may hold only the bands picked
        assert torch.equal(cls(tmp_path, bands=picked, image=decoded).image, decoded)

    def test_bad_bands(self, dataset: HyperspectralSceneDataset, cls: type[HyperspectralSceneDataset], tmp_path: Path) -> None:
        with pytest.raises(ValueError, match=r"has no bands \['B999'\]"):
            cls(tmp_path, bands=["B1", "B999"])
        with pytest.raises(ValueError, match="each once"):
            cls(tmp_path, bands=["B1", "B1"])
        with pytest.raises(ValueError, match="sequence of band names"):
            cls(tmp_path, bands="B1")

    def test_rgb_bands(self, dataset: HyperspectralSceneDataset, cls: type[HyperspectralSceneDataset], tmp_path: Path) -> None:
        assert len(cls.rgb_bands) == 3 and set(cls.rgb_bands) <= set(cls.all_bands)
        nm = [float(dataset.wavelengths[cls.all_bands.index(b)]) for b in cls.rgb_bands]
        assert nm == sorted(nm, reverse=True) and 600 < nm[0] < 680 and 420 < nm[2] < 500
        rgb_only = cls(tmp_path, bands=list(cls.rgb_bands)[::-1])
        assert isinstance(rgb_only.plot(rgb_only[0]), Figure)
        no_red = cls(tmp_path, bands=list(cls.rgb_bands[1:]))
        with pytest.raises(RGBBandsMissingError):
            no_red.plot(no_red[0])


class TestCuprite:
    @pytest.fixture
    def fake(self, monkeypatch: pytest.MonkeyPatch) -> Path:
        return use_fake_files(monkeypatch, Cuprite)

    def test_pixel_matrix_layout(self, fake: Path, tmp_path: Path) -> None:
        ds = Cuprite(tmp_path, download=True, checksum=True)
        arrays = load_mat_arrays(fake / Cuprite.image_file)
        x = ds[0]
        assert len(ds) == 1 and set(x) == {"image", "wavelength"}
        assert x["image"].dtype == torch.float32 and x["image"].shape == (188, 6, 5)
        # Column-major pixels: pixel p is at row p % nRow, column p // nRow.
        for p in (0, 1, 6, 29):
            assert np.array_equal(x["image"][:, p % 6, p // 6].numpy(), arrays["X"][:, p])
        expected = aviris_nominal_wavelengths(arrays["SlectBands"])
        assert np.array_equal(x["wavelength"].numpy(), expected)
        assert (np.diff(expected) > 0).all() and 400 <= expected.min() and expected.max() <= 2500

    def test_cube_layout(self, tmp_path: Path) -> None:
        cube = np.arange(4 * 3 * 224, dtype=np.int16).reshape(4, 3, 224)
        scipy.io.savemat(tmp_path / Cuprite.image_file, {"cuprite": cube})
        with pytest.warns(GuessWarning):
            x = Cuprite(tmp_path)[0]
        assert np.array_equal(x["image"].numpy(), np.moveaxis(cube, -1, 0))
        assert np.array_equal(x["wavelength"].numpy(), aviris_nominal_wavelengths())

    def test_unknown_layout(self, tmp_path: Path) -> None:
        scipy.io.savemat(tmp_path / Cuprite.image_file, {"spectra": np.ones((5, 7)), "rows": np.array(5)})
        with pytest.raises(SceneError, match=r"found variables: spectra \(5, 7\), rows \(1, 1\)"):
            Cuprite(tmp_path)

    def test_no_patch_mode(self, fake: Path, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="no patch mode"):
            Cuprite(tmp_path, mode="patch", download=True)

    def test_corrupted(self, fake: Path, tmp_path: Path) -> None:
        (tmp_path / Cuprite.image_file).write_bytes(b"not the file")
        with pytest.raises(RuntimeError, match="corrupted"):
            Cuprite(tmp_path, checksum=True)

    def test_not_downloaded(self, tmp_path: Path) -> None:
        with pytest.raises(DatasetNotFoundError):
            Cuprite(tmp_path)

    def test_plot(self, fake: Path, tmp_path: Path) -> None:
        ds = Cuprite(tmp_path, download=True)
        assert isinstance(ds.plot(ds[0]), Figure)

    def test_bands_are_the_files_aviris_bands(self, fake: Path, tmp_path: Path) -> None:
        ds = Cuprite(tmp_path, download=True)
        selected = load_mat_arrays(fake / Cuprite.image_file)["SlectBands"].reshape(-1)
        assert ds.all_bands == tuple(f"B{n}" for n in selected) and len(ds.all_bands) == 188
        assert "B104" not in ds.all_bands and set(ds.rgb_bands) <= set(ds.all_bands)
        two = Cuprite(tmp_path, bands=["B3", "B23"])
        assert two[0]["image"].shape == (2, 6, 5)


@pytest.mark.filterwarnings("error::torchgeo_inr.errors.GuessWarning")
class TestGuesses:
    """What a file does not say and the dataset fills in is said with a GuessWarning, never silently."""

    def test_pavia_wavelengths_from_the_band_count(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        use_fake_files(monkeypatch, PaviaUniversity)
        with pytest.warns(GuessWarning, match="103 bands are taken as evenly spread over ROSIS"):
            PaviaUniversity(tmp_path, download=True)

    def test_indian_pines_says_nothing(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        use_fake_files(monkeypatch, IndianPines)
        IndianPines(tmp_path, download=True)  # wavelengths from the sensor's table: no guess, no warning

    def test_cuprite_guesses(self, tmp_path: Path) -> None:
        cube = np.ones((4, 3, 224), dtype=np.int16)
        scipy.io.savemat(tmp_path / Cuprite.image_file, {"cuprite": cube})
        with pytest.warns(GuessWarning, match="224 nominal centres"):
            Cuprite(tmp_path)
        scipy.io.savemat(tmp_path / Cuprite.image_file, {"cuprite": cube[..., :50]})
        with pytest.warns(GuessWarning, match="evenly spread"):
            ds = Cuprite(tmp_path)
        assert ds.all_bands[-1] == "B50" and set(ds.rgb_bands) <= set(ds.all_bands)
        micrometres = {"cuprite": cube[..., :3], "wavelengths": np.array([0.5, 0.6, 0.7])}
        scipy.io.savemat(tmp_path / Cuprite.image_file, micrometres)
        with pytest.warns(GuessWarning, match="micrometres"):
            ds = Cuprite(tmp_path)
        np.testing.assert_allclose(ds.wavelengths.numpy(), [500, 600, 700])


class TestTiles:
    @pytest.fixture
    def scene(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> IndianPines:
        use_fake_files(monkeypatch, IndianPines)
        return IndianPines(tmp_path, download=True)

    def test_tile_starts(self) -> None:
        assert tile_starts(10, 4, 4) == [0, 4, 6] and tile_starts(8, 4, 4) == [0, 4] and tile_starts(5, 5, 1) == [0]
        with pytest.raises(ValueError, match="between 1 and"):
            tile_starts(8, 9, 9)

    def test_tiles_cover_the_scene(self, scene: IndianPines) -> None:
        tiles = SceneTiles(scene, size=4)
        assert len(tiles) == 3 * 2
        seen = torch.zeros(10, 8, dtype=torch.bool)
        for i in range(len(tiles)):
            x = tiles[i]
            row, col = x["position"].tolist()
            assert x["image"].shape == (200, 4, 4) and x["mask"].shape == (4, 4)
            assert torch.equal(x["image"], scene.image[:, row : row + 4, col : col + 4])
            seen[row : row + 4, col : col + 4] = True
        assert seen.all()
        whole = SceneTiles(scene)
        assert len(whole) == 1 and torch.equal(whole[0]["image"], scene.image)
        assert isinstance(tiles.plot(tiles[0]), Figure)
        with pytest.raises(ValueError, match="mode='scene'"):
            SceneTiles(IndianPines(scene.root, mode="patch"), size=4)

    def test_scene_datamodule(self, scene: IndianPines) -> None:
        dm = HyperspectralSceneDataModule("indian_pines", root=str(scene.root), bands=["B1", "B2", "B3"],
                                          tile_size=4, batch_size=2)  # fmt: skip
        dm.setup("fit")
        batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
        assert batch["image"].shape == (2, 3, 4, 4) and batch["wavelength"].shape == (2, 3)
        dm.setup("test")
        batch = dm.on_after_batch_transfer(next(iter(dm.test_dataloader())), 0)
        assert torch.equal(batch["image"][0], scene.image[:3, :4, :4])  # recorded values, not normalised
        assert len(dm.test_dataloader().dataset) == 6
        with pytest.raises(ValueError, match="unknown dataset"):
            HyperspectralSceneDataModule("nowhere")


class TestStandardSplit:
    @pytest.fixture
    def labels(self) -> np.ndarray:
        return np.random.default_rng(1).integers(0, 4, size=(12, 9))

    def test_counts_and_disjointness(self, labels: np.ndarray) -> None:
        train, test = standard_split(labels, (3, 5, 2), seed=0)
        flat = labels.reshape(-1)
        assert np.bincount(flat[train], minlength=4).tolist() == [0, 3, 5, 2]
        assert not np.intersect1d(train, test).size
        assert np.array_equal(np.union1d(train, test), np.flatnonzero(flat))
        assert (np.diff(train) > 0).all() and (np.diff(test) > 0).all()

    def test_reproducible(self, labels: np.ndarray) -> None:
        first, _ = standard_split(labels, (3, 5, 2), seed=7)
        again, _ = standard_split(labels, (3, 5, 2), seed=7)
        other, _ = standard_split(labels, (3, 5, 2), seed=8)
        assert np.array_equal(first, again)
        assert not np.array_equal(first, other)

    def test_too_few_pixels(self, labels: np.ndarray) -> None:
        with pytest.raises(ValueError, match="fewer"):
            standard_split(labels, (3, 500, 2))

    def test_labels_beyond_counts(self, labels: np.ndarray) -> None:
        with pytest.raises(ValueError, match="class counts"):
            standard_split(labels, (3, 5))


class TestWavelengths:
    def test_indian_pines(self) -> None:
        wavelengths = indian_pines_wavelengths()
        assert wavelengths.shape == (200,)
        assert 400 <= wavelengths.min() and wavelengths.max() <= 2500
        # Rising, except where one AVIRIS spectrometer hands over to the next
        # (bands 32 and 95 of the 220): their ranges overlap by about 10 nm.
        steps = np.diff(wavelengths)
        assert (steps > 0).sum() == 197 and (steps > -10).all()

    def test_rosis(self) -> None:
        wavelengths = rosis_wavelengths(103)
        assert wavelengths[0] == 430 and wavelengths[-1] == 860 and (np.diff(wavelengths) > 0).all()


# -- real data (TORCHGEO_INR_DATA) ----------------------------------------------
class TestRealIndianPines:
    @pytest.fixture
    def root(self, real_data_dir: Path) -> Path:
        for name in IndianPines.urls:
            require(real_data_dir / "indian_pines" / name)
        return real_data_dir / "indian_pines"

    def test_md5(self, root: Path) -> None:
        for name, md5 in IndianPines.md5s.items():
            assert hashlib.md5((root / name).read_bytes()).hexdigest() == md5

    def test_scene(self, root: Path) -> None:
        x = IndianPines(root, checksum=True)[0]
        assert x["image"].shape == (200, 145, 145)
        assert int((x["mask"] > 0).sum()) == 10249
        assert np.array_equal(x["wavelength"].numpy(), indian_pines_wavelengths())

    def test_split(self, root: Path) -> None:
        train = IndianPines(root, split="train", mode="patch")
        test = IndianPines(root, split="test", mode="patch")
        assert len(train) == 695 and len(test) == 9554
        labels = [int(train.mask[r, c]) for r, c in train.positions.tolist()]
        assert tuple(np.bincount(labels, minlength=17)[1:]) == INDIAN_PINES_TRAIN_COUNTS
        assert train[0]["image"].shape == (200, 7, 7)


class TestRealPaviaUniversityGroundTruth:
    def test_split(self, real_data_dir: Path) -> None:
        path = require(real_data_dir / "pavia_university" / "PaviaU_gt.mat")
        assert hashlib.md5(path.read_bytes()).hexdigest() == PaviaUniversity.md5s["PaviaU_gt.mat"]
        labels = load_mat_arrays(path)[PaviaUniversity.mask_variable]
        assert int((labels > 0).sum()) == 42776
        train, test = standard_split(labels, PaviaUniversity.train_counts, seed=0)
        assert len(train) == 3921 and len(test) == 38855
        counts = np.bincount(labels.reshape(-1)[train], minlength=10)[1:]
        assert tuple(counts) == PAVIA_UNIVERSITY_TRAIN_COUNTS == (548, 540, 392, 524, 265, 532, 375, 514, 231)
