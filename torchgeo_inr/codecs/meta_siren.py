"""``meta-siren``: the scene as one latent vector per patch of a shared, meta-learned modulated SIREN.

The base shipped with the package is a demo trained on Indian Pines (it does not carry to other scenes);
with an archive network (``network=``, written by ``shared=True``) the base is trained on the archive's own
tiles and stored, counted, in it (:mod:`.meta_siren_shared`).

After COIN++ (Dupont et al. 2022) and Rezasoltani & Qureshi: a base network
ships with the package (:mod:`torchgeo_inr.siren.base`); encoding a scene
is a few SGD steps on the patches' latents from zero (the inner loop the
base was meta-trained for: milliseconds to a second), then the latents are
quantised per latent dimension (affine, ``bits``) and ANS-coded.

What the stream holds, all counted in the rate: the base network's id and
sha256 (header; decode refuses a stream whose base is not the installed
one), the patch size, per-band mean and scale (float16), the quantised,
entropy-coded latents. What it does not hold: the base network itself, a
shared cost reported apart (the encode report's ``details['base_bytes']``
and the bpppb it would add to this one scene, ``base_bpppb_one_scene``).

Wavelengths: the base's output layer is a function of wavelength, so any
band set is decoded; a scene without wavelengths is taken to span
400-2500 nm evenly (:func:`~torchgeo_inr.siren.meta.default_wavelengths`).

Rate control by the real bytes: the rate knob is latents per pixel (the
patch size, never below the smallest the base was trained on) times bits
per latent. The smallest patch whose latents fit the budget at
``prefer_bits`` (the entropy coder saving about half a bit) is chosen, the
latents are fitted once, and the bits are then set on the real stream: the
largest uniform width (2..8) that fits, then one more bit on the first
``split`` latent dimensions, as many as still fit, when the stream is below
``target.min_bytes`` (a fine knob that needs no refit). If
even 2 bits do not fit, larger patches are tried; if none fits,
:class:`RateError` reports the smallest stream.

Encoding runs on one CPU thread by default (``threads=1``): on a shared
2-core machine that is ~4x faster than two competing threads.
"""

from __future__ import annotations

import re
import time

import numpy as np

from .. import bitstream
from ..codec import Finish
from ..errors import BitstreamError, RateError
from ..packing import header_number
from ..ratecontrol import Target
from ..scene import Scene
from .torch_codec import TorchCodec

MIN_BITS, MAX_BITS = 2, 8
_SHA = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_MAX_PATCHES = 1 << 22


