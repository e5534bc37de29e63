"""What an encode did, returned to the caller: :class:`Encoded` (the bytes and their :class:`EncodeReport`).

Why a return value and not an attribute on the codec: a codec object may
encode many scenes (and from several threads); what one encode did belongs
to that encode. ``torchgeo-inr compress --json`` prints the same report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class EncodeReport:
    """The codec, the target, the real rate, and what fitting and rate control did to reach it."""

    codec: str
    bytes: int
    bpppb: float
    seconds: float
    target_bpppb: float | None = None
    target_psnr: float | None = None
    #: Training steps of the encode that was kept (all fits together), None for classical codecs.
    steps: int | None = None
    #: Why the kept encode's fit ended: "steps", "stalled", "time" (the wall-clock cap), "interrupted", ...
    stopped: str | None = None
    #: The per-band PSNR the encoder measured or estimated for the kept stream, when it has one.
    psnr_estimate: float | None = None
    #: Every encode rate control asked for, in order (budget asked, bytes, measured PSNR or error).
    attempts: list[dict] = field(default_factory=list)
    #: The method's own account of the kept encode (architecture, bits, rate-control rounds...).
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Encoded:
    """A stream and the report of the encode that wrote it."""

    data: bytes
    report: EncodeReport
