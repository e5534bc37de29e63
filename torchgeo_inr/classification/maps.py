"""Classification maps: predictions put back on the scene grid, and a figure of them beside the truth."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch


def prediction_map(predictions: Iterable[Mapping], shape: tuple[int, int]) -> np.ndarray:
    """(H, W) int map from ``predict_step`` outputs: 0 where nothing was predicted, else class + 1."""
    out = np.zeros(shape, dtype=np.int64)
    for batch in predictions:
        rows, cols = np.asarray(batch["position"]).T
        out[rows, cols] = np.asarray(batch["prediction"]) + 1
    return out


def class_colours(n_classes: int) -> ListedColormap:
    """Black for unlabelled (0), then one tab20 colour per class."""
    return ListedColormap(["black", *matplotlib.colormaps["tab20"].colors[:n_classes]])


def plot_classification_maps(
    ground_truth: np.ndarray, maps: Mapping[str, np.ndarray], classes: Sequence[str], *, title: str | None = None
) -> Figure:
    """The ground truth and each named prediction map side by side, with a class legend."""
    panels = [("ground truth", ground_truth), *maps.items()]
    fig = Figure(figsize=(3.2 * len(panels) + 2.6, 3.8), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    cmap = class_colours(len(classes))
    for ax, (name, picture) in zip(axes, panels):
        ax.imshow(picture, cmap=cmap, vmin=0, vmax=len(classes), interpolation="nearest")
        if name != "ground truth":
            labelled = ground_truth > 0
            wrong = labelled & (picture > 0) & (picture != ground_truth)
            name = f"{name}\n{100 * (1 - wrong.sum() / max(1, (labelled & (picture > 0)).sum())):.1f}% right"
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    handles = [Patch(color=cmap(k + 1), label=c) for k, c in enumerate(classes)]
    fig.legend(handles=handles, loc="outside right center", fontsize=7, frameon=False)
    if title:
        fig.suptitle(title)
    return fig
