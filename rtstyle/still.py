"""`rtstyle still`: the full iterative method of Gatys, Ecker and Bethge (2016), over the pixels.

The image itself is optimized (float32, L-BFGS by default, Adam as an option) so that its VGG19
features match the photo's content and the style image's Gram matrices:

    loss = content_weight * content_rel + style_weight * style_rel + tv_weight * tv

with the same normalization as `train.py` and `rtstyle evaluate`: content_rel is the relu4_2
feature distance over the photo's own relu4_2 energy, style_rel the Gram distance (relu1_1 ..
relu5_1, `vgg.style_distance`) over the unstyled photo's Gram distance, tv the mean absolute
difference of neighbouring pixels (0..1 units). Both ratios start near 0 and 1, so the weights
are a trade-off that needs no rescaling per image, style or size.

Defaults: content 1, style 20, tv 0.01. Style 20 leaves the photo's objects clearly readable
(content_rel about 0.8) while the Gram distance falls to about 2% of the unstyled photo's
(tubingen + starry night, 384 px, 100 iterations); style 10 looks tamer (content_rel 0.7,
style_rel 0.028), 30 more painterly (content_rel 0.94, style_rel 0.017). L-BFGS: step 1, no line search (one VGG pass per iteration, as in Johnson's
neural-style), 20 correction pairs (10, 50 and 100 gave the same result; 20 keeps the state
under 200 MB at 1024 px).

Several styles are blended by one target Gram per layer, the weighted mean of the styles'
Grams. For weights that sum to 1 this has exactly the gradient of the weighted sum of per-style
losses (the two differ by a constant), at the cost of one.

Coarse to fine: the image is optimized at the smallest of `scales` (longer side in pixels;
automatically halving from `size` down to 256 or less: 512 -> [256, 512], 1024 -> [256, 512, 1024]),
upsampled (bicubic) as the start of the next one, and so on up to `size`; photo and style are
resized for each scale from their full-resolution files, the style so that its longer side is
`style_scale` times the scale's (as in Johnson's neural-style: it sets the brush-stroke size).
`iterations` counts VGG forward+backward passes, the unit of time, over all scales; by default
each finer scale gets half the iterations of the one before (it costs four times as much), so
500 at 512 px is 333 at 256 then 167 at 512.

Colour (`preserve_color`): luminance-only transfer (Gatys et al. 2017, "Controlling perceptual
factors in neural style transfer"). Photo and style are turned to luminance, the style's
luminance shifted and scaled to the photo's mean and spread, the optimization runs on those
grey images, and the result's luminance Y is combined with the photo's own Cr and Cb (YCrCb).
It keeps the photo's colours exactly while the style's strokes and texture stay at full
strength. The alternative (recolouring the style image to the photo's colour statistics first)
does not keep them exactly, and can make colours that are in neither image.

Precision: the VGG forward and backward run under bf16 autocast where that is faster (CUDA
with bf16; CPUs with native bf16, where it also uses channels_last); the image, the Gram
matrices, the losses and the optimizer state stay in float32. On a 2-core AVX512-BF16 CPU
this makes a VGG pass about 1.6x faster for the same result. fp16 (CUDA without bf16) scales
the objective by a constant so that its gradients do not underflow.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .errors import UserError
from .imageio import read_image, resize_longer_side, write_image
from .outputs import check_output
from .precision import mixed_dtype
from .vgg import CONTENT_LAYER, STYLE_LAYERS, VGG19, content_distance, gram_matrix, style_distance, total_variation

MIN_SIDE = 32  # relu5_1 sits below four 2× poolings
MAX_SIZE = 8192
COARSEST = 256  # automatic scales halve down to at most this
FP16_LOSS_SCALE = 2.0**10


@dataclass
class StillConfig:
    """Options of `stylize_still`; the defaults give a finished-looking result at 512."""

    content: str
    styles: list[str]
    output: str
    style_weights: Optional[list[float]] = None  # blend weights, normalized to sum 1; None: equal
    size: int = 512  # longer side of the result
    iterations: int = 500  # VGG forward+backward passes, all scales together
    optimizer: str = "lbfgs"  # "lbfgs" or "adam"
    content_weight: float = 1.0
    style_weight: float = 20.0
    tv_weight: float = 0.01
    init: str = "content"  # "content" or "random"
    preserve_color: bool = False
    style_scale: float = 1.0  # style image's longer side relative to the result's
    device: str = "auto"  # "auto", "cpu" or "cuda"
    seed: int = 0
    save_every: int = 0  # > 0: write OUTPUT.iter-<n>.EXT every n iterations
    scales: Optional[list[int]] = None  # coarse-to-fine longer sides; None: automatic
    scale_iterations: Optional[list[int]] = None  # iterations per scale; None: automatic
    precision: str = "auto"  # "auto", "fp32", "bf16" or "fp16" for the VGG passes
    lbfgs_history: int = 20
    lr: float = 0.02  # Adam step, in 0..1 pixel units
    vgg_weights: Optional[str] = None


@dataclass
class StillResult:
    image: np.ndarray  # BGR uint8, longer side `size`
    history: list[dict] = field(default_factory=list)  # per evaluation: scale, iteration, loss, content, style, tv
    scale_times: dict[int, float] = field(default_factory=dict)  # seconds spent at each scale
    output: Optional[Path] = None
    seconds: float = 0.0


def auto_scales(size: int) -> list[int]:
    """Halving down to the first side <= 256: 256 -> [256], 384 -> [192, 384], 512 -> [256, 512],
    1024 -> [256, 512, 1024]."""
    scales = [size]
    while scales[0] > COARSEST:
        scales.insert(0, (scales[0] + 1) // 2)
    return scales


def split_iterations(total: int, n: int) -> list[int]:
    """Each finer scale gets half the iterations of the one before it (each costs 4× as much)."""
    weights = [2.0 ** (n - 1 - k) for k in range(n)]
    counts = [max(1, math.floor(total * w / sum(weights))) for w in weights]
    counts[0] += total - sum(counts)
    return counts


def _check(config: StillConfig) -> tuple[list[int], list[int], np.ndarray]:
    """Validate the options; return (scales, iterations per scale, normalized style weights)."""
    if not config.styles:
        raise UserError("give at least one style image")
    if config.optimizer not in ("lbfgs", "adam"):
        raise UserError(f"optimizer must be lbfgs or adam, got {config.optimizer!r}")
    if config.init not in ("content", "random"):
        raise UserError(f"init must be content or random, got {config.init!r}")
    if config.device not in ("auto", "cpu", "cuda") and not config.device.startswith("cuda:"):
        raise UserError(f"device must be auto, cpu or cuda, got {config.device!r}")
    if config.precision not in ("auto", "fp32", "bf16", "fp16"):
        raise UserError(f"precision must be auto, fp32, bf16 or fp16, got {config.precision!r}")
    if not isinstance(config.size, int) or not MIN_SIDE <= config.size <= MAX_SIZE:
        raise UserError(f"size must be a whole number of pixels from {MIN_SIDE} to {MAX_SIZE}, got {config.size!r}")
    if config.iterations < 1:
        raise UserError(f"iterations must be at least 1, got {config.iterations}")
    if not config.style_scale > 0:
        raise UserError(f"style scale must be positive, got {config.style_scale}")
    if min(config.content_weight, config.style_weight, config.tv_weight) < 0:
        raise UserError("loss weights must not be negative")
    if config.save_every < 0:
        raise UserError("save_every must not be negative")
    scales = list(config.scales) if config.scales else auto_scales(config.size)
    if scales[-1] != config.size or any(b <= a for a, b in zip(scales, scales[1:])) or scales[0] < MIN_SIDE:
        raise UserError(f"scales must rise to the size ({config.size}) from at least {MIN_SIDE}, got {scales}")
    if config.scale_iterations:
        its = list(config.scale_iterations)
        if len(its) != len(scales) or min(its) < 1:
            raise UserError(f"scale_iterations needs one count >= 1 per scale {scales}, got {its}")
    else:
        if config.iterations < len(scales):
            raise UserError(f"{config.iterations} iterations cannot cover {len(scales)} scales")
        its = split_iterations(config.iterations, len(scales))
    weights = config.style_weights
    if weights is None:
        weights = [1.0] * len(config.styles)
    if len(weights) != len(config.styles):
        raise UserError(f"{len(weights)} style weights for {len(config.styles)} style images")
    w = np.asarray(weights, dtype=np.float64)
    if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise UserError(f"style weights must be non-negative numbers with a positive sum, got {weights}")
    return scales, its, w / w.sum()


def pick_precision(name: str, device: torch.device) -> Optional[torch.dtype]:
    """The autocast dtype for the VGG passes, None for float32."""
    if name == "fp32":
        return None
    if name == "bf16":
        return torch.bfloat16
    if name == "fp16":
        return torch.float16
    return mixed_dtype(device)


def _to_tensor(bgr: np.ndarray, device: torch.device) -> torch.Tensor:
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div_(255).to(device)


def _to_bgr(x: torch.Tensor) -> np.ndarray:
    rgb = x.detach()[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(rgb[..., ::-1])


def _luminance(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[..., 0].astype(np.float32)


def _grey_style(style_bgr: np.ndarray, content_bgr: np.ndarray) -> np.ndarray:
    """The style's luminance with the photo's luminance mean and spread, as a grey BGR image."""
    ys, yc = _luminance(style_bgr), _luminance(content_bgr)
    y = (ys - ys.mean()) / max(float(ys.std()), 1e-3) * float(yc.std()) + float(yc.mean())
    y = np.clip(y + 0.5, 0, 255).astype(np.uint8)
    return cv2.merge([y, y, y])


def _grey(bgr: np.ndarray) -> np.ndarray:
    y = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[..., 0]
    return cv2.merge([y, y, y])


def recombine_color(result_bgr: np.ndarray, content_bgr: np.ndarray) -> np.ndarray:
    """The result's luminance with the photo's chroma (photo resized to the result if needed)."""
    if content_bgr.shape[:2] != result_bgr.shape[:2]:
        content_bgr = cv2.resize(content_bgr, (result_bgr.shape[1], result_bgr.shape[0]), interpolation=cv2.INTER_AREA)
    out = cv2.cvtColor(content_bgr, cv2.COLOR_BGR2YCrCb)
    out[..., 0] = cv2.cvtColor(result_bgr, cv2.COLOR_BGR2YCrCb)[..., 0]
    return cv2.cvtColor(out, cv2.COLOR_YCrCb2BGR)


def _resize(bgr: np.ndarray, side: int) -> np.ndarray:
    """Resize so the longer side is `side`: area filter down, cubic up."""
    interp = cv2.INTER_AREA if side < max(bgr.shape[:2]) else cv2.INTER_CUBIC
    return resize_longer_side(bgr, side, interp)


class _Objective:
    """The loss at one scale: targets computed once, then `__call__(x)` -> dict of terms."""

    layers = STYLE_LAYERS + (CONTENT_LAYER,)

    def __init__(self, vgg: VGG19, config: StillConfig, content: torch.Tensor, styles: list[torch.Tensor],
                 weights: np.ndarray, dtype: Optional[torch.dtype], channels_last: bool):
        self.vgg, self.config, self.dtype, self.channels_last = vgg, config, dtype, channels_last
        self.device = content.device
        with torch.no_grad(), self._autocast():
            grams: dict[str, torch.Tensor] = {}
            for w, style in zip(weights, styles):
                feats = self.vgg(self._layout(style), STYLE_LAYERS)
                for name in STYLE_LAYERS:
                    g = gram_matrix(feats[name]) * float(w)
                    grams[name] = grams[name] + g if name in grams else g
            fc = self.vgg(self._layout(content), self.layers)
            self.grams = grams
            self.content_target = fc[CONTENT_LAYER].float()
            self.content_norm = self.content_target.pow(2).mean().clamp_min(1e-8)
            self.style_norm = style_distance(fc, grams)[0].clamp_min(1e-8)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None)

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        with self._autocast():
            feats = self.vgg(self._layout(x), self.layers)
        terms = {
            "content": content_distance(feats[CONTENT_LAYER], self.content_target)[0] / self.content_norm,
            "style": style_distance(feats, self.grams)[0] / self.style_norm,
            "tv": total_variation(x)[0],
        }
        terms["loss"] = c.content_weight * terms["content"] + c.style_weight * terms["style"] + c.tv_weight * terms["tv"]
        return terms


class _Stop(Exception):
    """Raised inside the optimizer's closure when the scale's evaluation budget is spent."""


@dataclass
class _Session:
    """What the optimization holds across scales: the network, the progress bar, the result."""

    config: StillConfig
    out: Path
    device: torch.device
    dtype: Optional[torch.dtype]  # autocast for the VGG passes; None: float32
    vgg: VGG19
    result: StillResult
    bar: Any
    on_save: Optional[Callable[[int, Path], None]]
    done: int = 0  # evaluations over all scales

    @property
    def channels_last(self) -> bool:
        return self.dtype is not None and self.device.type == "cpu"

    @property
    def grad_scale(self) -> float:
        """fp16 gradients of these small losses underflow: the objective is scaled (neither
        L-BFGS nor Adam minds a constant factor)."""
        return FP16_LOSS_SCALE if self.dtype == torch.float16 else 1.0


@dataclass
class _Scale:
    """One scale's image being optimized, its budget of evaluations and its best image so far."""

    size: int
    budget: int
    x: torch.Tensor
    content: np.ndarray  # the photo at this scale (BGR), for --preserve-color
    best: torch.Tensor
    best_loss: float = math.inf
    evals: int = 0


