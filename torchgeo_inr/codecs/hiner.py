"""``hiner``: HINER as published (Shi et al., ACM MM 2024; public code Eric-qi/HINER), fitted per scene.

One frame per band: each band's wavelength (or its normalised index) is
positionally encoded and mapped by an MLP to its embedding; a convolution +
PixelShuffle decoder turns the embedding into the band, min-max normalised
per band. The stream (:mod:`torchgeo_inr.codecs.hiner_stream`, version 2)
holds the architecture as header numbers, the embedding table and the
decoder's weights quantised per channel and ANS-coded, and each band's
range; the MLP is not stored (the table costs less). Padding (the decoder's
output is a multiple of its stride) is cropped before every loss and on
decode; it costs no bytes.

Fitting: :func:`torchgeo_inr.training.train` (a step budget, the best state
by per-band PSNR, early stop when it stalls), then quantisation-aware
fine-tuning. Rate: the network's size is chosen from the byte budget with a
parameter-count model; after fitting, the bit widths are searched on the real
stream (:func:`~torchgeo_inr.ratecontrol.fit_bytes`) and a spare byte budget
is spent one bit at a time, largest tensors first; if nothing fits, a
smaller network is fitted.

Version 1 streams (modes plain, basis and latent) still decode; the latent
mode is now the ``latent-grid`` codec.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from .. import bitstream
from ..codec import Finish
from ..errors import RateError
from ..ratecontrol import Target, fit_bytes
from ..scene import Scene
from .torch_codec import TorchCodec

MIN_BITS, MAX_BITS = 4, 12
#: Steps of the main fit (the quantisation-aware fine-tune runs an eighth of that more).
STEPS = 6000


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


class HINERCodec(TorchCodec):
    """HINER fitted per scene, quantised and ANS-coded."""

    name = "hiner"
    libraries = ("torch", "torchgeo_inr.codecs.hiner_stream")
    version = 2
    trains = True
    renders_shifted_bands = True

    def __init__(
        self,
        *,
        steps: int = STEPS,
        max_seconds: float | None = None,
        lr: float = 2e-3,
        gamma: float = 0.01,
        sam_weight: float = 0.0,
        fidelity: str = "l1",
        batch_bands: int = 16,
        weight_bits: int = 6,
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
        threads: int | None = None,
    ):
        """``steps``: the main fit's budget (reproducible); ``max_seconds``: an optional wall-clock cap.
        ``gamma``: CAM weight (HINER's 0.01); ``fc_dim``/``embed_ch`` fix the network instead of sizing it
        from the budget; ``qat_fraction``: the fine-tune's share of steps (0 skips it)."""
        from ..hiner.loss import FIDELITY

        if fidelity not in FIDELITY:
            raise ValueError(f"fidelity must be one of {FIDELITY}")
        if int(steps) < 1:
            raise ValueError("steps must be at least 1")
        self.steps = int(steps)
        self.max_seconds = max_seconds
        self.lr = float(lr)
        self.gamma = float(gamma)
        self.sam_weight = float(sam_weight)
        self.fidelity = fidelity
        self.batch_bands = int(batch_bands)
        self.weight_bits = int(weight_bits)
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
        self.threads = threads

    # ------------------------------------------------------------------ encode
    def _encode_on(self, scene: Scene, target: Target, finish: Finish, device, progress: bool):
        import torch

        from ..hiner.config import HinerConfig, choose_strides, size_for_budget
        from .hiner_stream import band_sections, config_to_header

        t0 = time.perf_counter()
        torch.manual_seed(self.seed)
        np.random.seed(self.seed)
        prep = _PlainData(scene, device)
        bands_side = band_sections(prep.lo16, prep.span16)
        strides, eh, ew = choose_strides(scene.height, scene.width, self.cells)
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
        overhead = len(finish({"arch": config_to_header(base)}, bands_side)) + 60 * 12 + 40
        attempts, steps = [], 0
        scale = 1.0
        for attempt in range(3):
            cfg = base
            if self.fc_dim is None or self.embed_ch is None:
                sized = size_for_budget(
                    base, scale * target.max_bytes, self.weight_bits, self.embed_bits, overhead,
                    embed_share=self.embed_share or 0.3,
                )
                cfg = replace(sized, fc_dim=self.fc_dim or sized.fc_dim, embed_ch=self.embed_ch or sized.embed_ch)
            model = prep.model(cfg, seed=self.seed + attempt)
            fit_info = self._fit(prep, model, device, progress)
            steps += fit_info["steps"]
            stream, bits = self._fit_rate(prep, model, target, bands_side, finish)
            entry = {"fc_dim": cfg.fc_dim, "embed_ch": cfg.embed_ch, "decoder_params": cfg.decoder_params(),
                     "embed_values": cfg.embed_values(), **fit_info}
            attempts.append(entry)
            if stream is not None:
                entry.update(bytes=len(stream), bits=sorted(set(bits.values())))
                details = {"steps": steps, "stopped": fit_info["stopped"], "psnr_estimate": fit_info.get("psnr"),
                           "device": str(device), "networks": attempts, "fit_seconds": round(time.perf_counter() - t0, 2)}
                return stream, details
            smallest = bits  # when nothing fits, _fit_rate gives the smallest size instead of the bits
            entry.update(smallest_bytes=smallest)
            if (self.fc_dim is not None and self.embed_ch is not None) or fit_info["stopped"] == "interrupted":
                break
            scale *= 0.8 * target.max_bytes / smallest
        raise RateError(f"hiner could not fit {target.max_bytes} bytes", smallest=int(smallest))

    def _fit(self, prep, model, device, progress: bool) -> dict:
        import torch

        from ..hiner.loss import HinerLoss
        from ..training import train

        loss = HinerLoss(self.gamma, self.sam_weight, self.fidelity)
        model.to(device)
        rng = torch.Generator().manual_seed(self.seed)
        batch = prep.batch(self.batch_bands)
        amp = device.type == "cuda"

        def step_loss(step: int, quant=None):
            idx = batch(step, rng)
            pred, truth = prep.predict(model, idx, quant)
            return loss(pred, truth)

        main = train(
            list(model.parameters()), step_loss, evaluate=lambda: prep.psnr(model),
            steps=self.steps, lr=self.lr, warmup=0.05, final_lr=0.02, max_seconds=self.max_seconds,
            patience=self.patience, eval_every=prep.eval_every(self.batch_bands),
            amp=amp, progress=progress, desc="hiner fit",
        )
        model.freeze_embeddings()
        model.to(device)
        info = {"steps": main.steps, "stopped": main.stopped, "psnr": round(main.best_score, 3)}
        if main.stopped in ("interrupted", "time") or self.qat_fraction <= 0:
            return info
        bits = {name: (self.embed_bits if name == "embed" else self.weight_bits) for name in model.stored_state()}
        qat = train(
            list(model.parameters()),
            lambda s: step_loss(s, bits), evaluate=lambda: prep.psnr(model, bits),
            steps=max(20, int(self.steps * self.qat_fraction)), lr=self.lr * 0.1, final_lr=0.02,
            patience=self.patience, eval_every=prep.eval_every(self.batch_bands),
            amp=amp, progress=progress, desc="hiner QAT",
        )
        info.update(steps=main.steps + qat.steps, stopped=qat.stopped, psnr=round(qat.best_score, 3),
                    qat_steps=qat.steps)
        return info

    def _fit_rate(self, prep, model, target: Target, bands_side: dict, finish: Finish):
        """The stream with the most bits that fits; (None, smallest size) when none fits."""
        from .hiner_stream import write_stream

        state = {k: v.detach().float().cpu().numpy() for k, v in model.stored_state().items()}
        names = sorted(state, key=lambda n: -state[n].size)

        def make(bits: dict) -> bytes:
            return write_stream(model.cfg, state, bits, bands_side, finish)

        try:
            knob, stream = fit_bytes(lambda b: make({n: int(round(b)) for n in state}), MIN_BITS, MAX_BITS,
                                     target.max_bytes, close_enough=1.0, iterations=4)
        except RateError as err:
            return None, err.smallest
        bits = {n: int(round(knob)) for n in state}
        if len(stream) >= target.min_bytes or bits[names[0]] == MAX_BITS:
            return stream, bits
        for name in names:  # spend what is left: one more bit, largest tensors first
            trial = {**bits, name: bits[name] + 1}
            s = make(trial)
            if len(s) <= target.max_bytes:
                stream, bits = s, trial
        return stream, bits

    # ------------------------------------------------------------------ decode
    @classmethod
    def renderer(cls, stream: bitstream.Stream, device=None):
        from ..scene_header import decode_scene_header
        from .hiner_stream import read_renderer

        return read_renderer(stream, decode_scene_header(stream)["shape"], device)

    def _decode_on(self, stream: bitstream.Stream, shape, device) -> np.ndarray:
        from .hiner_stream import read_renderer

        return read_renderer(stream, shape, device).render().cpu().numpy()


class _PlainData:
    """The scene as HINER sees it: one frame per band, each band min-max normalised (float16 lo, span)."""

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

    def model(self, cfg, seed: int):
        import torch

        from ..hiner.network import HINER

        torch.manual_seed(seed)
        return HINER(cfg, self.positions)

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
