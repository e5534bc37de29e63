"""The latent-grid model's sizes: its configuration, the rule that picks it per rate, and the limits a reader checks.

Kept apart from :mod:`~torchgeo_inr.latent_grid.model` (the torch network) so
that a stream can be read and decoded with numpy alone
(:mod:`torchgeo_inr.codecs.latent_grid_read`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

#: Sizes the model supports (a stream reader refuses headers beyond them: they bound what decode allocates).
MAX_LEVELS = 8
MAX_CHANNELS = 128
MAX_HIDDEN = 512
#: From this rate up the coding error, not the basis's truncation, limits quality: every component gets
#: a full-resolution latent channel and the bands are not tilted (see :func:`auto_config`).
HIGH_RATE_BPPPB = 0.5
#: Synthesis width per basis component (see :func:`auto_config`).
HIDDEN_PER_COMPONENT = 1.75
#: From this rate up, where the warm start's skip carries the leading components (the whole-scene codec), the
#: synthesis is as wide as ``NARROW_WEIGHT_SHARE`` of the budget pays for, at least ``NARROW_HIDDEN`` and at most
#: the wide rule's width (see :func:`auto_config`).
NARROW_FROM_BPPPB = 1.5
NARROW_HIDDEN = 24
NARROW_WEIGHT_SHARE = 0.025
#: Below ``RICHER_BELOW_BPPPB`` a warm-started fit's basis is the size the component rule gives at
#: ``RICHER_BASIS_RATE`` times the rate (at most at ``RICHER_BELOW_BPPPB``), where the side bytes allow
#: (see :func:`richer_basis`; measured up to 0.5 bpppb).
RICHER_BASIS_RATE = 2.0
RICHER_BELOW_BPPPB = 1.0
#: Bits one full-resolution latent can carry, about: with fewer channels than a pixel's budget over this, the
#: fit could not spend it (73 x 73 at 1.0 bpppb, 32 channels: its rate weight fell to 0.08).
LATENT_BITS = 4.0
#: Latent symbols are clamped to this magnitude (the entropy coder's range is 2**16).
MAX_SYMBOL = 2**14


@dataclass(frozen=True)
class LatentConfig:
    """The latent grids (channels per level, finest first), the synthesis width and the basis size."""

    components: int
    channels: tuple[int, ...]
    hidden: int
    #: Encode side only: weigh the bands for the PCA (:func:`~torchgeo_inr.latent_grid.spectral.truncation_tilt`)
    #: where no coding weights (:func:`~torchgeo_inr.codecs.latent_grid_data.coding_weights`, whole-scene
    #: streams) stand in. Not in the header: the weights fold into the per-band scales the stream holds.
    tilt: bool = True
    #: The first ``skip`` full-resolution latent channels are added to the first ``skip`` coefficient images
    #: unchanged (:mod:`~torchgeo_inr.latent_grid.warm_start`): the synthesis learns corrections to them.
    skip: int = 0
    #: The skipped channels hold this many levels of wavelet subbands (:mod:`~torchgeo_inr.latent_grid.wavelet`,
    #: stream version 8); 0: plain full-resolution planes.
    wavelet: int = 0

    def grid_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        return [(math.ceil(height / 2**level), math.ceil(width / 2**level)) for level in range(len(self.channels))]

    def weight_values(self) -> int:
        """The synthesis's weights and biases."""
        cin, hid, k = sum(self.channels), self.hidden, self.components
        return cin * hid + hid + hid * hid + hid + hid * k + k + 10 * k

    def side_values(self, bands: int) -> int:
        """Values besides the latents: the basis and the synthesis weights."""
        return self.components * bands + self.weight_values()

    def side_bytes(self, bands: int, compact: bool = True) -> float:
        """Rough bytes besides the latents: values at about a byte each (in a version 6 stream the weights take
        about that and the basis 0.4 to 0.65: :mod:`~torchgeo_inr.latent_grid.side_coding`; the sizes below
        were measured with a byte a value), and in a version 6 stream (``compact``) each latent channel's
        context model (12 bytes), the band numbers (2.4 bytes a band) and the header (about 300 bytes); else
        (archive networks) a latent model per channel (17 bytes) and the header (about 700 bytes)."""
        if compact:
            return self.side_values(bands) + 12 * sum(self.channels) + 2.4 * bands + 300
        return self.side_values(bands) + 17 * sum(self.channels) + 700


