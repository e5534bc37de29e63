"""Meta-learning the modulated SIREN (after COIN++): inner SGD on latents from zero, outer Adam.

One outer step: draw a batch of patches (one patch size and one scene per
batch, so every patch in it has the same band set), start every patch's
latent at zero, take ``inner_steps`` SGD steps on the latents alone
(per-dimension rates, meta-learned as in Meta-SGD; initial value
``inner_lr``), and update the shared weights (SIREN, latent -> shift map,
spectral head, inner rates) with Adam on the loss after the inner steps,
differentiating through them (second order).

Scenes of any band count and wavelength set mix in one corpus: each scene
is normalised per band with its own statistics and carries its wavelengths,
which the spectral head turns into the output layer.

:func:`train` is the program: progress bar, a checkpoint (safetensors:
weights, Adam state, config, step, history) every ``checkpoint_every``
steps and at the end, resumable, CPU or CUDA; Ctrl-C stops it cleanly after
saving. :func:`fit_latents` is what the codec runs to encode a scene.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .network import MetaSiren, MetaSirenConfig
from .tiles import BandNorm, local_coords, patch_layout


# ---------------------------------------------------------------------- data
@dataclass
class TrainScene:
    """One scene of the corpus, normalised; ``allowed`` (H, W) marks the pixels training may use."""

    values: np.ndarray  # (B, H, W) float32, normalised
    wavelengths: np.ndarray  # (B,) nm
    allowed: np.ndarray  # (H, W) bool
    name: str = ""
    _integral: np.ndarray | None = None
    _positions: dict = field(default_factory=dict)

    @classmethod
    def from_array(cls, values: np.ndarray, wavelengths=None, allowed: np.ndarray | None = None, name: str = ""):
        """``values`` (B, H, W) in any scale; statistics come from the allowed pixels only."""
        values = np.asarray(values, dtype=np.float32)
        bands, height, width = values.shape
        allowed = np.ones((height, width), bool) if allowed is None else np.asarray(allowed, dtype=bool)
        if wavelengths is None:
            wavelengths = default_wavelengths(bands)
        norm = BandNorm.fit(values.reshape(bands, -1), allowed.reshape(-1))
        return cls(norm.normalise(values), np.asarray(wavelengths, dtype=np.float32), allowed, name)

    def positions(self, patch: int) -> np.ndarray:
        """(K, 2) top-left corners of the patch x patch windows lying wholly in ``allowed``."""
        if patch not in self._positions:
            if self._integral is None:
                self._integral = np.pad(self.allowed.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
            s = self._integral
            inside = s[patch:, patch:] - s[:-patch, patch:] - s[patch:, :-patch] + s[:-patch, :-patch]
            self._positions[patch] = np.argwhere(inside == patch * patch)
        return self._positions[patch]


def default_wavelengths(bands: int) -> np.ndarray:
    """Wavelengths assumed for a scene that has none: evenly over AVIRIS' 400-2500 nm."""
    return np.linspace(400.0, 2500.0, bands, dtype=np.float32) if bands > 1 else np.array([1000.0], np.float32)


class PatchSampler:
    """Random patches (with the 8 flips/rotations) from a corpus of :class:`TrainScene`."""

    def __init__(self, scenes: list[TrainScene], seed: int = 0):
        if not scenes:
            raise ValueError("the corpus is empty")
        self.scenes = scenes
        self.rng = np.random.default_rng(seed)
        self.weights = np.array([s.allowed.sum() for s in scenes], dtype=np.float64)
        self.weights /= self.weights.sum()

    def sample(self, batch: int, patch: int) -> tuple[np.ndarray, np.ndarray]:
        """(batch, patch * patch, B) normalised values and the scene's (B,) wavelengths."""
        for _ in range(100):
            scene = self.scenes[self.rng.choice(len(self.scenes), p=self.weights)]
            pos = scene.positions(patch)
            if len(pos):
                break
        else:
            raise ValueError(f"no scene has a {patch} x {patch} window of allowed pixels")
        picks = pos[self.rng.integers(0, len(pos), batch)]
        out = np.empty((batch, patch, patch, scene.values.shape[0]), np.float32)
        for i, (y, x) in enumerate(picks):
            tile = scene.values[:, y : y + patch, x : x + patch]
            k = int(self.rng.integers(0, 4))
            tile = np.rot90(tile, k, axes=(1, 2))
            if self.rng.integers(0, 2):
                tile = tile[:, :, ::-1]
            out[i] = tile.transpose(1, 2, 0)
        return out.reshape(batch, patch * patch, -1), scene.wavelengths


