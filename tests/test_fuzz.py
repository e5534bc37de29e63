"""Thousands of damaged streams thrown at decode: only BitstreamError may come out.

Plain mutations (flips, cuts, insertions) must all be caught. Mutations whose
checksum was then recomputed (a deliberate tamperer) must give either
BitstreamError or a well-formed scene of the shape the header states, never
another exception, a crash or a hang.
"""

import struct
import time
import zlib

import numpy as np
import pytest
from conftest import every_codec, synthetic_cube, tiny

from torchgeo_inr import compress
from torchgeo_inr.errors import BitstreamError
from torchgeo_inr.scene import Scene


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    buf = bytearray(data)
    kind = rng.integers(6)
    pos = int(rng.integers(len(buf)))
    if kind == 0:
        buf[pos] ^= 1 << int(rng.integers(8))
    elif kind == 1:
        buf[pos] = int(rng.integers(256))
    elif kind == 2:
        del buf[pos:]
    elif kind == 3:
        buf[pos:pos] = rng.bytes(int(rng.integers(1, 16)))
    elif kind == 4:
        del buf[pos : pos + int(rng.integers(1, 32))]
    else:
        n = int(rng.integers(1, 8))
        buf[pos : pos + n] = b"\xff" * n
    return bytes(buf)


def _resign(data: bytes) -> bytes:
    if len(data) < 4:
        return data
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))


EVERY = every_codec()
#: Mutations per codec: the neural decoders run a network per attempt, so they get fewer.
PLAIN_MUTATIONS = {"jpeg2000": 1500, "pca-jpeg2000": 1500}
TAMPERED = {"jpeg2000": 500, "pca-jpeg2000": 500}


@pytest.fixture(scope="module")
def streams():
    cube = synthetic_cube(8, 24, 20, seed=7).astype(np.float32)
    cube[0, 0, 0] = np.nan
    scene = Scene.from_array(cube, wavelengths=np.linspace(450, 900, 8))
    return {codec: compress.encode(scene, codec, bpppb=8.0, progress=False, **tiny(codec)) for codec in EVERY}


@pytest.mark.parametrize("codec", EVERY)
def test_plain_mutations_always_raise_bitstream_error(streams, codec):
    rng = np.random.default_rng(0)
    original = streams[codec]
    for _ in range(PLAIN_MUTATIONS.get(codec, 300)):
        damaged = _mutate(original, rng)
        if damaged == original:
            continue
        with pytest.raises(BitstreamError):
            compress.decode(damaged)


@pytest.mark.parametrize("codec", EVERY)
def test_tampered_streams_with_valid_checksum(streams, codec):
    rng = np.random.default_rng(1)
    original = streams[codec]
    outcomes = {"error": 0, "scene": 0}
    for _ in range(TAMPERED.get(codec, 150)):
        damaged = _resign(_mutate(original[:-4], rng) + b"\0\0\0\0")
        start = time.perf_counter()
        try:
            scene = compress.decode(damaged)
        except BitstreamError as err:
            assert str(err)
            outcomes["error"] += 1
        else:
            assert scene.data.shape == compress.info(damaged)["shape"]
            assert np.isfinite(scene.data).all()
            outcomes["scene"] += 1
        assert time.perf_counter() - start < 5.0
    assert outcomes["error"] > 0