def auto_config(bpppb: float, bands: int, height: int, width: int, side_share: float = 0.35,
                compact: bool = True, warm_start: bool = False) -> LatentConfig:
    """Sizes per rate: more components and more full-resolution channels as the budget grows.

    The component count follows PCA + JPEG2000's own rule (96 * bpppb**0.6;
    a warm-started fit below ``RICHER_BELOW_BPPPB`` takes a richer basis where
    the side bytes allow, :func:`richer_basis`); the full-resolution channels
    grow as 12 * (bpppb / 0.2)**0.6, the coarser levels get fewer; levels
    stop where the grid would be a single pixel.

    The synthesis is ``HIDDEN_PER_COMPONENT`` times as wide as the basis (at least 48): its last
    layer maps the hidden width to the components, so a narrower one caps the
    rank of the coefficients (Indian Pines, 480 s on the CPU: at 0.2 bpppb,
    37 components, width 48 gave 44.48 dB and 64 gave 44.66; at 0.5, 63
    components, 48 gave 45.66 and 96 gave 46.91; at 1.0, 96 components, 48 gave
    46.15 and could not spend the budget, 128 gave 47.78).

    From ``HIGH_RATE_BPPPB`` up, every component gets a full-resolution
    channel and the bands are not tilted: the basis's truncation error is then
    far below the coding error (96 components: a 70.5 dB bound against 49 dB
    reached), so the tilt only skews the coding, and detail no other band
    shares (the noisy bands) needs a channel of its own. At 1.0 bpppb, width
    168: 47.97 dB with tilt and 32 channels, 48.90 without tilt, 49.07 with 96
    channels too; at 0.5 with and without both, 46.91 either way. (Those
    figures predate the warm start. Whole-scene streams now weigh their bands
    at every rate with what a coder measures,
    :func:`~torchgeo_inr.codecs.latent_grid_data.coding_weights`, and fall
    back to this rule's tilt only where that coder has no stream.)

    On small scenes the sizes shrink until the side information
    (:meth:`LatentConfig.side_bytes`, of a version 6 stream when ``compact``, else of an archive network)
    takes at most ``side_share`` of the budget:
    first the full-resolution channels beyond the rule's (down to one per
    ``LATENT_BITS`` of a pixel's budget), then the synthesis down to the
    basis's width, then the synthesis and the basis together, then the grids,
    then the basis. Shrinking the synthesis and the grids first (as before)
    left a width of 12 to 40 and 2 to 23 channels under 30 to 110 components:
    the fit could not spend its budget (its rate weight fell to 0.002 to
    0.006). Measured at 1,000 steps, one encode each, old -> new per-band
    PSNR: the 56 x 56 sample 40.89 -> 41.79 dB at 0.2 bpppb, 42.74 -> 43.90 at
    0.5 and 44.65 -> 45.97 at 1.0; the 73 x 73 quadrant q0 41.80 -> 42.05 at
    0.2, 44.11 -> 44.16 at 0.5, 46.02 -> 46.66 at 1.0 and 49.20 -> 47.62 at 2.0
    (the one loss, 49.28 -> 47.70 with another seed: 131 components where 146
    did better; at 2,000 steps 49.94 -> 49.64 dB, SAM 0.63 -> 0.39 degrees);
    q1 44.04 -> 44.15 at 0.5. Whole-scene sizes are unchanged.

    ``warm_start``: the fit will start from skipped channels (:mod:`~torchgeo_inr.latent_grid.warm_start`; the
    whole-scene codec, not archive networks). From ``NARROW_FROM_BPPPB`` up its synthesis is then narrowed once the
    sizes are chosen, to what ``NARROW_WEIGHT_SHARE`` of the budget pays for (:func:`narrow_width`): the skipped
    channels carry the leading components, and a synthesis as wide as the basis cost more bytes than it earned.
    Per-band PSNR, 1,000 steps, one torch thread, the widths the rule gave before -> 32 -> 24: Indian Pines'
    quadrant q2 at 2.0 bpppb 52.87 (131) -> 54.03 -> 54.11 dB (16: 54.11, 48: 53.89, 80: 53.57), q0 at 2.0 51.88
    (131) -> 52.81 -> 52.89, the 56 x 56 sample at 2.0 51.59 (84) -> 52.48 -> 52.60; q2 2.0 at 5,000 steps 53.32 ->
    54.16 -> 54.27. Below 2.0 it was not a gain: at 1.0 the synthesis earns its bytes (q0, width 86 -> 36 / 60:
    48.66 -> 48.40 / 48.55 dB; q2 49.74 -> 49.57 at 32), so the rule keeps the wide one there (q0 at 1.5, measured
    after: 50.53 dB at 24 against 50.48 at 109, about even). Spending the freed bytes on more skipped channels
    instead (146 components, 128 skipped, width 32) gave q2 2.0 53.69 dB. A fixed width of 24 was too narrow for the
    whole scene, four times the pixels over which the weights' bytes spread: at 2.0 bpppb, 1,000 steps, one thread,
    24 / 48 / 64 / 96 / 255 (the wide rule's) gave 54.34 / 54.53 / 54.61 / 54.42 / 53.73 dB, the weights 0.9 / 1.8 /
    2.4 / 3.9 / 13.9% of the budget (255 with the budget's rest spent on a finer step, worth +0.13 dB at 24); q2's best
    widths, 16 and 24 (54.11 both; 32 54.03), are 2.4 and 3.4% of its budget.

    With ``warm_start`` the full-resolution channels, the skipped ones, are also one per ``LATENT_BITS`` of a
    pixel's budget from the start (what the loop shrinks small scenes' to), not one per component: the
    components beyond them come from the synthesis, which predicts them from every latent for fewer bytes than
    planes of their own cost. Whole Indian Pines, per-band PSNR, 1,000 steps, one torch thread, one per
    component -> this rule: 0.5 bpppb 47.52 (63 channels) -> 47.87 (25); 1.0 50.33 (96; at 0.9989 bpppb) ->
    50.32 (50; at 0.9667); 2.0 54.21 (128) -> 54.34 (100); at 2.0 with 131 components (the quadrants' count)
    54.36 with 100 channels, 54.23 with 80, and 102 or 116 components all skipped 54.22 / 54.23. Indian Pines'
    quadrants and the 56 x 56 sample had these sizes already.
    """
    budget = bpppb * bands * height * width / 8.0
    components = rule_components = component_rule(bpppb, bands, height * width)
    levels = int(max(1, min(7, math.floor(math.log2(max(1, min(height, width)))) + 1)))
    high_rate = bpppb >= HIGH_RATE_BPPPB
    full = max(2.0, 12 * (bpppb / 0.2) ** 0.6)
    boost = max(1.0, components / full) if high_rate else 1.0  # full-resolution channels over ``full``
    hidden = 32.0 if bpppb < 0.1 else max(48.0, HIDDEN_PER_COMPONENT * components)
    shares = (1, 1 / 2, 1 / 3, 1 / 6, 1 / 6, 1 / 12, 1 / 12)
    # a full-resolution latent carries a few bits at most (training grows latents slowly): at least a
    # channel per LATENT_BITS of each pixel's budget keeps the budget spendable
    least_boost = min(boost, max(1.0, bpppb * bands / LATENT_BITS / full))
    if warm_start:  # full-resolution channels are skipped ones; the synthesis predicts the other components
        boost = least_boost
    while True:
        sizes = [full * boost] + [full * s for s in shares[1:levels]]
        channels = tuple(int(min(MAX_CHANNELS, max(1, round(c)))) for c in sizes)
        cfg = LatentConfig(int(components), channels, max(2, int(hidden)), tilt=not high_rate)
        if cfg.side_bytes(bands, compact) <= side_share * budget or (hidden <= 2 and full <= 1 and components == 1):
            if warm_start and bpppb >= NARROW_FROM_BPPPB:
                cfg = replace(cfg, hidden=narrow_width(cfg, budget))
            if warm_start and bpppb < RICHER_BELOW_BPPPB and cfg.components == rule_components:
                cfg = richer_basis(cfg, bpppb, bands, height * width, side_share * budget, compact)
            return cfg
        if boost > least_boost:  # the full-resolution channels beyond the rule's first, down to what the rate needs
            boost = max(least_boost, boost * 0.85)
        elif hidden > max(components, 12):  # then the synthesis, down to the basis's width
            hidden = max(components, 12, hidden * 0.85)
        elif hidden > 12:
            # then the synthesis and the basis together: its last layer caps the coefficients' rank, so
            # rows beyond its width are bytes for nothing
            hidden = max(12.0, hidden * 0.9)
            components = min(components, int(hidden))
        elif full > 2:  # then the grids
            full = max(2.0, full * 0.9)
        elif components > 4:
            components = max(4, int(components * 0.9))
        else:
            hidden, full, components = max(2.0, hidden * 0.8), max(1.0, full * 0.8), max(1, int(components * 0.8))


