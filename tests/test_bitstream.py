import struct
import zlib

import pytest

from torchgeo_inr import bitstream
from torchgeo_inr.errors import BitstreamError


def _stream():
    return bitstream.pack("demo", 3, {"a": 1, "b": [1.5, "x"]}, {"one": b"\x00\x01", "two": b"xyz" * 10})


def test_round_trip():
    s = bitstream.unpack(_stream())
    assert (s.codec, s.codec_version, s.format_version) == ("demo", 3, bitstream.FORMAT_VERSION)
    assert s.header == {"a": 1, "b": [1.5, "x"]}
    assert s.sections == {"one": b"\x00\x01", "two": b"xyz" * 10}
    assert s.section("one") == b"\x00\x01"
    with pytest.raises(BitstreamError, match="no section 'three'"):
        s.section("three")


def test_foreign_bytes():
    with pytest.raises(BitstreamError, match="not a torchgeo-inr stream"):
        bitstream.unpack(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(BitstreamError, match="too short"):
        bitstream.unpack(b"TG")
    with pytest.raises(BitstreamError, match="expected bytes"):
        bitstream.unpack(12345)


def test_truncated_and_flipped():
    data = _stream()
    with pytest.raises(BitstreamError, match="checksum"):
        bitstream.unpack(data[:-7])
    flipped = bytearray(data)
    flipped[20] ^= 0x10
    with pytest.raises(BitstreamError, match="checksum"):
        bitstream.unpack(bytes(flipped))


def _resign(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_newer_format_refused():
    data = bytearray(_stream())
    data[5] = bitstream.FORMAT_VERSION + 1
    with pytest.raises(BitstreamError, match="newer"):
        bitstream.unpack(_resign(bytes(data[:-4])))


def test_lengths_checked_even_with_valid_checksum():
    data = bytearray(_stream()[:-4])
    data = data[:-5]  # cut into the last section, then fix the checksum
    with pytest.raises(BitstreamError, match="truncated"):
        bitstream.unpack(_resign(bytes(data)))


def test_header_must_be_json_object():
    body = bitstream.MAGIC + struct.pack("<BB", 1, 1) + b"x" + struct.pack("<HI", 1, 2) + b"[]" + b"\x00"
    with pytest.raises(BitstreamError, match="JSON object"):
        bitstream.unpack(_resign(body))


def test_no_pickle_or_eval_in_the_package():
    """Nothing read from a stream may run code: no unpickling, no torch.load, no eval/exec."""
    import pathlib
    import re

    package = pathlib.Path(bitstream.__file__).parent
    plugins = package.parent / "plugins"
    text = "\n".join(p.read_text() for root in (package, plugins) for p in root.rglob("*.py"))
    for forbidden in ("pickle.load", "torch.load(", "allow_pickle=True"):
        assert forbidden not in text
    # A bare eval()/exec() call; torch's ``module.eval()`` (a method) is fine.
    assert not re.search(r"(?<![.\w])(eval|exec)\(", text)
