"""The training losses: a VGG19 perceptual loss (Johnson et al. 2016) and distillation.

The loss is the evaluation protocol of `rtstyle evaluate`, made differentiable: per photo,
    content_weight * content_rel + style_weight * style_rel + tv_weight * total variation
      (+ stability_weight * the change of the output under a small shift and noise of the input)
(or, with a `teacher`, distillation: the mean absolute difference, of pixels and of their
 gradients, to a trained model's stylization of the same crop, computed once per crop with
 onnxruntime, plus `perceptual_weight` times the loss above, whose style Grams are, with
 `style_target="teacher"`, the teacher's output's on the same crop; `input_noise` > 0 perturbs
 only the student's input, so it learns to ignore noise, which makes it steadier on video)
where content_rel is the relu4_2 feature distance over the photo's own feature energy and
style_rel the Gram distance (relu1_1..relu5_1) over the unstyled photo's Gram distance. Both
are ratios near 1, so the weights read as a trade-off and need no per-style rescaling.
With `style_balance="layer"` (the default) style_rel is the mean over the five layers of each
layer's Gram distance over the unstyled photos' distance on that layer (measured once, on a
batch of training crops, and kept in the checkpoint as `style_layer_norms`): the plain sum
("sum") is nearly all relu4_1, so the colour-carrying relu1_1 and relu2_1 barely count.
`palette_weight` > 0 adds that times the palette term of `rtstyle.palette`: the batch's pooled
Lab colours against the style image's (or the teacher's outputs'), over the unstyled photos';
with `palette_per_image`, each crop's own colours (as evaluate measures each photo), averaged.
"""

from __future__ import annotations

import numpy as np
import torch

from .crops import to_tensor
from .palette import PaletteDistance, lab_pixels
from .trainconfig import TrainConfig
from .vgg import (CONTENT_LAYER, STYLE_LAYERS, VGG19, balanced_style_distance, content_distance, style_distance,
                  style_grams, style_layer_distances, total_variation)


class PerceptualLoss(torch.nn.Module):
    """The training loss of the module docstring, for one style image."""

    def __init__(self, config: TrainConfig, style_rgb: np.ndarray, device: torch.device):
        super().__init__()
        self.config = config
        self.vgg = VGG19(config.vgg_weights, last_layer="relu5_1").to(device)
        self.layers = STYLE_LAYERS + (CONTENT_LAYER,)
        self.grams = style_grams(self.vgg, to_tensor(style_rgb).to(device))
        self.layer_norms: dict[str, torch.Tensor] | None = None  # style_balance "layer": set by `calibrate`
        self.palette = PaletteDistance(per_image=config.palette_per_image)
        self.style_lab = lab_pixels(to_tensor(style_rgb).to(device))

    @torch.no_grad()
    def calibrate(self, photos: torch.Tensor) -> dict[str, float]:
        """Per style layer, the mean Gram distance of unstyled `photos` to the style image: the
        scale that `style_balance="layer"` divides that layer's term by."""
        parts = style_layer_distances(self.vgg(photos, STYLE_LAYERS), self.grams)
        self.layer_norms = {k: v.float().mean().clamp_min(1e-12) for k, v in parts.items()}
        return {k: v.item() for k, v in self.layer_norms.items()}

    def forward(self, photos: torch.Tensor, outputs: torch.Tensor, style_targets: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """`style_targets`: images whose Grams replace the style image's, one per photo (the
        teacher's stylization of it). A crop of sky then need not hold all of the style's
        colours: a small student pushed towards the whole style image's Grams paints dark blots."""
        c = self.config
        with torch.no_grad():
            fx = self.vgg(photos, self.layers)
            content_norm = fx[CONTENT_LAYER].float().pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-8)
            grams = self.grams if style_targets is None else style_grams(self.vgg, style_targets)
            if c.style_balance == "sum":
                style_norm = style_distance(fx, self.grams).clamp_min(1e-8)
            elif style_targets is None and self.layer_norms is not None:
                style_norm, layer_norms = 1.0, self.layer_norms
            else:  # per-crop targets (or not calibrated): the batch's own photo distances on each layer
                style_norm = 1.0
                layer_norms = {k: v.float().mean().clamp_min(1e-12) for k, v in style_layer_distances(fx, grams).items()}
        fy = self.vgg(outputs, self.layers)
        weights = dict(zip(STYLE_LAYERS, c.style_layer_weights)) if c.style_layer_weights else None
        style = style_distance(fy, grams) if c.style_balance == "sum" else balanced_style_distance(fy, grams, layer_norms, weights)
        terms = {
            "content": (content_distance(fy[CONTENT_LAYER], fx[CONTENT_LAYER]) / content_norm).mean(),
            "style": (style / style_norm).mean(),
            "tv": total_variation(outputs.float()).mean(),
        }
        terms["loss"] = c.content_weight * terms["content"] + c.style_weight * terms["style"] + c.tv_weight * terms["tv"]
        if c.palette_weight > 0:
            target = self.style_lab if style_targets is None else lab_pixels(style_targets)
            terms["palette"] = self.palette(outputs, target, reference=photos)
            terms["loss"] = terms["loss"] + c.palette_weight * terms["palette"]
        return terms


def distillation_loss(outputs: torch.Tensor, targets: torch.Tensor, edge_weight: float) -> dict[str, torch.Tensor]:
    """Mean absolute difference of pixels, plus of horizontal and vertical differences (edges)."""
    diff = outputs.float() - targets
    pixels = diff.abs().mean()
    edges = (diff[..., 1:, :] - diff[..., :-1, :]).abs().mean() + (diff[..., :, 1:] - diff[..., :, :-1]).abs().mean()
    return {"pixels": pixels, "edges": edges, "loss": pixels + edge_weight * edges}


def add_input_noise(photos: torch.Tensor, strength: float, rng: np.random.Generator) -> torch.Tensor:
    """Gaussian noise of std strength·U(0, 1), drawn per image, clamped to [0, 1]."""
    sigma = strength * rng.random((len(photos), 1, 1, 1), np.float32)
    noise = torch.from_numpy(sigma * rng.standard_normal(photos.shape, np.float32)).to(photos.device)
    return (photos + noise).clamp_(0, 1)


def stability_term(net: torch.nn.Module, photos: torch.Tensor, outputs: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """How much the output changes beyond the input's own change under a small shift plus noise."""
    dy, dx = (int(v) for v in rng.integers(-2, 3, size=2))
    moved = torch.roll(photos, shifts=(dy, dx), dims=(2, 3))
    moved = (moved + 0.02 * torch.randn_like(moved)).clamp(0, 1)
    expected = torch.roll(outputs, shifts=(dy, dx), dims=(2, 3))
    m = 4  # rolled borders wrap around: compare the interior only
    return (net(moved) - expected).float()[..., m:-m, m:-m].pow(2).mean()