def richer_basis(cfg: LatentConfig, bpppb: float, bands: int, pixels: int, side_room: float,
                 compact: bool) -> LatentConfig:
    """Below ``RICHER_BELOW_BPPPB``, for a warm-started fit whose sizes the side information did not shrink: the
    basis ``pca-jpeg2000``'s rule gives at ``RICHER_BASIS_RATE`` times the rate (at most at ``RICHER_BELOW_BPPPB``,
    so sizes grow with the rate), as long as the side bytes stay within ``side_room`` and the synthesis's width
    (its last layer caps the coefficients' rank).

    Why: a component beyond the skipped channels costs a basis row and a synthesis column, not a coded image of
    its own, and at these rates the basis's truncation was much of the error (whole Indian Pines, the PCA on the
    coding weights: 44.19 / 45.32 / 46.67 / 52.04 dB truncation bounds against 42.74 / 44.39 / 45.74 / 48.21
    reached at 0.05 / 0.1 / 0.2 / 0.5 bpppb, about three quarters of the squared error below 0.5 and two fifths
    there). Per-band PSNR, 5,000 steps, one thread, the rule's basis -> richer: 0.05 42.74 (16 components) ->
    42.87 (24), 0.1 44.39 (24, two threads) -> 44.70 (36), 0.2 45.74 (37, two threads) -> 46.08 (55), 0.5 48.21
    (63, two threads) -> 48.53 (80) / 48.69 (95). Scenes the side information shrinks (Indian Pines' quadrants,
    the sample) keep their sizes: there a basis row is dear (at 0.05 bpppb, where the side bytes leave them 5
    components, q0 and q2 forced to 20 lost 1.2 and 1.1 dB; q0 with 12 gained 0.10). Not taken from 1.0 bpppb
    up: there the rule's 96 components bound the whole scene at 60.25 dB against 50.55 reached, a tenth of the
    error.
    """
    components = component_rule(min(RICHER_BASIS_RATE * bpppb, RICHER_BELOW_BPPPB), bands, pixels)
    richer = replace(cfg, components=max(cfg.components, min(cfg.hidden, components)))
    return richer if richer.side_bytes(bands, compact) <= side_room else cfg


