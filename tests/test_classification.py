"""The classification task, ASW, ISI and the LightningCLI configs, on the tiny fake Indian Pines (CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from torchgeo_inr import bitstream, compress
from torchgeo_inr.classification import AdaptiveSpectralWeighting, HSIClassificationTask, HyperspectralPatchDataModule
from torchgeo_inr.classification.__main__ import main as cli_main
from torchgeo_inr.classification.isi import ImplicitSpectralInterpolation, cut_patches
from torchgeo_inr.classification.maps import plot_classification_maps, prediction_map
from torchgeo_inr.classification.task import classification_metrics
from torchgeo_inr.errors import SceneError
from torchgeo_inr.io import read_mat
from torchgeo_inr.registry import codec_class

FAKE_ROOT = Path(__file__).parent / "data" / "indian_pines"
CONFIGS = sorted((Path(__file__).parents[1] / "examples" / "classification").glob("*.yaml"))
#: The fake scene has 3 labelled pixels per class: 2 train, 1 test.
TRAIN_COUNTS = [2] * 16
TINY_HINER = dict(steps=60, lower_width=6, fc_dim=12, embed_ch=2, seed=1, threads=1)


@pytest.fixture(scope="module")
def fake_stream(tmp_path_factory) -> Path:
    """A HINER stream of the fake Indian Pines cube (200 x 10 x 8)."""
    cube = read_mat(FAKE_ROOT / "Indian_pines_corrected.mat").to_numpy()
    data = compress.encode(cube, "hiner", bpppb=40.0, progress=False, **TINY_HINER)
    path = tmp_path_factory.mktemp("stream") / "fake_ip.inr"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_fast_dev_run_of_each_config(config, fake_stream, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", str(config), "--trainer.fast_dev_run=true", "--trainer.accelerator=cpu",
            f"--data.init_args.root={FAKE_ROOT}", f"--data.init_args.train_counts={TRAIN_COUNTS}",
            "--data.init_args.batch_size=8"]  # fmt: skip
    text = config.read_text()
    if "stream:" in text:
        args.append(f"--data.init_args.stream={fake_stream}")
    if "isi_stream:" in text:
        args.append(f"--model.init_args.isi_stream={fake_stream}")
    cli = cli_main(args)
    assert cli.trainer.state.finished
    assert {"test_OA", "test_AA", "test_kappa"} <= set(cli.trainer.callback_metrics)
    assert (cli.model.asw is not None) == ("asw: true" in text)
    assert (cli.model.isi is not None) == ("isi_stream:" in text)


def test_asw_keeps_shape_and_all_its_weights_learn():
    asw = AdaptiveSpectralWeighting(12, condition=0.57)
    x = torch.rand(5, 12, 7, 7)
    assert asw(x).shape == x.shape
    assert torch.allclose(asw.band_weights(), torch.ones(12))  # starts as (nearly) the identity
    optimiser = torch.optim.SGD(asw.parameters(), lr=0.1)
    target = torch.rand(5, 12, 7, 7)
    for _ in range(2):  # the zero-initialised last layer of the weight MLP unlocks the first after one step
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(asw(x), target).backward()
        optimiser.step()
    for name, p in asw.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="expects"):
        asw(torch.rand(2, 11, 7, 7))


def test_render_without_shift_is_the_decode(fake_stream):
    data = fake_stream.read_bytes()
    stream = bitstream.unpack(data)
    decoded = compress.decode(data)
    renderer = codec_class("hiner").renderer(stream)
    plain = renderer.render().numpy()
    np.testing.assert_allclose(np.clip(np.rint(plain), 0, 65535), decoded.data)
    np.testing.assert_array_equal(renderer.render(torch.zeros(decoded.bands, dtype=torch.float64)).numpy(), plain)
    shifted = renderer.render(torch.full((decoded.bands,), 0.5, dtype=torch.float64)).numpy()
    assert not np.allclose(shifted, plain)
    # A shifted band keeps its own stored range (lo, span): it moves inside it, never out of it.
    lo, span = (renderer.per_band[k].numpy()[:, None, None] for k in ("lo", "span"))
    assert (shifted >= lo - 1e-3).all() and (shifted <= lo + span + 1e-3).all()


def test_latent_grid_streams_render_shift_and_feed_isi(tmp_path):
    """A latent-grid stream renders as it decodes, and its bands shift for ISI (ISI asks the codec, not its name)."""
    cube = read_mat(FAKE_ROOT / "Indian_pines_corrected.mat").to_numpy()
    data = compress.encode(cube, "latent-grid", bpppb=4.0, progress=False, steps=200, seed=1, threads=1)
    stream = bitstream.unpack(data)
    decoded = compress.decode(data)
    renderer = codec_class(stream.codec).renderer(stream)
    plain = renderer.render().numpy()
    np.testing.assert_allclose(np.clip(np.rint(plain), 0, 65535), decoded.data, atol=1)
    np.testing.assert_allclose(renderer.render(torch.zeros(decoded.bands, dtype=torch.float64)).numpy(), plain,
                               rtol=1e-5, atol=1e-3)
    shifted = renderer.render(torch.full((decoded.bands,), 0.5, dtype=torch.float64)).numpy()
    assert not np.allclose(shifted, plain)
    # half a band up is the mean of a band and the next in value units (the last band has no next)
    np.testing.assert_allclose(shifted[:-1], (plain[:-1] + plain[1:]) / 2, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(shifted[-1], plain[-1], rtol=1e-5, atol=1e-3)
    path = tmp_path / "latent.inr"
    path.write_bytes(data)
    isi = ImplicitSpectralInterpolation(path, probability=1.0, eta=0.5, seed=3)
    positions = torch.tensor([[0, 0], [4, 3]])
    batch = {"image": cut_patches(isi.plain, positions, 5), "position": positions, "label": torch.zeros(2)}
    isi.train()
    assert isi.new_epoch()
    assert not torch.allclose(isi(batch)["image"], batch["image"])


def test_isi_changes_training_batches_only(fake_stream):
    isi = ImplicitSpectralInterpolation(fake_stream, probability=1.0, eta=0.5, seed=3)
    positions = torch.tensor([[0, 0], [4, 3], [9, 7]])
    batch = {"image": cut_patches(isi.plain, positions, 5), "position": positions, "label": torch.zeros(3)}
    isi.eval()
    assert isi(batch) is batch
    isi.train()
    assert isi.new_epoch()
    out = isi(batch)
    assert out["image"].shape == batch["image"].shape and not torch.allclose(out["image"], batch["image"])
    assert not isi.new_epoch(active=False)  # the last epochs train on the plain decode
    assert torch.equal(isi(batch)["image"], batch["image"])
    never = ImplicitSpectralInterpolation(fake_stream, probability=0.0)
    never.train()
    assert not never.new_epoch()
    assert torch.equal(never(batch)["image"], batch["image"])


def test_isi_patches_match_the_datamodule(fake_stream):
    """Unshifted ISI patches are the datamodule's patches of the decoded scene, same scaling."""
    dm = HyperspectralPatchDataModule(root=str(FAKE_ROOT), stream=str(fake_stream), train_counts=TRAIN_COUNTS,
                                      patch_size=5, batch_size=4)  # fmt: skip
    dm.setup("fit")
    sample = dm.train_dataset[0]
    isi = ImplicitSpectralInterpolation(fake_stream, probability=0.0)
    isi.train()
    isi.new_epoch()
    batch = {"image": sample["image"][None], "position": sample["position"][None]}
    torch.testing.assert_close(isi(batch)["image"], batch["image"], atol=1e-5, rtol=0)