def stylize_still(
    config: StillConfig,
    progress: bool = True,
    on_save: Optional[Callable[[int, Path], None]] = None,
) -> StillResult:
    """Optimize the image, write it to `config.output` and return it with its loss history.

    `on_save(iteration, path)` is called after each intermediate image (`save_every`) is written.
    Ctrl-C writes the best image so far (lowest loss at the current scale) to the output path,
    then re-raises KeyboardInterrupt.
    """
    t_start = time.perf_counter()
    scales, scale_its, weights = _check(config)
    out, content_full, styles_full = load_inputs(config, scales[0])
    session = start_session(config, out, sum(scale_its), progress, on_save)
    current: Optional[_Scale] = None
    try:
        with session.bar:
            for size, budget in zip(scales, scale_its):
                t_scale = time.perf_counter()
                content, content_t, styles_t = scaled_inputs(config, content_full, styles_full, size, session.device)
                objective = _Objective(session.vgg, config, content_t, styles_t, weights, session.dtype, session.channels_last)
                x = start_image(config, current.best if current else None, content_t)
                current = _Scale(size, budget, x, content, best=x.detach().clone())
                optimize_scale(session, objective, current)
                session.result.scale_times[size] = time.perf_counter() - t_scale
                if progress and session.bar.disable:
                    print(f"still: {size} px, {current.evals} iterations in {session.result.scale_times[size]:.1f} s, "
                          f"loss {current.best_loss:.4f}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        if current is not None:
            write_image(out, finish(config, current.best, current.content))
        raise
    # The best evaluated image (L-BFGS's last step is never evaluated, and a diverging step never wins).
    session.result.image = finish(config, current.best, current.content)
    write_image(out, session.result.image)
    session.result.seconds = time.perf_counter() - t_start
    return session.result


def load_inputs(config: StillConfig, first_scale: int) -> tuple[Path, np.ndarray, list[np.ndarray]]:
    """(the checked output path, the photo, the style images), each big enough for the first scale."""
    out = check_output(config.output, config.content, *config.styles)
    if out.suffix.lower() not in (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"):
        raise UserError(f"unknown image type {out.suffix!r} for {out}")
    content = read_image(config.content)
    styles = [read_image(p) for p in config.styles]
    for path, img, side in [(config.content, content, first_scale)] + [
            (p, im, round(first_scale * config.style_scale)) for p, im in zip(config.styles, styles)]:
        if min(img.shape[:2]) < 4:
            raise UserError(f"image too small to stylize: {path} ({img.shape[1]}x{img.shape[0]})")
        if min(img.shape[:2]) * side / max(img.shape[:2]) < 16:
            raise UserError(f"{path}: its shorter side would be under 16 pixels at {side}: use a larger size or style scale")
    return out, content, styles


def start_session(config: StillConfig, out: Path, total: int, progress: bool, on_save) -> _Session:
    """The device, precision, seeded RNGs, VGG19 and progress bar (shown on a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from .precision import pick_device

    device = pick_device(config.device)
    dtype = pick_precision(config.precision, device)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    vgg = VGG19(config.vgg_weights, last_layer="relu5_1").to(device)
    if dtype is not None and device.type == "cpu":
        vgg = vgg.to(memory_format=torch.channels_last)
    show = progress and sys.stderr.isatty()
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), disable=not show, transient=False)
    bar.add_task("still", total=total)
    return _Session(config, out, device, dtype, vgg, StillResult(image=np.zeros((1, 1, 3), np.uint8), output=out), bar, on_save)


def scaled_inputs(config: StillConfig, content_full: np.ndarray, styles_full: list[np.ndarray], size: int,
                  device: torch.device) -> tuple[np.ndarray, torch.Tensor, list[torch.Tensor]]:
    """(the photo at this scale, the photo and the styles as the optimization sees them: grey
    with --preserve-color, the styles at `style_scale` times the size)."""
    content = _resize(content_full, size)
    styles = [_resize(s, round(size * config.style_scale)) for s in styles_full]
    if config.preserve_color:
        return content, _to_tensor(_grey(content), device), [_to_tensor(_grey_style(s, content), device) for s in styles]
    return content, _to_tensor(content, device), [_to_tensor(s, device) for s in styles]


def start_image(config: StillConfig, previous: Optional[torch.Tensor], content: torch.Tensor) -> torch.Tensor:
    """The previous scale's result upsampled, or at the first scale the photo (or noise)."""
    if previous is not None:
        x = F.interpolate(previous.detach(), size=content.shape[2:], mode="bicubic", align_corners=False)
    elif config.init == "random":
        x = (0.5 + 0.1 * torch.randn(content.shape, generator=torch.Generator().manual_seed(config.seed))).to(content.device)
    else:
        x = content.clone()
    return x.clamp(0, 1).contiguous().requires_grad_(True)


def optimize_scale(session: _Session, objective: _Objective, scale: _Scale) -> None:
    """Spend the scale's budget of VGG passes on `scale.x`; `scale.best` keeps the best image."""
    config = session.config
    if config.optimizer == "lbfgs":
        # Classic settings (neural-style): step 1, no line search, so one VGG pass per
        # iteration; the tolerances are off because `iterations` is the budget.
        opt = torch.optim.LBFGS([scale.x], lr=1.0, max_iter=scale.budget, max_eval=scale.budget + 1,
                                history_size=config.lbfgs_history, tolerance_grad=0.0, tolerance_change=0.0, line_search_fn=None)
    else:
        opt = torch.optim.Adam([scale.x], lr=config.lr)

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = evaluate(session, objective, scale) * session.grad_scale
        loss.backward()
        if not bool(torch.isfinite(scale.x.grad).all()):  # fp16 overflow: keep the best so far
            raise _Stop
        return loss

    try:
        if config.optimizer == "lbfgs":
            opt.step(closure)
        else:
            while scale.evals < scale.budget:
                opt.step(closure)
    except _Stop:
        pass


def evaluate(session: _Session, objective: _Objective, scale: _Scale) -> torch.Tensor:
    """One VGG pass: the loss of `scale.x`, recorded, shown and (every `save_every`) saved."""
    if scale.evals >= scale.budget:
        raise _Stop
    terms = objective(scale.x)
    value = float(terms["loss"].detach())
    if not math.isfinite(value):
        raise _Stop
    if value < scale.best_loss:
        scale.best_loss, scale.best = value, scale.x.detach().clone()
    scale.evals += 1
    session.done += 1
    row = {"scale": scale.size, "iteration": session.done, **{k: float(v.detach()) for k, v in terms.items()}}
    session.result.history.append(row)
    session.bar.update(session.bar.task_ids[0], completed=session.done, description=(
        f"{scale.size}px  loss {value:.4f}  content {row['content']:.3f}  style {row['style']:.4f}  tv {row['tv']:.3f}"))
    every = session.config.save_every
    if every and session.done % every == 0:
        out = session.out
        path = out.with_name(f"{out.stem}.iter-{session.done}{out.suffix}")
        write_image(path, finish(session.config, scale.x, scale.content))
        if session.on_save is not None:
            session.on_save(session.done, path)
    return terms["loss"]


def finish(config: StillConfig, x: torch.Tensor, content_bgr: np.ndarray) -> np.ndarray:
    """The image as BGR uint8; with --preserve-color, the photo's own colours."""
    bgr = _to_bgr(x)
    return recombine_color(bgr, content_bgr) if config.preserve_color else bgr
