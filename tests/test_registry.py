from importlib.metadata import EntryPoint

import numpy as np
import pytest

from torchgeo_inr import compress, registry
from torchgeo_inr.codec import Codec
from torchgeo_inr.errors import RateError, UnknownCodecError
from torchgeo_inr.packing import pack_array, unpack_array


class RawCodec(Codec):
    """A third-party codec: float16 values, no rate control."""

    name = "raw-f16"

    def _encode(self, scene, target, finish, *, device, progress):
        return finish({}, {"values": pack_array(scene.data, "f2")})

    def _decode(self, stream, shape, *, device):
        return unpack_array(stream.section("values"), "f2", int(np.prod(shape)), "values").reshape(shape)


def test_builtins_listed():
    assert {"jpeg2000", "pca-jpeg2000"} <= set(registry.available_codecs())


def test_unknown_codec():
    with pytest.raises(UnknownCodecError, match="no codec named 'nope'; available: "):
        registry.get_codec("nope")


def test_third_party_codec_through_entry_points(monkeypatch, cube):
    ep = EntryPoint(name="raw-f16", value=f"{__name__}:RawCodec", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [ep] if group == ep.group else [])
    assert "raw-f16" in registry.available_codecs()
    data = compress.encode(cube.astype(np.float32), "raw-f16", bpppb=16.5)  # its only rate, plus the headers
    np.testing.assert_allclose(compress.decode(data).data, cube, rtol=1e-3)
    with pytest.raises(RateError, match="raw-f16 cannot write a stream in"):  # the promise holds for its streams too
        compress.encode(cube.astype(np.float32), "raw-f16", bpppb=0.1)


def test_register_codec_in_process(cube):
    registry.register_codec("raw-f16-local", RawCodec)
    try:
        assert registry.codec_class("raw-f16-local") is RawCodec
        with pytest.raises(ValueError, match="already registered"):
            registry.register_codec("raw-f16-local", RawCodec)
    finally:
        registry._REGISTERED.pop("raw-f16-local")