def test_isi_and_datamodule_refuse_the_wrong_stream(tmp_path):
    cube = read_mat(FAKE_ROOT / "Indian_pines_corrected.mat").to_numpy()
    other = tmp_path / "j2k.inr"
    other.write_bytes(compress.encode(cube, "pca-jpeg2000", bpppb=12.0, progress=False))
    with pytest.raises(SceneError, match="render shifted bands"):
        ImplicitSpectralInterpolation(other)
    small = tmp_path / "small.inr"
    small.write_bytes(compress.encode(cube[:, :6], "pca-jpeg2000", bpppb=14.0, progress=False))
    dm = HyperspectralPatchDataModule(root=str(FAKE_ROOT), stream=str(small), train_counts=TRAIN_COUNTS)
    with pytest.raises(ValueError, match="shape"):
        dm.setup("fit")


def test_metrics_match_a_hand_made_confusion_matrix():
    confusion = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])  # rows: truth, columns: prediction
    target = np.repeat(np.arange(3), confusion.sum(1))
    preds = np.concatenate([np.repeat(np.arange(3), row) for row in confusion])
    n = confusion.sum()
    oa = np.trace(confusion) / n
    aa = np.mean(np.diag(confusion) / confusion.sum(1))
    expected_agreement = (confusion.sum(0) * confusion.sum(1)).sum() / n**2
    kappa = (oa - expected_agreement) / (1 - expected_agreement)
    scores = classification_metrics(3)(torch.as_tensor(preds), torch.as_tensor(target))
    assert float(scores["OA"]) == pytest.approx(oa)
    assert float(scores["AA"]) == pytest.approx(aa)
    assert float(scores["kappa"]) == pytest.approx(kappa)


def test_task_logs_per_class_accuracy_and_predicts_a_map(tmp_path):
    from lightning.pytorch import Trainer

    dm = HyperspectralPatchDataModule(root=str(FAKE_ROOT), train_counts=TRAIN_COUNTS, batch_size=8)
    task = HSIClassificationTask(backbone="cnn", backbone_options={"width": 8}, class_names=[f"c{k}" for k in range(16)])
    trainer = Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(task, datamodule=dm)
    trainer.test(task, datamodule=dm, verbose=False)
    assert {f"test_acc_c{k}" for k in range(16)} <= set(trainer.callback_metrics)
    predictions = trainer.predict(task, datamodule=dm)
    grid = prediction_map(predictions, tuple(dm.mask.shape))
    assert ((grid > 0) == (dm.mask.numpy() > 0)).sum() >= 16  # every test pixel is on the map
    assert grid.max() <= 16
    fig = plot_classification_maps(dm.mask.numpy(), {"cnn": grid}, dm.classes)
    fig.savefig(tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 0
