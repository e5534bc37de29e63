"""``hiner``: the scene as a HINER network, fitted, quantised and entropy-coded.

Three modes (``mode=``), all in one container:

- ``"latent"`` (the default): a spectral basis and entropy-coded latent
  grids trained for rate and distortion (:mod:`torchgeo_inr.hiner.latent`,
  stream and rate control in :mod:`torchgeo_inr.codecs.hiner_latent`).
  Plain HINER keeps spatial detail in convolution weights and stays 4-5 dB
  below PCA + JPEG2000 on Indian Pines; this mode closes most of that gap.
- ``"plain"`` (also ``spectral_basis=0``; the public HINER): one frame per band; each band's
  wavelength (or its normalised index) is positionally encoded and mapped by
  an MLP to its embedding; the decoder turns the embedding into the band,
  min-max normalised per band (lo, span in the stream).
- ``"basis"`` (``spectral_basis=k`` components, ``"auto"``: k per rate): bands are
  divided by their peak, centred, and projected on their first k principal
  components; one embedding is decoded into the k component images at once,
  and a spectral basis (initialised by PCA, fitted jointly with the network)
  maps them back to the bands. The loss is taken on the bands either way.

What a plain or basis stream holds (all counted in the rate): the architecture as header
numbers; the embeddings, the decoder's weights and (basis mode) the basis,
each quantised per channel (affine, N bits) and ANS-coded
(:mod:`torchgeo_inr.quantize`, :mod:`torchgeo_inr.entropy`); normalisation
constants. Padding (the decoder's output is a multiple of its stride) is
cropped before every loss and on decode; it costs no bytes.

Rate control (plain, basis): the network's size is chosen from the byte budget with a
parameter-count model, fitted, fine-tuned with fake quantisation, and the bit
widths are then searched on the real stream until it lies in
[target.min_bytes, target.max_bytes]; if no bit width fits, a smaller
network is fitted.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from .. import bitstream
from ..errors import RateError
from ..ratecontrol import Target
from ..scene import Scene
from .base import Codec, Finish
from ..packing import pack_array

MIN_BITS, MAX_BITS = 4, 12
#: Default seconds of fitting on the CPU, and on CUDA (fitting + fine-tune).
CPU_SECONDS, CUDA_SECONDS = 360.0, 120.0
#: The latent mode's defaults: seconds of training (CPU, CUDA), step cap, synthesis weight bits.
LATENT_CPU_SECONDS, LATENT_CUDA_SECONDS, LATENT_STEPS, LATENT_WEIGHT_BITS = 480.0, 60.0, 20000, 8
MODES = ("latent", "basis", "plain")


def _resolve_device(device):
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _f16_down(x: np.ndarray) -> np.ndarray:
    out = x.astype(np.float16)
    high = out.astype(np.float64) > x
    out[high] = np.nextafter(out[high], np.array(-np.inf, dtype=np.float16))
    return out


def _f16_up(x: np.ndarray) -> np.ndarray:
    out = x.astype(np.float16)
    low = out.astype(np.float64) < x
    out[low] = np.nextafter(out[low], np.array(np.inf, dtype=np.float16))
    return out


def auto_components(bpppb: float, bands: int) -> int:
    """Spectral basis size per rate (more components as the budget grows)."""
    return int(max(1, min(bands, round(12 * bpppb**0.35))))


class HINERCodec(Codec):
    """HINER fitted per scene, quantised and ANS-coded; ``mode`` picks latent (default), basis or plain."""

    name = "hiner"
    libraries = ("torch", "torchgeo_inr.codecs.hiner_latent", "torchgeo_inr.hiner.render")
    version = 1

    def __init__(
        self,
        *,
        mode: str | None = None,
        max_seconds: float | None = None,
        steps: int | None = None,
        lr: float = 2e-3,
        gamma: float = 0.01,
        sam_weight: float = 0.0,
        fidelity: str = "l1",
        spectral_basis: int | str | None = "auto",
        learn_basis: bool = True,
        batch_bands: int = 16,
        weight_bits: int | None = None,
        embed_bits: int = 6,
        qat_fraction: float = 0.15,
        patience: int = 12,
        seed: int = 0,
        fc_dim: int | None = None,
        embed_ch: int | None = None,
        lower_width: int = 12,
        reduce: float = 1.2,
        cells: int = 1,
        ks_last: int = 5,
        embed_share: float | None = None,
        latent_lr: float | None = None,
    ):
        from ..hiner.loss import FIDELITY

        if fidelity not in FIDELITY:
            raise ValueError(f"fidelity must be one of {FIDELITY}")
        if not (spectral_basis in (None, "auto") or (isinstance(spectral_basis, int) and spectral_basis >= 0)):
            raise ValueError("spectral_basis must be 'auto', None/0 (plain HINER) or a number of components")
        if mode is None:
            mode = "plain" if spectral_basis in (None, 0) else "latent"
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if mode == "basis" and spectral_basis in (None, 0):
            raise ValueError("basis mode needs spectral_basis='auto' or a number of components")
        self.mode = mode
        self.max_seconds = max_seconds
        self.steps = int(steps if steps is not None else (LATENT_STEPS if mode == "latent" else 6000))
        self.lr = float(lr)
        self.gamma = float(gamma)
        self.sam_weight = float(sam_weight)
        self.fidelity = fidelity
        self.spectral_basis = spectral_basis
        self.learn_basis = bool(learn_basis)
        self.batch_bands = int(batch_bands)
        self.weight_bits = int(weight_bits if weight_bits is not None else (LATENT_WEIGHT_BITS if mode == "latent" else 6))
        self.embed_bits = int(embed_bits)
        self.qat_fraction = float(qat_fraction)
        self.patience = int(patience)
        self.seed = int(seed)
        self.fc_dim = fc_dim
        self.embed_ch = embed_ch
        self.lower_width = int(lower_width)
        self.reduce = float(reduce)
        self.cells = int(cells)
        self.ks_last = int(ks_last)
        self.embed_share = embed_share
        self.latent_lr = latent_lr
        #: What the last encode did (sizes, bits, fit results, seconds), for reports.
        self.last_report: dict = {}

    # ------------------------------------------------------------------ encode
    def _encode_latent(self, scene: Scene, target: Target, finish: Finish, device, progress: bool) -> bytes:
        from dataclasses import replace as with_fields

        from ..hiner.latent import auto_config
        from .hiner_latent import encode_latent

        seconds = self.max_seconds
        if seconds is None:
            seconds = LATENT_CUDA_SECONDS if device.type == "cuda" else LATENT_CPU_SECONDS
        cfg = auto_config(target.bpppb, *scene.shape)
        if isinstance(self.spectral_basis, int) and self.spectral_basis > 0:
            cfg = with_fields(cfg, components=min(self.spectral_basis, scene.bands, scene.height * scene.width))
        self.last_report = {}
        return encode_latent(
            scene, target, finish, cfg=cfg, seconds=float(seconds), steps=self.steps,
            weight_bits=self.weight_bits, seed=self.seed, lr_latent=self.latent_lr,
            device=device, progress=progress, report=self.last_report,
        )

    def _components(self, scene: Scene, target: Target) -> int:
        if self.mode == "plain":
            return 0
        limit = min(scene.bands, scene.height * scene.width)
        if self.spectral_basis == "auto":
            return min(limit, auto_components(target.bpppb, scene.bands))
        return min(limit, int(self.spectral_basis))

    def _encode(self, scene: Scene, target: Target, finish: Finish, *, device, progress) -> bytes:
        import torch

        if target.bpppb is None:
            raise RateError("hiner supports bpppb targets only")
        device = _resolve_device(device)
        if self.mode == "latent":
            return self._encode_latent(scene, target, finish, device, progress)
        budget = (CUDA_SECONDS if device.type == "cuda" else CPU_SECONDS) if self.max_seconds is None else float(
            self.max_seconds
        )
        t0 = time.perf_counter()
        torch.manual_seed(self.seed)
        np.random.seed(self.seed)
        k = self._components(scene, target)
        prep = _BasisData(scene, k, device, self.learn_basis) if k else _PlainData(scene, device)
        strides, eh, ew = _choose_geometry(scene.height, scene.width, self.cells)
        from ..hiner.config import HinerConfig, size_for_budget

        base = HinerConfig(
            frames=prep.frames,
            out_channels=prep.out_channels,
            embed_ch=self.embed_ch or 16,
            embed_h=eh,
            embed_w=ew,
            strides=strides,
            fc_dim=self.fc_dim or self.lower_width,
            reduce=self.reduce,
            lower_width=self.lower_width,
            ks_last=self.ks_last,
        )
        side_header = {"mode": prep.mode, "arch": base.to_header()}
        overhead = len(finish(side_header, prep.side_sections())) + 60 * 12 + 40
        report = {"mode": prep.mode, "components": k, "device": str(device), "attempts": []}
        self.last_report = report
        scale = 1.0
        for attempt in range(3):
            cfg = base
            if self.fc_dim is None or self.embed_ch is None:
                sized = size_for_budget(
                    base, scale * target.max_bytes, self.weight_bits, self.embed_bits, overhead,
                    embed_share=self.embed_share or (0.3 if prep.frames > 1 else 0.15),
                )
                cfg = replace(
                    sized,
                    fc_dim=self.fc_dim or sized.fc_dim,
                    embed_ch=self.embed_ch or sized.embed_ch,
                )
            left = budget - (time.perf_counter() - t0)
            model = prep.model(cfg, seed=self.seed + attempt)
            fit_info = self._fit(prep, model, max(left, 1.0), device, progress)
            stream, bits = self._fit_rate(prep, model, target, finish)
            entry = {"config": cfg.to_header(), "decoder_params": cfg.decoder_params(),
                     "embed_values": cfg.embed_values(), **fit_info}
            report["attempts"].append(entry)
            if stream is not None:
                entry.update(bytes=len(stream), bits=bits)
                report.update(bytes=len(stream), bits=bits, seconds=time.perf_counter() - t0)
                return stream
            smallest = bits  # when nothing fits, _fit_rate gives the smallest size instead of the bits
            entry.update(smallest_bytes=smallest)
            if self.fc_dim is not None and self.embed_ch is not None:
                break
            scale *= 0.8 * target.max_bytes / smallest
        raise RateError(f"hiner could not fit {target.max_bytes} bytes", smallest=int(smallest))

    def _fit(self, prep, model, seconds: float, device, progress: bool) -> dict:
        import torch

        from ..hiner.fit import fit
        from ..hiner.loss import HinerLoss

        loss = HinerLoss(self.gamma, self.sam_weight, self.fidelity)
        model.to(device)
        rng = torch.Generator().manual_seed(self.seed)
        batch = prep.batch(self.batch_bands)

        def step_loss(step: int, quant=None):
            idx = batch(step, rng)
            pred, truth = prep.predict(model, idx, quant)
            return loss(pred, truth)

        main = fit(
            list(model.parameters()), step_loss, lambda: prep.psnr(model),
            steps=self.steps, lr=self.lr, max_seconds=seconds * (1 - self.qat_fraction),
            patience=self.patience, eval_every=prep.eval_every(self.batch_bands),
            device=device, progress=progress, desc="hiner fit",
        )
        model.freeze_embeddings()
        model.to(device)
        info = {"fit_steps": main.steps, "fit_seconds": round(main.seconds, 1), "fit_psnr": round(main.best_score, 3),
                "fit_stopped": main.stopped}
        if main.stopped == "interrupted" or self.qat_fraction <= 0:
            return info
        bits = {name: (self.embed_bits if name == "embed" else self.weight_bits) for name in prep.stored(model)}
        qat = fit(
            list(model.parameters()) + prep.extra_params(model),
            lambda s: step_loss(s, bits), lambda: prep.psnr(model, bits),
            steps=max(20, self.steps // 8), lr=self.lr * 0.1, max_seconds=seconds * self.qat_fraction,
            patience=self.patience, eval_every=prep.eval_every(self.batch_bands), warmup=0.0,
            device=device, progress=progress, desc="hiner QAT",
        )
        info.update(qat_steps=qat.steps, qat_seconds=round(qat.seconds, 1), qat_psnr=round(qat.best_score, 3))
        return info

    def _fit_rate(self, prep, model, target: Target, finish: Finish):
        """The stream with the most bits that fits; (None, smallest size) when none fits."""
        from ..quantize import pack_state

        state = {k: v.detach().float().cpu().numpy() for k, v in prep.stored(model).items()}
        names = sorted(state, key=lambda n: -state[n].size)

        def make(bits):
            qhead, qsections = pack_state(state, bits)
            header = {"mode": prep.mode, "arch": model.cfg.to_header(), "q": qhead}
            return finish(header, {**prep.side_sections(), **qsections})

        chosen = None
        for b in range(MAX_BITS, MIN_BITS - 1, -1):
            bits = {n: b for n in state}
            stream = make(bits)
            if len(stream) <= target.max_bytes:
                chosen = (stream, bits)
                break
        if chosen is None:
            return None, len(stream)
        stream, bits = chosen
        if len(stream) >= target.min_bytes or bits[names[0]] == MAX_BITS:
            return stream, bits
        for name in names:  # spend what is left: one more bit, largest tensors first
            trial = {**bits, name: bits[name] + 1}
            s = make(trial)
            if len(s) <= target.max_bytes:
                stream, bits = s, trial
        return stream, bits

    # ------------------------------------------------------------------ decode
    def _decode(self, stream: bitstream.Stream, shape, *, device) -> np.ndarray:
        from ..hiner.render import HinerRenderer

        return HinerRenderer.from_stream(stream, shape, device).render().cpu().numpy()


def _choose_geometry(height: int, width: int, cells: int):
    from ..hiner.config import choose_strides

    return choose_strides(height, width, cells)


# ---------------------------------------------------------------------- data
class _PlainData:
    """Plain HINER: one frame per band, each band min-max normalised."""

    mode = "plain"
    out_channels = 1

    def __init__(self, scene: Scene, device):
        import torch

        flat = scene.data.reshape(scene.bands, -1).astype(np.float64)
        self.lo16 = _f16_down(flat.min(axis=1))
        lo = self.lo16.astype(np.float64)
        self.span16 = _f16_up(np.maximum(flat.max(axis=1) - lo, 1e-3))
        span = self.span16.astype(np.float64)
        self.frames = scene.bands
        self.h, self.w = scene.height, scene.width
        norm = (scene.data - lo[:, None, None]) / span[:, None, None]
        self.x = torch.from_numpy(norm.astype(np.float32)).to(device)
        peak = np.abs(flat).max(axis=1)
        # per-band PSNR (original scale) from normalised MSE: 10 log10(peak^2 / (span^2 mse))
        self.psnr_offset = torch.from_numpy(10 * np.log10(np.maximum(peak, 1e-12) ** 2 / span**2)).to(device)
        if scene.wavelengths is not None and np.ptp(scene.wavelengths) > 0:
            wl = scene.wavelengths
            pos = (wl - wl.min()) / np.ptp(wl)
        else:
            pos = np.arange(scene.bands) / max(1, scene.bands - 1)
        self.positions = torch.tensor(pos, dtype=torch.float32)

    def side_sections(self) -> dict[str, bytes]:
        return {"lo": pack_array(self.lo16, "f2"), "span": pack_array(self.span16, "f2")}

    def model(self, cfg, seed: int):
        import torch

        from ..hiner.network import HINER

        torch.manual_seed(seed)
        return HINER(cfg, self.positions)

    def stored(self, model):
        return model.stored_state()

    def extra_params(self, model):
        return []

    def eval_every(self, batch: int) -> int:
        return max(10, 4 * math.ceil(self.frames / batch))

    def batch(self, size: int):
        import torch

        size = min(size, self.frames)
        state = {"perm": None, "pos": 0}

        def pick(step, rng):
            if state["perm"] is None or state["pos"] + size > self.frames:
                state["perm"], state["pos"] = torch.randperm(self.frames, generator=rng), 0
            idx = state["perm"][state["pos"] : state["pos"] + size]
            state["pos"] += size
            return idx.to(self.x.device)

        return pick

    def _forward(self, model, idx, quant):
        import torch

        from ..quantize import fake_quant

        if quant is None:
            return model(idx)
        params = {k: fake_quant(v, quant[f"dec.{k}"]) for k, v in model.decoder.named_parameters()}
        emb = fake_quant(model.table, quant["embed"])
        emb = emb if idx is None else emb[idx]
        return torch.func.functional_call(model.decoder, params, (emb,))

    def predict(self, model, idx, quant=None):
        pred = self._forward(model, idx, quant)[:, 0, : self.h, : self.w]
        return pred, self.x if idx is None else self.x[idx]

    def psnr(self, model, quant=None) -> float:
        import torch

        mses = []
        for s in range(0, self.frames, 32):
            idx = torch.arange(s, min(self.frames, s + 32), device=self.x.device)
            pred, truth = self.predict(model, idx, quant)
            mses.append((pred.float() - truth).square().mean(dim=(1, 2)))
        mse = torch.cat(mses).clamp_min(1e-15)
        return float((self.psnr_offset - 10 * torch.log10(mse.double())).mean())


class _BasisData:
    """HINER on a spectral basis: bands / peak, centred, k component images decoded at once."""

    mode = "basis"
    frames = 1

    def __init__(self, scene: Scene, k: int, device, learn: bool = True):
        import torch

        from ..hiner.spectral import peak_normalise, principal_basis

        bands = scene.bands
        self.log2_scale, self.mean16, xc = peak_normalise(scene.data)
        scale = np.exp2(self.log2_scale.astype(np.float64))
        xs = xc + self.mean16.astype(np.float64)[:, None]
        peak = np.abs(scene.data.reshape(bands, -1)).max(axis=1).astype(np.float64)
        basis = principal_basis(xc, k).T  # (B, k)
        comps = basis.T @ xc
        lo, hi = comps.min(axis=1), comps.max(axis=1)
        margin = 0.02 * (hi - lo) + 1e-9
        self.clo = (lo - margin).astype(np.float32)
        self.cspan = (hi - lo + 2 * margin).astype(np.float32)
        self.k, self.bands, self.h, self.w = k, bands, scene.height, scene.width
        self.out_channels = k
        self.xs = torch.from_numpy(xs.reshape(bands, self.h, self.w).astype(np.float32)).to(device)
        self.basis0 = torch.from_numpy(basis.T.astype(np.float32))  # (k, B)
        self.mean_t = torch.from_numpy(self.mean16.astype(np.float32)).to(device)
        self.clo_t = torch.from_numpy(self.clo).to(device)
        self.cspan_t = torch.from_numpy(self.cspan).to(device)
        self.psnr_offset = torch.from_numpy(20 * np.log10(np.maximum(peak, 1e-12) / scale)).to(device)
        self.learn = learn

    def side_sections(self) -> dict[str, bytes]:
        return {
            "scale": pack_array(self.log2_scale, "f2"),
            "mean": pack_array(self.mean16, "f2"),
            "clo": pack_array(self.clo, "f4"),
            "cspan": pack_array(self.cspan, "f4"),
        }

    def model(self, cfg, seed: int):
        import torch

        from ..hiner.network import HINER

        torch.manual_seed(seed)
        model = HINER(cfg, torch.zeros(1))
        model.basis = torch.nn.Parameter(self.basis0.clone(), requires_grad=self.learn)
        return model

    def stored(self, model):
        return {**model.stored_state(), "basis": model.basis}

    def extra_params(self, model):
        return []

    def eval_every(self, batch: int) -> int:
        return 25

    def batch(self, size: int):
        return lambda step, rng: None

    def predict(self, model, idx=None, quant=None):
        import torch

        from ..quantize import fake_quant

        if quant is None:
            y = model()
            basis = model.basis
        else:
            params = {k: fake_quant(v, quant[f"dec.{k}"]) for k, v in model.decoder.named_parameters()}
            emb = fake_quant(model.table, quant["embed"])
            y = torch.func.functional_call(model.decoder, params, (emb,))
            basis = fake_quant(model.basis, quant["basis"])
        comps = self.clo_t[:, None] + self.cspan_t[:, None] * y[0, :, : self.h, : self.w].float().reshape(self.k, -1)
        xs_hat = basis.float().T @ comps + self.mean_t[:, None]
        return xs_hat.reshape(self.bands, self.h, self.w), self.xs

    def psnr(self, model, quant=None) -> float:
        pred, truth = self.predict(model, None, quant)
        mse = (pred - truth).square().mean(dim=(1, 2)).clamp_min(1e-15)
        import torch

        return float((self.psnr_offset - 10 * torch.log10(mse.double())).mean())
