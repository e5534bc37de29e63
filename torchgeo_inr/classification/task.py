"""``HSIClassificationTask``: patch classification of (decoded) hyperspectral scenes, with ASW and ISI.

A TorchGeo task (subclass of ``BaseTask``), so LightningCLI configs with
``class_path: torchgeo_inr.classification.HSIClassificationTask`` work. The
loss is L_C + beta * L_R: cross-entropy, plus (with ASW) the L1 distance
between ASW's output and its input, which keeps the re-weighted bands close
to the decoded ones (the public HINER code's reconstruction term, beta = 2.5
as its 0.4 : 1 weighting). ISI, when a HINER stream is named, replaces the
training patches by patches of a re-rendered scene (see :mod:`.isi`).
Logged: loss, OA, AA, kappa, and at test time the accuracy of every class.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchgeo.tasks import BaseTask
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassCohenKappa

from .asw import AdaptiveSpectralWeighting
from .backbones import build_backbone


def classification_metrics(num_classes: int) -> MetricCollection:
    """OA (micro accuracy), AA (mean per-class accuracy), Cohen's kappa."""
    return MetricCollection(
        {
            "OA": MulticlassAccuracy(num_classes, average="micro"),
            "AA": MulticlassAccuracy(num_classes, average="macro"),
            "kappa": MulticlassCohenKappa(num_classes),
        }
    )


class HSIClassificationTask(BaseTask):
    """Hyperspectral patch classification with optional ASW and ISI.

    Args:
        backbone: "spectralformer" or "cnn"
        in_channels: bands of the scene
        num_classes: classes of the ground truth
        patch_size: side of the patches the datamodule cuts
        backbone_options: extra arguments of the backbone (dim, depth, group, ...)
        asw: put Adaptive Spectral Weighting in front of the backbone
        asw_condition: the scalar ASW's weights are conditioned on (e.g. the stream's bpppb)
        beta: weight of ASW's reconstruction term
        isi_stream: a ``hiner`` stream of the training scene; enables ISI
        isi_probability: chance that an epoch trains on a shifted scene
        isi_eta: largest band shift, in band spacings
        isi_until: share of the epochs during which ISI may shift (the rest train on the plain decode)
        isi_seed: seed of ISI's draws
        lr: AdamW learning rate (cosine decay over the run)
        weight_decay: AdamW weight decay
        class_names: names for the per-class accuracies (default: the datamodule's ``classes``)
    """

    monitor = "val_loss"

    def __init__(
        self,
        backbone: str = "spectralformer",
        in_channels: int = 200,
        num_classes: int = 16,
        patch_size: int = 7,
        backbone_options: dict | None = None,
        asw: bool = False,
        asw_condition: float = 0.0,
        beta: float = 2.5,
        isi_stream: str | None = None,
        isi_probability: float = 0.5,
        isi_eta: float = 0.1,
        isi_until: float = 0.7,
        isi_seed: int = 0,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        class_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()

    def configure_models(self) -> None:
        h = self.hparams
        self.model = build_backbone(h["backbone"], h["in_channels"], h["num_classes"], h["patch_size"],
                                    **(h["backbone_options"] or {}))  # fmt: skip
        self.asw = AdaptiveSpectralWeighting(h["in_channels"], condition=h["asw_condition"]) if h["asw"] else None
        self.isi = None
        if h["isi_stream"]:
            from .isi import ImplicitSpectralInterpolation

            self.isi = ImplicitSpectralInterpolation(h["isi_stream"], h["isi_probability"], h["isi_eta"], h["isi_seed"])

    def configure_losses(self) -> None:
        self.criterion = nn.CrossEntropyLoss()
        self.reconstruction = nn.L1Loss()

    def configure_metrics(self) -> None:
        metrics = classification_metrics(self.hparams["num_classes"])
        self.train_metrics = metrics.clone(prefix="train_")
        self.val_metrics = metrics.clone(prefix="val_")
        self.test_metrics = metrics.clone(prefix="test_")
        self.test_per_class = MulticlassAccuracy(self.hparams["num_classes"], average=None)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"])
        epochs = max(1, int(self.trainer.max_epochs or 1)) if self.trainer is not None else 1
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def forward(self, x: Tensor) -> Tensor:
        if self.asw is not None:
            x = self.asw(x)
        return self.model(x)

    def _loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if self.asw is None:
            logits = self.model(x)
            return self.criterion(logits, y), logits
        adapted = self.asw(x)
        logits = self.model(adapted)
        loss = self.criterion(logits, y) + self.hparams["beta"] * self.reconstruction(adapted, x)
        return loss, logits

    def on_train_epoch_start(self) -> None:
        if self.isi is not None:
            epochs = self.trainer.max_epochs if self.trainer.max_epochs and self.trainer.max_epochs > 0 else None
            active = epochs is None or self.current_epoch < self.hparams["isi_until"] * epochs
            self.log("isi_shifted", float(self.isi.new_epoch(active)), on_step=False, on_epoch=True)

    def training_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        if self.isi is not None:
            batch = self.isi(batch)
        loss, logits = self._loss(batch["image"], batch["label"])
        self.train_metrics(logits, batch["label"])
        self.log("train_loss", loss, batch_size=len(logits))
        self.log_dict(self.train_metrics, on_step=False, on_epoch=True, batch_size=len(logits))
        return loss

    def validation_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        loss, logits = self._loss(batch["image"], batch["label"])
        self.val_metrics(logits, batch["label"])
        self.log("val_loss", loss, batch_size=len(logits))
        self.log_dict(self.val_metrics, on_step=False, on_epoch=True, batch_size=len(logits))

    def test_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        loss, logits = self._loss(batch["image"], batch["label"])
        self.test_metrics(logits, batch["label"])
        self.test_per_class(logits, batch["label"])
        self.log("test_loss", loss, batch_size=len(logits))
        self.log_dict(self.test_metrics, on_step=False, on_epoch=True, batch_size=len(logits))

    def on_test_epoch_end(self) -> None:
        names = self.hparams["class_names"] or getattr(self.trainer.datamodule, "classes", None)
        if not names or len(names) != self.hparams["num_classes"]:
            names = [str(k) for k in range(self.hparams["num_classes"])]
        for name, value in zip(names, self.test_per_class.compute()):
            self.log(f"test_acc_{name}", value)
        self.test_per_class.reset()

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Tensor]:
        """Predicted class and pixel position of every sample (for classification maps)."""
        return {"prediction": self(batch["image"]).argmax(dim=1), "position": batch["position"]}