def component_guess(bpppb: float) -> float:
    """PCA + JPEG2000's rule of thumb for its basis size, 96 * bpppb**0.6 (fitted on AVIRIS scenes: 0.05 -> 16,
    1.0 -> 96 components); here, numpy-free, so that ``pca-jpeg2000`` (which tries it scaled), its shared networks
    and this model's sizes read one rule."""
    return 96.0 * bpppb**0.6


def component_rule(bpppb: float, bands: int, pixels: int) -> int:
    """:func:`component_guess` rounded, at most the bands and pixels."""
    return max(1, min(bands, pixels, round(component_guess(bpppb))))


def narrow_width(cfg: LatentConfig, budget: float) -> int:
    """The synthesis width for a warm-started fit from ``NARROW_FROM_BPPPB`` up: the widest whose weights (about
    a byte each) take at most ``NARROW_WEIGHT_SHARE`` of the ``budget`` bytes, at least ``NARROW_HIDDEN`` (and as
    wide as the components beyond ``MAX_CHANNELS``, which no skipped channel can carry), at most ``cfg.hidden``."""
    width = max(NARROW_HIDDEN, cfg.components - MAX_CHANNELS)
    while width < cfg.hidden and replace(cfg, hidden=width + 1).weight_values() <= NARROW_WEIGHT_SHARE * budget:
        width += 1
    return min(width, cfg.hidden)


def decoder_shapes(cfg: LatentConfig) -> dict[str, tuple[int, ...]]:
    """The synthesis weights' shapes by name, in the stream's order
    (:meth:`~torchgeo_inr.latent_grid.model.LatentGridModel.decoder_state`; a test holds the two to each other)."""
    cin, hid, k = sum(cfg.channels), cfg.hidden, cfg.components
    return {
        "synthesis.0.weight": (hid, cin, 1, 1), "synthesis.0.bias": (hid,),
        "synthesis.2.weight": (hid, hid, 1, 1), "synthesis.2.bias": (hid,),
        "synthesis.4.weight": (k, hid, 1, 1), "synthesis.4.bias": (k,),
        "refine.weight": (k, 1, 3, 3), "refine.bias": (k,),
    }
