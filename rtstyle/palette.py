"""The palette term of the training loss: a differentiable twin of `evaluate`'s palette_rel.

Colours are compared in CIE Lab (D65, sRGB gamma, as OpenCV's float conversion) by the sliced
Wasserstein distance: project both pixel sets on random unit directions, sort, and take the
mean absolute difference. By default the pixels of a whole batch are pooled, so one crop of
sky need not hold every colour of the painting, only the batch together; `per_image` measures
each crop on its own, as `evaluate` measures each photo (pooling let a batch meet the palette
with a few blots, so the bundled models were fine-tuned per crop).
"""

from __future__ import annotations

import torch

_RGB_TO_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                            [0.212671, 0.715160, 0.072169],
                            [0.019334, 0.119193, 0.950227]])
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])
_EPS = (6 / 29) ** 3


def rgb_to_lab(rgb01: torch.Tensor) -> torch.Tensor:
    """N×3×H×W RGB in 0..1 to CIE Lab (L 0-100, a and b about ±100), float32."""
    with torch.autocast(rgb01.device.type, enabled=False):
        c = rgb01.float().clamp(0, 1)
        linear = torch.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
        xyz = torch.einsum("ij,njhw->nihw", _RGB_TO_XYZ.to(c.device), linear) / _WHITE.to(c.device)[:, None, None]
        f = torch.where(xyz > _EPS, xyz.clamp_min(_EPS) ** (1 / 3), xyz * (841 / 108) + 4 / 29)
        return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Mean over the columns of `directions` (D×K, unit) of the 1-Wasserstein distance between the
    projections of two equally sized point sets (N×D)."""
    return (torch.sort(a @ directions, dim=0).values - torch.sort(b @ directions, dim=0).values).abs().mean()


def lab_pixels(rgb01: torch.Tensor) -> torch.Tensor:
    """All pixels of an N×3×H×W batch as (N·H·W)×3 Lab colours."""
    return rgb_to_lab(rgb01).permute(0, 2, 3, 1).reshape(-1, 3)


class PaletteDistance:
    """Distance of a batch's pooled Lab colours to a target's: `samples` pixels of each and
    `projections` directions, drawn anew on every call from torch's random generator.
    `per_image`: the mean over the batch of each image's own distance (`samples` pixels each)."""

    def __init__(self, samples: int = 8192, projections: int = 32, per_image: bool = False):
        self.samples, self.projections, self.per_image = samples, projections, per_image

    def __call__(self, images: torch.Tensor, target_lab: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        """Palette distance of `images` (N×3×H×W, 0..1) to `target_lab` (M×3 Lab pixels); with
        `reference` images (say the unstyled photos), over their distance on the same draws."""
        device = images.device
        directions = torch.randn(3, self.projections, device=device)
        directions = directions / directions.norm(dim=0)
        target = target_lab[torch.randint(len(target_lab), (self.samples,), device=device)]

        def distance(batch: torch.Tensor) -> torch.Tensor:
            lab = lab_pixels(batch)
            return sliced_wasserstein(lab[torch.randint(len(lab), (self.samples,), device=device)], target, directions)

        def groups(batch: torch.Tensor) -> list[torch.Tensor]:
            return list(batch.split(1)) if self.per_image else [batch]

        d = torch.stack([distance(group) for group in groups(images)])
        if reference is not None:
            with torch.no_grad():  # only the reference's distance: the division must stay in the graph
                scale = torch.stack([distance(group) for group in groups(reference)]).clamp_min(1e-6)
            d = d / scale
        return d.mean()