class MetaSirenCodec(TorchCodec):
    """Latents of a shared, meta-learned modulated SIREN; the base network ships with the package."""

    name = "meta-siren"
    libraries = ("torch",)
    version = 1

    def __init__(
        self,
        *,
        base=None,
        steps: int | None = None,
        patch: int | None = None,
        bits: int | None = None,
        prefer_bits: int = 4,
        threads: int | None = 1,
        network: str | None = None,
        base_config: dict | None = None,
    ):
        """``base``: a :class:`~torchgeo_inr.siren.base.BaseNetwork`, a shipped id, or None (the default
        shipped base). ``steps``: inner steps at encode time (default: what the base was trained for; more
        steps give more quality). ``patch``/``bits`` fix the rate knobs instead of searching them.
        ``threads``: torch CPU threads while coding; 1 by default, which on a shared CPU is several times
        faster for networks this small than competing threads (None leaves torch's setting).
        ``network``: the sha256 of a loaded archive network whose base (trained on the archive's own tiles,
        :mod:`torchgeo_inr.codecs.meta_siren_shared`) replaces the shipped one; ``base_config``: the
        :class:`~torchgeo_inr.siren.network.MetaSirenConfig` fields of such a base when one is fitted."""
        if bits is not None and not MIN_BITS <= bits <= MAX_BITS:
            raise ValueError(f"bits must be {MIN_BITS}..{MAX_BITS}")
        self._base_arg = base
        self.steps = steps
        self.patch = patch
        self.bits = bits
        self.prefer_bits = int(prefer_bits)
        self.threads = threads
        self.network = network
        self.base_config = base_config
        self._models: dict = {}

    # ------------------------------------------------------------------ base
    def base(self):
        from ..siren.base import DEFAULT_BASE, BaseNetwork, installed_base

        if self.network is not None:
            from .meta_siren_shared import archive_base

            return archive_base(self.network)
        if isinstance(self._base_arg, BaseNetwork):
            return self._base_arg
        return installed_base(self._base_arg or DEFAULT_BASE)

    # ------------------------------------------------------------------ archive network
    shares_network = True

    def fit_network(self, tiles, *, bpppb: float, shape, chunks: int, device=None, progress: bool = True,
                    steps: int | None = None) -> bytes:
        """A base meta-trained on ``tiles``, stored in the archive (see :mod:`.meta_siren_shared`)."""
        from ..device import resolve_device, torch_threads
        from .meta_siren_shared import fit_network

        with torch_threads(self.threads):
            return fit_network(self, tiles, bpppb=bpppb, shape=shape, chunks=chunks, device=resolve_device(device),
                               progress=progress, steps=steps, config=self.base_config)

    def _wavelengths(self, given, bands: int):
        """The scene's wavelengths, else the archive network's, else None."""
        if given is None and self.network is not None:
            from .meta_siren_shared import archive_wavelengths

            return archive_wavelengths(self.network, bands)
        return given

    def _model(self, base, device):
        import copy

        if device.type == "cpu":
            return base.model
        key = (base.sha256, str(device))
        if key not in self._models:
            self._models[key] = copy.deepcopy(base.model).to(device)
        return self._models[key]

    def _base_for(self, head) -> object:
        """The installed base a stream names, or a clear error."""
        from ..siren.base import BaseNetwork, BaseNetworkError, installed_base

        if not isinstance(head, dict):
            raise BitstreamError("meta-siren header does not name its base network")
        base_id, digest = head.get("id"), head.get("sha256")
        if not (isinstance(base_id, str) and _ID.match(base_id) and isinstance(digest, str) and _SHA.match(digest)):
            raise BitstreamError(f"meta-siren header names an invalid base network {head!r}")
        if base_id == "archive":  # a base trained on the archive: its network must be loaded (by the store)
            from .meta_siren_shared import archive_base

            base = archive_base(digest)
        elif isinstance(self._base_arg, BaseNetwork) and self._base_arg.id == base_id:
            base = self._base_arg
        else:
            try:
                base = installed_base(base_id)
            except BaseNetworkError as err:
                raise BitstreamError(
                    f"stream needs base network {base_id} with hash {digest}; this installation has none ({err})"
                ) from None
        if base.sha256 != digest:
            raise BitstreamError(
                f"stream needs base network {base_id} with hash {digest}; this installation has {base.sha256}"
            )
        return base

    # ------------------------------------------------------------------ encode
    def _encode_on(self, scene: Scene, target: Target, finish: Finish, device, progress: bool):
        import torch

        from ..siren.base import base_cost
        from ..siren.meta import SceneLayout, default_wavelengths, fit_latents
        from ..siren.tiles import BandNorm, patch_count
        from .band_norm_sections import band_norm_sections

        t0 = time.perf_counter()
        base = self.base()
        cfg = base.config
        model = self._model(base, device)
        bands, height, width = scene.shape
        flat = scene.data.reshape(bands, -1)
        norm = BandNorm.fit(flat)
        side = band_norm_sections(norm)
        scene_wl = self._wavelengths(scene.wavelengths, bands)
        if scene_wl is None:
            from ..errors import warn_guess

            warn_guess(f"meta-siren: the scene has no wavelengths; its {bands} bands are taken to span "
                       "400-2500 nm evenly (give the scene its wavelengths to silence this)")
        wl = scene_wl if scene_wl is not None else default_wavelengths(bands)
        steps = cfg.inner_steps if self.steps is None else int(self.steps)
        base_head = {"id": base.id, "sha256": base.sha256}
        d = cfg.latent_dim

        def header(p, qhead):
            return {"base": base_head, "patch": int(p), "steps": steps, "q": qhead}

        stub_q = {"names": ["za", "zb"], "shapes": [[d, 1]] * 2, "bits": [8] * 2,
                  "models": [[1, 0.0, 1.0, -255, 255]] * 4, "step": "f2"}
        overhead = len(finish({**header(1, stub_q), "split": d}, {**side, "qstep": bytes(2 * d), "qdata": b""})) + 8
        avail = (target.max_bytes - overhead) * 8
        top = max(height, width)
        smallest_patch = min(min(cfg.patch_sizes), top)  # no smaller patches than the base was trained on
        sizes = [p for p in range(smallest_patch, top + 1) if patch_count(height, width, p) <= _MAX_PATCHES]
        if self.patch is not None:
            sizes = [max(1, min(top, int(self.patch)))]
            start = 0
        else:
            want = (self.bits or self.prefer_bits) - 0.5  # bits per latent after entropy coding, roughly
            start = next((i for i, p in enumerate(sizes) if patch_count(height, width, p) * d * want <= avail),
                         len(sizes) - 1)
        target_t = torch.from_numpy(norm.normalise(flat).T.copy()).to(device)
        with torch.no_grad():
            spectral = model.spectral(torch.as_tensor(np.asarray(wl, dtype=np.float32), device=device))
        smallest = None
        fit_s = 0.0
        tried = [sizes[start]]
        for p in sizes[start + 1 :]:  # if nothing fits, larger patches by ~25% each
            if p >= 1.25 * tried[-1]:
                tried.append(p)
        for p in tried:
            layout = SceneLayout.build(height, width, p, cfg.pitch, device)
            t1 = time.perf_counter()
            latents = fit_latents(model, layout, target_t, spectral, steps)
            if device.type == "cuda":
                torch.cuda.synchronize()
            fit_s += time.perf_counter() - t1
            z = latents.detach().cpu().numpy().T.copy()  # (D, P): one step per latent dimension
            found, size = self._fit_bits(
                z, target, lambda q, sec, k, p=p: finish({**header(p, q), "split": k}, {**side, **sec})
            )
            if found is not None:
                stream, b, k = found
                return stream, {
                    "steps": steps, "stopped": "steps", "patch": p, "patches": layout.patches, "bits": b,
                    "bits_plus_one_dims": k, "inner_seconds": round(fit_s, 3),
                    "fit_seconds": round(time.perf_counter() - t0, 3), "device": str(device),
                    **base_cost(base, scene.shape),
                }
            smallest = size if smallest is None else min(smallest, size)
            if self.patch is not None:
                break
        raise RateError(f"meta-siren could not fit {target.max_bytes} bytes", smallest=smallest)

    def _fit_bits(self, z: np.ndarray, target: Target, make):
        """((stream, b, k), None): the first ``k`` latent dimensions at ``b + 1`` bits, the rest at ``b``, the
        most that fits ``target.max_bytes``; (None, smallest size) when even 2 bits are too many."""
        from ..quantize import pack_state

        d = z.shape[0]
        cache: dict = {}

        def stream(b, k):
            if k == d:
                b, k = b + 1, 0
            if (b, k) not in cache:
                if k == 0:
                    state, bits = {"z": z}, {"z": b}
                else:
                    state, bits = {"za": z[:k], "zb": z[k:]}, {"za": b + 1, "zb": b}
                qhead, qsec = pack_state(state, bits)
                cache[(b, k)] = make(qhead, qsec, k)
            return cache[(b, k)]

        def fits(b):
            return len(stream(b, 0)) <= target.max_bytes

        if self.bits is not None:
            b = self.bits
            if not fits(b):
                return None, len(stream(b, 0))
            return (stream(b, 0), b, 0), None
        b = min(max(self.prefer_bits, MIN_BITS), MAX_BITS)
        if fits(b):
            while b < MAX_BITS and fits(b + 1):
                b += 1
        else:
            while b > MIN_BITS and not fits(b):
                b -= 1
            if not fits(b):
                return None, len(stream(MIN_BITS, 0))
        best = (stream(b, 0), b, 0)
        if b == MAX_BITS or len(best[0]) >= target.min_bytes:
            return best, None
        lo_size, hi_size = len(stream(b, 0)), len(stream(b, d))  # size is ~linear in k
        k = int((target.max_bytes - lo_size) / max(hi_size - lo_size, 1) * d)
        for k in range(min(k, d - 1), 0, -max(1, d // 64)):
            s = stream(b, k)
            if len(s) <= target.max_bytes:
                return (s, b, k), None
            if len(cache) > 10:
                break
        return best, None

    # ------------------------------------------------------------------ decode
    def _decode_on(self, stream: bitstream.Stream, shape, device) -> np.ndarray:
        import torch

        from ..quantize import unpack_state
        from ..scene_header import decode_scene_header
        from ..siren.meta import SceneLayout, default_wavelengths, render_scene
        from ..siren.tiles import patch_count
        from .band_norm_sections import read_band_norm

        bands, height, width = shape
        head = stream.header
        base = self._base_for(head.get("base"))
        cfg = base.config
        p = header_number(head, "patch", int, low=1, high=max(height, width))
        n_patches = patch_count(height, width, p)
        if n_patches > _MAX_PATCHES:
            raise BitstreamError("meta-siren stream has more patches than supported")
        norm = read_band_norm(stream, bands)
        d = cfg.latent_dim
        k = header_number(head, "split", int, low=0, high=d - 1)
        if k:
            state = unpack_state(head.get("q"), stream.sections, {"za": (k, n_patches), "zb": (d - k, n_patches)})
            state = {"z": np.concatenate([state["za"], state["zb"]])}
        else:
            state = unpack_state(head.get("q"), stream.sections, {"z": (d, n_patches)})
        wl = decode_scene_header(stream)["wavelengths"]
        if wl is None and base.id == "archive":
            from .meta_siren_shared import archive_wavelengths

            wl = archive_wavelengths(base.sha256, bands)
        if wl is None:
            wl = default_wavelengths(bands)
        model = self._model(base, device)
        layout = SceneLayout.build(height, width, p, cfg.pitch, device)
        latents = torch.from_numpy(np.ascontiguousarray(state["z"].T)).to(device)
        with torch.inference_mode():
            spectral = model.spectral(torch.as_tensor(np.asarray(wl, dtype=np.float32), device=device))
            values = render_scene(model, layout, latents, spectral).cpu().numpy()
        with np.errstate(over="ignore", invalid="ignore"):
            return norm.denormalise(values.T).reshape(shape)
