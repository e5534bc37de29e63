"""Batched decode of latent-grid chunks that share an archive network, as :func:`torchgeo_inr.decode` gives each.

Its own module because it needs both the codec (:mod:`.latent_grid`) and the
chunk reader (:mod:`.latent_grid_shared`), and the codec imports the reader.
"""

from __future__ import annotations

from .. import bitstream
from ..errors import BitstreamError, InrError
from ..scene_header import decode_scene_header
from .latent_grid import LatentGridCodec
from .latent_grid_network import chunk_latents
from .latent_grid_shared import synthesise


class _Synthesised(LatentGridCodec):
    """:class:`LatentGridCodec` whose decode renders what :func:`synthesise` made: the checks, dtype and mask of
    :meth:`~torchgeo_inr.codec.Codec.decode` are the one-by-one decode's own."""

    def __init__(self, renderer):
        super().__init__()
        self.renderer = renderer

    def _decode_on(self, stream, shape, device):
        return self.renderer.render().cpu().numpy()


def is_chunk(stream: bitstream.Stream) -> bool:
    """True for a ``latent-grid`` chunk stream written against an archive network that this version reads."""
    return (stream.codec == LatentGridCodec.name and stream.codec_version <= LatentGridCodec.version
            and "net" in stream.sections)


def decode_chunks(streams: list[bitstream.Stream], device=None) -> list:
    """Scenes of chunk streams (:func:`is_chunk`), each as :func:`torchgeo_inr.decode` gives it, their synthesis
    batched (:func:`synthesise`). Each item is a :class:`~torchgeo_inr.scene.Scene`, or the
    :class:`~torchgeo_inr.errors.InrError` that stream's one-by-one decode raises, so a caller can name the
    stream that failed and still use the others."""
    out: list = [None] * len(streams)
    ready, latents = [], []
    for i, stream in enumerate(streams):
        try:
            shape = decode_scene_header(stream)["shape"]
            latents.append(chunk_latents(stream, shape))
            ready.append(i)
        except InrError as err:
            out[i] = err
        except Exception as err:  # as Codec.decode words a damaged payload
            out[i] = BitstreamError(f"{LatentGridCodec.name} payload could not be decoded: "
                                    f"{type(err).__name__}: {err}")
    for i, renderer in zip(ready, synthesise(latents, device)):
        if isinstance(renderer, Exception):
            out[i] = renderer
            continue
        try:
            out[i] = _Synthesised(renderer).decode(streams[i], device=device)
        except InrError as err:
            out[i] = err
    return out
