"""SIREN per image and the meta-learned, modulated SIREN (after COIN++).

- :mod:`.network`: sine layers with SIREN's initialisation, a plain SIREN
  (x, y) -> spectrum, and the modulated SIREN whose hidden layers take
  per-patch shift modulations, with a spectral head so that any band count
  and wavelength set can be decoded.
- :mod:`.fit`: the per-image fitting loop (time budget, best state, Ctrl-C).
- :mod:`.meta`: patches, the inner loop (SGD on latents from zero) and the
  meta-training program (outer Adam, checkpoints, progress).
- :mod:`.base`: the pretrained base network shipped with the package
  (safetensors, sha256 checked, named by an id).
"""

from .network import MetaSiren, MetaSirenConfig, Siren

__all__ = ["MetaSiren", "MetaSirenConfig", "Siren"]
