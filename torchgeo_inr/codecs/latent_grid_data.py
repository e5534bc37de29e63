"""The scene as the latent-grid model trains on it, shared by the whole-scene and the archive codecs.

Its own module so that :mod:`.latent_grid_shared` need not import the codec
that imports it.
"""

from __future__ import annotations

import numpy as np

from ..scene import Scene


class LatentData:
    """The scene as the model sees it: bands over their (tilted) peak, centred, and their principal basis."""

    def __init__(self, scene: Scene, components: int, device, tilt: bool = True):
        import torch

        from ..latent_grid.spectral import peak_normalise, principal_basis, truncation_tilt
        from .latent_grid_stream import band_sections, pack_basis, unpack_basis

        bands = scene.bands
        # per-band weights for the PCA ride in the per-band scale the stream holds anyway
        weights = truncation_tilt(scene.data, components) if tilt and components < bands else None
        log2_scale, mean16, xc = peak_normalise(scene.data, weights)
        basis = principal_basis(xc, components)  # (k, B)
        coeff_peak = float(np.abs(basis @ xc).max()) or 1.0
        # the basis carries the coefficients' scale: the network then outputs values of order one
        self.basis_packed = pack_basis(basis * coeff_peak)
        self.band_sections = band_sections(log2_scale, mean16)
        decoded = unpack_basis(self.basis_packed[0], self.basis_packed[1], components, bands)
        self.basis = torch.from_numpy(decoded.astype(np.float32)).to(device)
        self.target = torch.from_numpy(xc.astype(np.float32)).to(device)
