"""`rtstyle train`: the training loop, in named steps.

`train` = `prepare` (check the options; load the --init weights and the checkpoint to resume;
build the data, network, optimizer and loss), then per step `get_lr`, `get_batch`,
`compute_loss`, an Adam step, `report` and, every `checkpoint_every` steps, `save_progress`.
The loss terms are in `losses` (their formulas in its docstring), the data in `crops`, the
options in `trainconfig`, torchrun in `distributed`.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from .checkpoints import load_checkpoint, save_checkpoint
from .crops import PhotoCrops, TeacherCrops, split_photos, to_batch, to_tensor
from .distributed import (Ranks, any_rank, data_parallel, local_rows, mean_over_ranks, rank_zero_first, start_distributed,
                          stop_distributed)
from .errors import UserError
from .imageio import read_image, resize_longer_side, write_image
from .losses import PerceptualLoss, add_input_noise, distillation_loss, stability_term
from .networks import NetConfig, build_network
from .precision import autocast, pick_device
from .registry import file_sha256
from .trainconfig import TrainConfig, check_config

# Names that callers import from here, defined in the modules above.
__all__ = ["PerceptualLoss", "PhotoCrops", "Ranks", "TeacherCrops", "TrainConfig", "load_checkpoint", "local_rows",
           "pick_device", "save_checkpoint", "split_photos", "to_batch", "to_tensor", "train"]

SHIFT = 4  # stability fine-tuning: how far (pixels) the student's crop moves within the teacher's


@dataclass
class Run:
    """What one training run holds from step to step."""

    config: TrainConfig
    ranks: Ranks
    device: torch.device
    rows: slice  # this process's rows of the global batch
    net: torch.nn.Module  # the network whose weights a checkpoint keeps
    model: torch.nn.Module  # the same, wrapped to average gradients over torchrun's processes
    optimizer: torch.optim.Optimizer
    criterion: PerceptualLoss | None  # the VGG loss; None for distillation alone
    crops: PhotoCrops | TeacherCrops
    anchor: torch.nn.Module | None  # --teacher self: the frozen --init network
    preview: torch.Tensor  # a held-out photo, stylized next to each checkpoint
    record: dict  # what each checkpoint keeps besides weights and step: shape, options, style hash, held-out photos
    log: Callable[..., None]
    start: int = 0
    elapsed: float = 0.0

    @property
    def out(self) -> Path:
        return Path(self.config.output)


def train(config: TrainConfig, resume: bool = False, log=print) -> Path:
    """Train (or resume) and return the checkpoint path. Ctrl-C saves a checkpoint and re-raises."""
    run = prepare(config, resume, log)
    bar, task = progress_bar(run)
    step = run.start
    t0 = time.perf_counter() - run.elapsed
    try:
        with bar:
            while step < config.iterations:
                rng = np.random.default_rng([config.seed, step])
                for group in run.optimizer.param_groups:
                    group["lr"] = get_lr(config, step)
                photos, targets = get_batch(run, rng)
                with autocast(run.device):
                    loss, terms = compute_loss(run, photos, targets, rng)
                run.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                run.optimizer.step()
                step += 1
                run.elapsed = time.perf_counter() - t0
                report(run, bar, task, step, terms)
                if step % config.checkpoint_every == 0:
                    save_progress(run, step)
                if config.time_limit and any_rank(run.elapsed > config.time_limit, run.ranks, run.device):
                    run.log(f"time limit reached at step {step}")
                    break
    except KeyboardInterrupt:
        save_progress(run, step)
        run.log(f"interrupted: checkpoint saved at step {step} ({run.out}); continue with --resume")
        raise
    save_progress(run, step)
    stop_distributed()
    return run.out


def prepare(config: TrainConfig, resume: bool, log: Callable[..., None]) -> Run:
    """Check the options, then build the run: data, network, optimizer and loss, resumed or from --init."""
    check_config(config)
    init = load_checkpoint(config.init) if config.init else None
    net_config = network_config(config, init)
    style_hash = file_sha256(config.style)
    ckpt = checkpoint_to_resume(config, resume, style_hash, net_config)
    ranks, device = start_distributed(pick_device(config.device))
    rows = local_rows(config.batch, ranks)  # every rank draws the same global batch and trains on these rows
    if ranks.rank:
        log = lambda *args, **kwargs: None  # rank 0 speaks for the job
    torch.manual_seed(config.seed)
    train_paths, held_out = split_photos(config.data, config.holdout_every)
    crops = training_data(config, train_paths, ranks, log)
    net = build_network(net_config).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    criterion = make_criterion(config, crops, ckpt, device, log)
    start, elapsed = restore(config, net, optimizer, ckpt, init, resume, log)
    anchor = None
    if config.teacher == "self":
        anchor = build_network(net_config).to(device).eval().requires_grad_(False)
        anchor.load_state_dict(init["model"])
    preview = read_image((held_out or train_paths)[0])
    preview = to_tensor(resize_longer_side(preview, config.scale, cv2.INTER_AREA)[..., ::-1].copy()).to(device)
    record = {"net": net_config.to_dict(), "config": asdict(config), "style_sha256": style_hash, "held_out": [p.name for p in held_out]}
    return Run(config, ranks, device, rows, net, data_parallel(net, ranks, device), optimizer, criterion, crops, anchor,
               preview, record, log, start, elapsed)


def network_config(config: TrainConfig, init: dict | None) -> NetConfig:
    """The network's shape: the --init checkpoint's, else the arch's with --channels and --residual-blocks."""
    try:
        shape = NetConfig.for_arch(config.arch).reshaped(config.channels, config.residual_blocks)
    except ValueError as e:
        raise UserError(str(e)) from None
    if init is None:
        return shape
    if init["net"]["arch"] != config.arch:
        raise UserError(f"--init: {config.init} is a {init['net']['arch']} network, not {config.arch}")
    return NetConfig.from_dict(init["net"])  # fine-tuning keeps the initial network's exact shape


