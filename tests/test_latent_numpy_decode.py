"""The torch-free decode of ``latent-grid`` streams (:mod:`torchgeo_inr.codecs.latent_grid_read`) against the torch
model it stands in for: each piece of the synthesis, whole streams of every version, and a fresh process that
decodes without importing torch."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import synthetic_cube

import torchgeo_inr as tgi
from torchgeo_inr import bitstream
from torchgeo_inr.codecs.latent_grid_read import decode_values
from torchgeo_inr.codecs.latent_grid_stream import read_renderer
from torchgeo_inr.errors import BitstreamError
from torchgeo_inr.latent_grid.config import MAX_SYMBOL, LatentConfig, decoder_shapes
from torchgeo_inr.latent_grid.model import LatentGridModel
from torchgeo_inr.latent_grid.numpy_synthesis import depthwise3x3, erf, gelu, upsample_matrix
from torchgeo_inr.scene import Scene, restore_dtype

SHAPE = (16, 48, 40)


def test_erf_and_gelu_are_torchs():
    x = np.linspace(-9, 9, 20001)
    assert max(abs(e - math.erf(v)) for v, e in zip(x, erf(x))) < 2e-7
    x32 = np.linspace(-12, 12, 100001, dtype=np.float32)
    got = gelu(x32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, torch.nn.GELU()(torch.from_numpy(x32)).numpy(), rtol=0, atol=3e-6)


@pytest.mark.parametrize("level", [1, 2, 3])
@pytest.mark.parametrize("height,width", [(9, 7), (16, 16), (5, 12)])
def test_upsampling_is_torchs_bilinear_cropped(level, height, width):
    factor = 2**level
    h, w = math.ceil(height / factor), math.ceil(width / factor)
    grid = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(level))
    want = F.interpolate(grid, size=(h * factor, w * factor), mode="bilinear", align_corners=False)
    want = want[0, :, :height, :width]
    got = upsample_matrix(h, factor, height) @ grid[0].numpy() @ upsample_matrix(w, factor, width).T
    np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=1e-5)


def test_depthwise_refinement_is_torchs_convolution():
    conv = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4)
    y = torch.randn(1, 4, 7, 5, generator=torch.Generator().manual_seed(0))
    want = conv(y)[0].detach().numpy()
    got = depthwise3x3(y[0].numpy(), conv.weight.detach().numpy(), conv.bias.detach().numpy())
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("cfg", [LatentConfig(5, (4, 2, 1), 8), LatentConfig(3, (3, 1), 6, skip=2)])
def test_decoder_shapes_are_the_models(cfg):
    assert decoder_shapes(cfg) == LatentGridModel(cfg, 9, 7, latents=False).decoder_shapes()


def _stream(context: bool, warm_start: bool, skip: int, extreme: bool = False, wavelet: int = 0) -> bytes:
    """A stream as the codec writes it, from a model with random latents and weights (a fit would take minutes);
    ``extreme``: latents of the largest magnitude, alternating in sign (residuals twice the latents' range)."""
    from torchgeo_inr.codecs.latent_grid import LatentData, LatentGridCodec
    from torchgeo_inr.codecs.latent_grid_stream import write_stream

    torch.manual_seed(skip)
    scene = Scene.from_array(synthetic_cube(*SHAPE, seed=3))
    cfg = LatentConfig(components=6, channels=(5, 3, 2, 1), hidden=10, skip=skip, wavelet=wavelet)
    data = LatentData(scene, cfg.components, torch.device("cpu"), tilt=False, compact=context)
    model = LatentGridModel(cfg, *SHAPE[1:], context=context)
    with torch.no_grad():
        for z in model.latents:
            z.copy_(torch.randn_like(z) * 3)
        model.refine.weight.normal_(0, 0.2)
        model.refine.bias.normal_(0, 0.2)
        if extreme:  # a smooth first channel (its neighbours predict it), but one latent against its opposite
            first = model.latents[0][0, 0]
            first.copy_(torch.round(1000 * torch.sin(torch.arange(first.numel()).reshape(first.shape) / 7.0)))
            first[0, 2] = first[2, 2] = first[1, 1] = first[1, 3] = -MAX_SYMBOL
            first[1, 2] = MAX_SYMBOL
    model.skip_step = 0.37
    codec = LatentGridCodec(context=context, warm_start=warm_start)
    return write_stream(model, data.basis_packed, data.band_sections, 8, codec._finisher(scene))


@pytest.fixture(scope="module")
def streams():
    """Every stream version the writer makes: 8 (context model on the lattice, neighbour prediction, compact side
    information) with the warm start's skip held as wavelet subbands, with a plain skip and without, 4 (one
    Laplace a channel, skip) and 1; versions 3 to 7 are committed streams (tests/test_latent_warm_start.py)."""
    return {"v8 wavelet": _stream(True, True, skip=2, wavelet=2), "v8 skip": _stream(True, True, skip=2),
            "v8": _stream(True, False, skip=0), "v4 skip": _stream(False, True, skip=2),
            "v1": _stream(False, False, skip=0)}


@pytest.mark.parametrize("version", ["v8 wavelet", "v8 skip", "v8", "v4 skip", "v1"])
def test_numpy_decode_is_the_torch_renderers(streams, version, monkeypatch):
    stream = bitstream.unpack(streams[version])
    assert stream.codec_version == int(version[1])
    assert bool(stream.header["arch"].get("skip")) == (" " in version)
    assert stream.header["arch"].get("wavelet", 0) == (2 if version.endswith("wavelet") else 0)
    want = read_renderer(stream, SHAPE).render().numpy()
    got = decode_values(stream, SHAPE)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * float(np.abs(want).max()))
    # the codec's CPU decode is the numpy one: it does not go near the torch renderer
    from torchgeo_inr.codecs import latent_grid_stream

    monkeypatch.setattr(latent_grid_stream, "read_renderer", lambda *a, **k: pytest.fail("decoded with torch"))
    decoded = tgi.decode(streams[version])
    np.testing.assert_array_equal(decoded.data, restore_dtype(got, np.dtype(np.uint16)))  # the scene's dtype


