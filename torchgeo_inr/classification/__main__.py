"""LightningCLI for the classification task: ``python -m torchgeo_inr.classification fit --config C.yaml``.

``fit`` trains and then tests the last epoch's model on the test split, so
one command gives OA, AA, kappa and the per-class accuracies.
"""

from lightning.pytorch.cli import LightningCLI


class ClassificationCLI(LightningCLI):
    """LightningCLI whose ``fit`` ends with a test of the trained model."""

    def after_fit(self) -> None:
        self.trainer.test(self.model, datamodule=self.datamodule, verbose=True)


def main(args=None, run: bool = True) -> ClassificationCLI:
    """The CLI; ``model`` and ``data`` take ``class_path`` configs (any LightningModule / DataModule)."""
    return ClassificationCLI(
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_callback=None,
        args=args,
        run=run,
    )


if __name__ == "__main__":
    main()