def checkpoint_to_resume(config: TrainConfig, resume: bool, style_hash: str, net_config: NetConfig) -> dict | None:
    """With --resume, the checkpoint at the output (if any), checked to be of this style, shape and style loss."""
    out = Path(config.output)
    if not (resume and out.exists()):
        return None
    ckpt = load_checkpoint(out)
    balance = ckpt.get("config", {}).get("style_balance", "sum")
    if ckpt.get("style_sha256") != style_hash:
        raise UserError(f"--resume: {out} was trained on another style image; give a new output name")
    if NetConfig.from_dict(ckpt["net"]) != net_config:
        raise UserError(f"--resume: {out} is a network of another shape ({ckpt['net']}); give a new output name")
    if balance != config.style_balance:
        raise UserError(f"--resume: {out} was trained with --style-balance {balance}; give a new output name")
    return ckpt


def training_data(config: TrainConfig, paths: list[Path], ranks: Ranks, log) -> PhotoCrops | TeacherCrops:
    """Random photo crops, or with --teacher MODEL a fixed set of crops and the teacher's stylizations."""
    if config.teacher is not None and config.teacher != "self":
        with rank_zero_first(ranks):  # the others then read the teacher's crops from its cache
            return TeacherCrops(paths, config.scale, config.size, config.teacher, config.teacher_crops, config.seed, log)
    # the self teacher sees a slightly larger crop, so the student's crop can sit anywhere in it
    return PhotoCrops(paths, config.scale, config.size + 2 * SHIFT if config.teacher == "self" else config.size)


def make_criterion(config: TrainConfig, crops, ckpt: dict | None, device: torch.device, log) -> PerceptualLoss | None:
    """The VGG loss (None for distillation alone), with its per-layer scales restored or measured."""
    if config.teacher is not None and config.perceptual_weight <= 0:
        return None
    style_rgb = resize_longer_side(read_image(config.style), config.scale, cv2.INTER_AREA)[..., ::-1]
    criterion = PerceptualLoss(config, style_rgb, device)
    if config.style_balance != "layer":
        return criterion
    if ckpt is not None and "style_layer_norms" in ckpt:
        criterion.layer_norms = {k: torch.tensor(v, device=device) for k, v in ckpt["style_layer_norms"].items()}
        return criterion
    sample = crops.batch(16, np.random.default_rng([config.seed, 1 << 30]))
    sample = sample[0] if isinstance(sample, tuple) else sample  # teacher crops: (photos, targets)
    norms = criterion.calibrate(sample[..., : config.size, : config.size].to(device))
    log("style layer scales (unstyled crops' Gram distance): " + " ".join(f"{k} {v:.3g}" for k, v in norms.items()))
    return criterion