def test_numpy_decode_refuses_damaged_latents(streams):
    stream = bitstream.unpack(streams["v8 wavelet"])
    sections = dict(stream.sections)
    latents = bytearray(sections["latents"])
    sections["latents"] = bytes(latents[: len(latents) // 2 // 4 * 4])
    damaged = bitstream.Stream(stream.codec, stream.codec_version, stream.header, sections)
    with pytest.raises(BitstreamError):
        tgi.get_codec("latent-grid").decode(damaged)


def test_residuals_twice_the_latents_range_still_read():
    data = _stream(True, False, skip=0, extreme=True)
    stream = bitstream.unpack(data)
    assert stream.header["lbound"] == 2 * MAX_SYMBOL  # the one latent against its four opposite neighbours
    want = read_renderer(stream, SHAPE).render().numpy()
    np.testing.assert_allclose(decode_values(stream, SHAPE), want, rtol=0, atol=1e-5 * float(np.abs(want).max()))


@pytest.mark.parametrize("weight", [-1, 65, 2**14])
def test_a_tampered_prediction_weight_is_refused(streams, weight):
    from torchgeo_inr.latent_grid.scale_index import FEATURES
    from torchgeo_inr.latent_grid.side_coding import pack_rows, unpack_rows

    stream = bitstream.unpack(streams["v8 wavelet"])
    rows = sum(stream.header["arch"]["channels"]) + 2 * 3 * 2  # and the skip's subbands (2 channels, 2 levels)
    # version 8: coded column by column; version 7 on: two prediction weights a channel
    table = unpack_rows(stream.section("lctx"), 3 + FEATURES, rows, 2**15, "lctx")
    table[-1 - weight % 2, 0] = weight
    sections = {**stream.sections, "lctx": pack_rows(table)}
    with pytest.raises(BitstreamError, match="prediction weights"):
        tgi.decode(bitstream.pack(stream.codec, stream.codec_version, stream.header, sections))


def test_a_fresh_process_decodes_without_importing_torch(streams, tmp_path):
    path = tmp_path / "scene.inr"
    path.write_bytes(streams["v8 wavelet"])
    code = ("import sys, numpy as np, torchgeo_inr as tgi\n"
            f"scene = tgi.decode(open({str(path)!r}, 'rb').read())\n"
            "assert 'torch' not in sys.modules, 'decode imported torch'\n"
            f"np.save({str(tmp_path / 'out.npy')!r}, scene.data)\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), tgi.decode(streams["v8 wavelet"]).data)
