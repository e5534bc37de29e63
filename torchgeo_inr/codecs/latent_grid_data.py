"""The scene as the latent-grid model trains on it, shared by the whole-scene and the archive codecs.

Its own module so that :mod:`.latent_grid_shared` need not import the codec
that imports it.
"""

from __future__ import annotations

import numpy as np

from ..scene import Scene


class LatentData:
    """The scene as the model sees it: bands over their (tilted) peak, centred, and their principal basis."""

    def __init__(self, scene: Scene, components: int, device, tilt: bool = True, compact: bool = True,
                 weights: np.ndarray | None = None):
        """``compact``: the basis and the band numbers are packed as version 6 streams pack them
        (:mod:`~torchgeo_inr.latent_grid.side_coding`); False: as archive networks and versions 1 and 4 do.
        ``weights``: per-band log2 weights for the PCA (:func:`coding_weights`); else, with ``tilt``, the
        truncation's (:func:`~torchgeo_inr.latent_grid.spectral.truncation_tilt`)."""
        import torch

        from ..latent_grid.side_coding import pack_bands
        from ..latent_grid.spectral import peak_normalise, principal_basis, truncation_tilt
        from .latent_grid_stream import band_sections

        bands = scene.bands
        # per-band weights for the PCA ride in the per-band scale the stream holds anyway
        if weights is None and tilt and components < bands:
            weights = truncation_tilt(scene.data, components)
        log2_scale, mean16, xc = peak_normalise(scene.data, weights)
        basis = principal_basis(xc, components)  # (k, B)
        coeffs = basis @ xc
        coeff_peak = float(np.abs(coeffs).max()) or 1.0
        # the basis carries the coefficients' scale: the network then outputs values of order one
        self.scaled_basis = basis * coeff_peak
        self.coeff_power = np.square(coeffs / coeff_peak).mean(axis=1)  # (k,): what an error in each row costs
        self.compact = compact
        self.basis_packed = self.pack(None)
        self.band_sections = pack_bands(log2_scale, mean16) if compact else band_sections(log2_scale, mean16)
        self.basis = torch.from_numpy(self.decoded(self.basis_packed)).to(device)
        self.target = torch.from_numpy(xc.astype(np.float32)).to(device)

    def rescale(self, factor) -> None:
        """The basis's rows times ``factor`` (a number, or one per row: row ``j``'s coefficients' unit becomes
        ``factor[j]``), in place."""
        import torch

        factor = np.broadcast_to(np.asarray(factor, dtype=np.float64), self.coeff_power.shape)
        self.scaled_basis = self.scaled_basis * factor[:, None]
        self.coeff_power = self.coeff_power / factor**2
        self.basis_packed = self.pack(None)
        self.basis.copy_(torch.from_numpy(self.decoded(self.basis_packed)))

    def pack(self, steps: np.ndarray | None):
        """(header, sections) of the basis with per-row ``steps`` (None: the default precision)."""
        if self.compact:
            from ..latent_grid.side_coding import pack_basis
        else:
            from .latent_grid_stream import pack_basis
        return pack_basis(self.scaled_basis, steps)

    def decoded(self, packed) -> np.ndarray:
        """The basis (k, B) float32 as decode reads it from ``packed``."""
        if self.compact:
            from ..latent_grid.side_coding import unpack_basis
        else:
            from .latent_grid_read import unpack_basis

        k, bands = self.scaled_basis.shape
        return unpack_basis(packed[0], packed[1], k, bands).astype(np.float32)

    def choose_basis_precision(self, band_mse, lam: float, values: int) -> dict:
        """Re-quantise the basis for the fit's trade-off (:mod:`~torchgeo_inr.latent_grid.basis_precision`);
        the basis tensor changes in place. Returns what was measured."""
        import torch

        from ..latent_grid.basis_precision import choose_steps

        def pack(steps):
            return self.basis_packed if steps is None else self.pack(steps)

        steps, report = choose_steps(self.scaled_basis, self.coeff_power, band_mse, lam, values, pack, self.decoded)
        if steps is not None:
            self.basis_packed = pack(steps)
            self.basis.copy_(torch.from_numpy(self.decoded(self.basis_packed)))
        basis_bytes = sum(len(v) for v in self.basis_packed[1].values())
        return {**report, "basis_bytes": basis_bytes}


#: Share of ``pca-jpeg2000``'s measured band weights the latent-grid PCA takes (in log2): see :func:`coding_weights`.
CODING_WEIGHT_SHARE = 0.5


def coding_weights(scene: Scene, bpppb: float) -> np.ndarray | None:
    """Per-band log2 weights for the PCA: ``CODING_WEIGHT_SHARE`` of those ``pca-jpeg2000``'s band re-weighting
    measures for ``scene`` at ``bpppb``
    (:meth:`~torchgeo_inr.codecs.pca_jpeg2000.PCAJPEG2000Codec.band_weights`); None where that codec has no
    stream at this rate (tiny scenes: the truncation tilt stands in).

    Why: with the warm start every skipped coefficient image is rounded on one
    grid, so a band's error follows its weight, and the metric (a mean of
    per-band log errors) gains most where a band's error is already small
    and its detail shared with others. A transform coder's measured
    re-weighting finds those bands; the truncation tilt, which sees the basis
    alone, does not. Half the way: the fit's own loss moves errors between
    bands by the same measure, and the two compound (all of the coder's
    weights lost on two views of ten). Per-band PSNR on Indian Pines' views,
    1,000 steps, one encode each, one torch thread; truncation tilt below
    0.5 bpppb and none from there (before) -> these weights -> all of the
    coder's weights: whole scene 0.05 bpppb 42.18 -> 42.51 (42.42), 0.2
    45.11 -> 45.52 (44.96); q0 0.1 42.13 -> 42.44 (42.55), 0.2 43.52 -> 43.99
    (44.00), 1.0 48.54 -> 48.61 (48.40); q1 0.1 41.76 -> 41.95 (42.15); q3 0.5
    46.51 -> 46.66 (46.72); q2 2.0 52.22 -> 52.39 (52.43); the sample 0.2
    43.18 -> 43.57 (43.76), 1.0 47.86 -> 48.03 (47.98).
    """
    from ..errors import RateError
    from .pca_jpeg2000 import PCAJPEG2000Codec

    try:
        return CODING_WEIGHT_SHARE * PCAJPEG2000Codec().band_weights(scene, bpppb)
    except RateError:
        return None
