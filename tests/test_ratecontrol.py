"""The one rate control, on model codecs whose bytes and quality follow a formula (no real codec needed)."""

from __future__ import annotations

import math

import pytest

from torchgeo_inr.errors import RateError
from torchgeo_inr.ratecontrol import LOWER_FRACTION, PSNR_SLACK_DB, Target, meet_target

N = 200 * 56 * 56


class ModelCodec:
    """Spends ``spend`` of each budget (at least ``smallest`` bytes); quality 6 dB per doubling, up to ``ceiling``."""

    def __init__(self, spend=1.0, smallest=100, ceiling=math.inf, db_at_one=40.0):
        self.spend, self.smallest, self.ceiling, self.db_at_one = spend, smallest, ceiling, db_at_one

    def encode_at(self, budget: Target) -> bytes:
        if budget.max_bytes < self.smallest:
            raise RateError("too small", smallest=self.smallest)
        return bytes(max(self.smallest, int(self.spend * budget.max_bytes)))

    def quality(self, stream: bytes) -> float:
        bpppb = 8 * len(stream) / N
        return min(self.ceiling, self.db_at_one + 6.0 * math.log2(bpppb))


@pytest.mark.parametrize("spend", [1.0, 0.5, 0.3])
def test_a_rate_target_lands_in_its_range_even_when_the_codec_underspends(spend):
    codec = ModelCodec(spend=spend)
    target = Target.from_args(0.2, None, (N,))
    stream, attempts = meet_target(target, codec.encode_at, codec.quality, name="model")
    assert LOWER_FRACTION * target.max_bytes <= len(stream) <= target.max_bytes
    assert (len(attempts) == 1) == (spend == 1.0)


def test_a_psnr_target_lands_in_its_range():
    codec = ModelCodec(spend=0.7)
    target = Target.from_args(None, 37.0, (N,))
    stream, _ = meet_target(target, codec.encode_at, codec.quality, name="model")
    assert 37.0 <= codec.quality(stream) <= 37.0 + PSNR_SLACK_DB


def test_a_smallest_stream_too_good_says_so():
    codec = ModelCodec(smallest=N // 8 // 4)  # its smallest stream is 0.25 bpppb: 28 dB
    with pytest.raises(RateError, match="even its smallest stream decodes above the range"):
        meet_target(Target.from_args(None, 20.0, (N,)), codec.encode_at, codec.quality, name="model")


def test_a_codec_that_saturates_below_the_target_says_so():
    codec = ModelCodec(ceiling=33.0)
    with pytest.raises(RateError, match="cannot reach a per-band PSNR in \\[40, 41\\].*did not bring it up"):
        meet_target(Target.from_args(None, 40.0, (N,)), codec.encode_at, codec.quality, name="model")