# ---------------------------------------------------------------------- inner loop
def inner_loop(model: MetaSiren, loss_fn, latents: torch.Tensor, steps: int, create_graph: bool) -> torch.Tensor:
    """``steps`` SGD steps on ``latents`` (per-dimension meta-learned rates); differentiable if asked."""
    lr = model.lr() if create_graph else model.lr().detach()
    for _ in range(steps):
        with torch.enable_grad():
            if not latents.requires_grad:
                latents = latents.detach().requires_grad_()
            loss = loss_fn(latents)
            (grad,) = torch.autograd.grad(loss, latents, create_graph=create_graph)
        latents = latents - lr * grad
        if not create_graph:
            latents = latents.detach()
    return latents


def batch_loss(model: MetaSiren, coords: torch.Tensor, target: torch.Tensor, spectral: torch.Tensor):
    """Loss for same-size patches: sum over patches of each patch's MSE (each latent's own problem)."""

    def loss(latents):
        pred = model.render(coords, model.shifts(latents)[:, None], spectral)
        return ((pred - target) ** 2).mean(dim=(1, 2)).sum()

    return loss


@dataclass
class SceneLayout:
    """A whole scene cut into patches: what :func:`fit_latents` and the decoder need."""

    coords: torch.Tensor  # (N, 2)
    index: torch.Tensor  # (N,) patch of each pixel
    sizes: np.ndarray  # (P,) pixels per patch
    patches: int

    @classmethod
    def build(cls, height: int, width: int, patch: int, pitch: float, device="cpu") -> SceneLayout:
        coords, index, sizes = patch_layout(height, width, patch, pitch)
        return cls(torch.from_numpy(coords).to(device), torch.from_numpy(index).to(device), sizes, len(sizes))


def render_scene(model: MetaSiren, layout: SceneLayout, latents: torch.Tensor, spectral: torch.Tensor,
                 chunk: int = 65536) -> torch.Tensor:
    """(N, B) normalised values of every pixel from the patches' latents."""
    shifts = model.shifts(latents)
    out = []
    for s in range(0, layout.coords.shape[0], chunk):
        out.append(model.render(layout.coords[s : s + chunk], shifts[layout.index[s : s + chunk]], spectral))
    return torch.cat(out)


def fit_latents(model: MetaSiren, layout: SceneLayout, target: torch.Tensor, spectral: torch.Tensor,
                steps: int) -> torch.Tensor:
    """Encode: ``steps`` inner steps from zero on every patch of a scene at once; (P, D) latents.

    The loss is the per-patch MSE over all B bands, computed exactly but cheaply in the F-dimensional
    feature space: with ``W`` the (B, F) spectral weights, ``G = W^T W = L L^T`` and ``y`` the target
    minus the spectral bias, ``|f W^T - y|^2 = |f L - y W L^-T|^2 + |y - proj_W y|^2``; the last term
    does not depend on the latents, so the gradients are those of the full MSE at F x F cost per pixel.
    """
    n, bands = target.shape
    feats = model.cfg.features
    with torch.no_grad():
        w = spectral[:, :feats].detach().double()
        gram = w.T @ w
        gram += torch.eye(feats, dtype=gram.dtype, device=gram.device) * (1e-9 * float(gram.trace()) + 1e-12)
        chol = torch.linalg.cholesky(gram)  # G = L L^T
        proj = torch.linalg.solve_triangular(chol, w.T, upper=False).T  # W L^-T, (B, F)
        goal = (target - spectral[:, feats]).double() @ proj  # (N, F)
        chol, goal = chol.to(target.dtype), goal.to(target.dtype)
    weight = 1.0 / (torch.from_numpy(layout.sizes).to(target)[layout.index] * bands)  # (N,)

    def loss(latents):
        f = model.features(layout.coords, model.shifts(latents)[layout.index])
        return (((f @ chol - goal) ** 2).sum(dim=1) * weight).sum()

    start = torch.zeros(layout.patches, model.cfg.latent_dim, device=target.device, dtype=target.dtype)
    return inner_loop(model, loss, start, steps, create_graph=False)


# ---------------------------------------------------------------------- training program
@dataclass
class TrainConfig:
    steps: int = 2000
    batch_pixels: int = 3072  # pixels per outer step (patches = batch_pixels // patch**2)
    lr: float = 3e-4  # outer Adam
    final_lr: float = 0.1  # cosine decay to lr * final_lr
    max_seconds: float | None = None
    checkpoint_every: int = 200
    seed: int = 0
    log_every: int = 25


def _save_checkpoint(path: Path, model: MetaSiren, opt: torch.optim.Adam, step: int, history: list, train: TrainConfig):
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    names = dict(model.named_parameters())
    index = {id(p): n for n, p in names.items()}
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p)
            if st:
                n = index[id(p)]
                tensors[f"adam.{n}.m"] = st["exp_avg"].detach().cpu().contiguous()
                tensors[f"adam.{n}.v"] = st["exp_avg_sq"].detach().cpu().contiguous()
                tensors[f"adam.{n}.t"] = torch.as_tensor(float(st["step"])).reshape(1)
    meta = {"format": "torchgeo_inr.meta_siren.checkpoint", "config": model.cfg.to_json(), "step": str(step),
            "train": json.dumps(asdict(train)), "history": json.dumps(history[-2000:])}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)


