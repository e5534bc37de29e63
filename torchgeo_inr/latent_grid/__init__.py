"""The latent-grid model (this project's own method, after Cool-chic and C3; not HINER).

- :mod:`.model`: latent grids at several resolutions, their upsampling and the synthesis network;
- :mod:`.spectral`: bands over their peak, centred, their principal basis and the PCA band tilt;
- :mod:`.context`: the latents' context model (each latent's scale from its decoded neighbours);
- :mod:`.context_coding`: ANS coding of the latents under it, a pass of a channel (:mod:`.lattice`) per call;
- :mod:`.fit`: the rate-distortion loss and its steering to a bit budget.

It knows nothing of streams: the codec is :class:`torchgeo_inr.codecs.latent_grid.LatentGridCodec`, its stream
layout :mod:`torchgeo_inr.codecs.latent_grid_stream`.
"""