def restore(config: TrainConfig, net, optimizer, ckpt: dict | None, init: dict | None, resume: bool, log) -> tuple[int, float]:
    """Load the resumed checkpoint's weights and optimizer, or the --init weights: (start step, seconds so far)."""
    if ckpt is not None:
        net.load_state_dict(ckpt["model"])
        if "optimizer" in ckpt:  # shipped checkpoints keep the weights only
            optimizer.load_state_dict(ckpt["optimizer"])
        log(f"resuming {config.output} at step {int(ckpt['step'])}")
        return int(ckpt["step"]), float(ckpt.get("elapsed", 0.0))
    if resume:
        log(f"--resume: no checkpoint at {config.output} yet, starting from scratch")
    if init is not None:
        net.load_state_dict(init["model"])
        log(f"starting from the weights of {config.init}")
    return 0, 0.0


def get_lr(config: TrainConfig, step: int) -> float:
    """Cosine decay from `lr` at step 0 to 0.1 `lr` at the last step."""
    return config.lr * (0.55 + 0.45 * math.cos(math.pi * step / config.iterations))


def get_batch(run: Run, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """This process's crops on the device, and their distillation targets (None for the VGG loss)."""
    c = run.config
    if run.anchor is not None:
        # The student sees the crop moved by up to SHIFT pixels (plus noise, below) and must
        # give the anchor's output at the same place: steady under small motion.
        wide = run.crops.batch(c.batch, rng)
        with torch.no_grad(), autocast(run.device):
            wide_targets = run.anchor(wide[run.rows].to(run.device)).float().clamp(0, 1)
        y, x = (int(v) for v in rng.integers(0, 2 * SHIFT + 1, size=2))
        window = (..., slice(y, y + c.size), slice(x, x + c.size))
        photos, targets = wide[window], wide_targets[window]
    elif c.teacher is not None:
        photos, targets = run.crops.batch(c.batch, rng)
        targets = targets[run.rows].to(run.device)
    else:
        photos, targets = run.crops.batch(c.batch, rng), None
    if c.teacher is not None and c.input_noise > 0:
        photos = add_input_noise(photos, c.input_noise, rng)
    return photos[run.rows].to(run.device).contiguous(memory_format=torch.channels_last), targets


def compute_loss(run: Run, photos: torch.Tensor, targets: torch.Tensor | None,
                 rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(the loss to minimize, the terms to report) for one batch."""
    c = run.config
    outputs = run.model(photos)
    if targets is None:
        terms = run.criterion(photos, outputs)
    else:
        terms = distillation_loss(outputs, targets, c.edge_weight)
        if run.criterion is not None:
            perceptual = run.criterion(photos, outputs, targets if c.style_target == "teacher" else None)
            terms.update({k: v for k, v in perceptual.items() if k in ("style", "content", "palette")},
                         loss=terms["loss"] + c.perceptual_weight * perceptual["loss"])
    loss = terms["loss"]
    if c.stability_weight > 0:
        terms["stable"] = stability_term(run.net, photos, outputs, rng)  # net: DDP allows one forward per backward
        loss = loss + c.stability_weight * terms["stable"]
    return loss, terms


def progress_bar(run: Run):
    """A progress bar on a terminal (rank 0 only); disabled, it still takes updates."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    show = sys.stderr.isatty() and not run.ranks.rank
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), disable=not show)
    return bar, bar.add_task("training", total=run.config.iterations, completed=run.start)


def report(run: Run, bar, task, step: int, terms: dict[str, torch.Tensor]) -> None:
    """The loss terms (averaged over the processes) on the bar every 10 steps; without a bar, a line every 100."""
    c = run.config
    if step % 10 and step != c.iterations:
        return
    text = " ".join(f"{k} {v.item():.3f}" for k, v in mean_over_ranks(terms, run.ranks).items())
    bar.update(task, completed=step, description=text)
    if bar.disable and (step % 100 == 0 or step == c.iterations):
        run.log(f"step {step}/{c.iterations} {text} ({step - run.start} steps in {run.elapsed:.0f} s)", flush=True)


def save_progress(run: Run, step: int) -> None:
    """Rank 0 writes the checkpoint, and the preview photo stylized next to it (NAME.preview.jpg)."""
    if run.ranks.rank:
        return
    norms = run.criterion.layer_norms if run.criterion is not None else None
    save_checkpoint(run.out, {
        "model": run.net.state_dict(), "optimizer": run.optimizer.state_dict(), "step": step, "elapsed": run.elapsed,
        **run.record, **({"style_layer_norms": {k: v.item() for k, v in norms.items()}} if norms is not None else {}),
    })
    run.net.eval()
    with torch.no_grad(), autocast(run.device):
        img = run.net(run.preview).float().clamp(0, 1)
    run.net.train()
    rgb = (img[0].permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    write_image(run.out.with_name(f"{run.out.stem}.preview.jpg"), rgb[..., ::-1])