def load_checkpoint(path: str | Path, device="cpu"):
    """(model, adam state by parameter name, step, history) from a checkpoint written by :func:`train`."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if meta.get("format") != "torchgeo_inr.meta_siren.checkpoint":
        raise ValueError(f"{path} is not a meta-siren checkpoint")
    model = MetaSiren(MetaSirenConfig.from_json(meta["config"]))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    adam = {k[5:]: v for k, v in tensors.items() if k.startswith("adam.")}
    return model.to(device), adam, int(meta["step"]), json.loads(meta.get("history", "[]"))


def train(
    corpus: list[TrainScene],
    cfg: MetaSirenConfig | None = None,
    train_cfg: TrainConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    resume: bool = True,
    device=None,
    progress: bool = True,
) -> tuple[MetaSiren, list[dict]]:
    """Meta-train a base network on ``corpus``; returns it and the loss history (one entry per log)."""
    from ..device import resolve_device
    from ..training import train as run_steps

    cfg = cfg or MetaSirenConfig()
    tc = train_cfg or TrainConfig()
    device = resolve_device(device)
    torch.manual_seed(tc.seed)
    model = MetaSiren(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr)
    start_step, history = 0, []
    ckpt = Path(out_dir) / "checkpoint.safetensors" if out_dir is not None else None
    if ckpt is not None:
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        if resume and ckpt.exists():
            loaded, adam, start_step, history = load_checkpoint(ckpt, device)
            if loaded.cfg != cfg:
                raise ValueError(f"{ckpt} was trained with another config; remove it or pass resume=False")
            model.load_state_dict(loaded.state_dict())
            for n, p in model.named_parameters():
                if f"{n}.m" in adam:
                    opt.state[p] = {"exp_avg": adam[f"{n}.m"].to(device), "exp_avg_sq": adam[f"{n}.v"].to(device),
                                    "step": torch.tensor(float(adam[f"{n}.t"][0]))}
    sampler = PatchSampler(corpus, seed=tc.seed + start_step)
    rng = np.random.default_rng(tc.seed + 1 + start_step)
    coords_by_size = {p: torch.from_numpy(local_coords(p, p, cfg.pitch)).to(device) for p in cfg.patch_sizes}
    t0 = time.perf_counter()
    running, running_gain, batch_var = [], [], [1.0]

    def step_loss(step: int) -> torch.Tensor:
        patch = int(rng.choice(cfg.patch_sizes))
        n = max(1, tc.batch_pixels // (patch * patch))  # same pixels per step whatever the patch size
        values, wl = sampler.sample(n, patch)
        target = torch.from_numpy(values).to(device)
        spectral = model.spectral(torch.from_numpy(wl).to(device))
        coords = coords_by_size[patch]
        lat0 = torch.zeros(n, cfg.latent_dim, device=device, requires_grad=True)
        lat = inner_loop(model, batch_loss(model, coords, target, spectral), lat0, cfg.inner_steps, True)
        pred = model.render(coords, model.shifts(lat)[:, None], spectral)
        batch_var[0] = float(target.var())
        return torch.mean((pred - target) ** 2)

    def after_step(step: int, loss: torch.Tensor) -> dict | None:
        mse = float(loss)
        running.append(mse)
        running_gain.append(10 * math.log10(max(batch_var[0], 1e-12) / max(mse, 1e-12)))
        if ckpt is not None and step % tc.checkpoint_every == 0:
            _save_checkpoint(ckpt, model, opt, step, history, tc)
        if step % tc.log_every == 0 or step == tc.steps:
            entry = {"step": step, "mse": float(np.mean(running)), "gain_db": float(np.mean(running_gain)),
                     "inner_lr": float(model.lr().detach().mean()), "seconds": round(time.perf_counter() - t0, 1)}
            history.append(entry)
            running.clear()
            running_gain.clear()
            return {"mse": f"{entry['mse']:.4g}", "gain": f"{entry['gain_db']:.2f} dB"}
        return None

    result = run_steps(model.parameters(), step_loss, steps=tc.steps, lr=tc.lr, final_lr=tc.final_lr,
                       after_step=after_step, max_seconds=tc.max_seconds, clip_grad=1.0, start_step=start_step,
                       optimizer=opt, progress=progress, desc="meta-train")
    if ckpt is not None:
        _save_checkpoint(ckpt, model, opt, start_step + result.steps, history, tc)
    return model, history
