"""Feed-forward style networks (Johnson et al. 2016), in the shape of pytorch/examples' fast_neural_style.

Both networks take RGB in [0, 1], NCHW float, and return RGB in about [0, 1] (clamped at export).
`TransformerNet` builds both tiers from a `NetConfig`: the quality tier is Johnson's network;
the fast tier (CPU real time) folds 2×2 pixel blocks into channels first (pixel unshuffle) and
unfolds them at the end (pixel shuffle), so no convolution runs at full resolution, and it has
half the channels: 18× fewer operations per frame. It is trained by distillation from the
quality tier (`TrainConfig.teacher`) plus the perceptual loss (`TrainConfig.perceptual_weight`).
`NetConfig.channels` sets the widths per resolution level and so the depth: the default fast
shape (16, 32, 64) works down to 1/8 of the frame; `mosaic-fast` is (16, 32), down to 1/4
like the quality tier, and a little faster: mosaic's fine lattice of grout lines is too fine
for the 1/8 bottleneck.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn


class ConvLayer(nn.Sequential):
    """Reflection-padded convolution (no zero borders, so no border seams)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1):
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride))


class ConvNormReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1):
        super().__init__(ConvLayer(cin, cout, kernel, stride), nn.InstanceNorm2d(cout, affine=True), nn.ReLU(inplace=True))


class UpsampleConv(nn.Sequential):
    """Nearest-neighbour ×2 then convolution: no transposed-convolution checkerboard."""

    def __init__(self, cin: int, cout: int, kernel: int = 3):
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            ConvLayer(cin, cout, kernel),
            nn.InstanceNorm2d(cout, affine=True),
            nn.ReLU(inplace=True),
        )


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(inplace=True),
            ConvLayer(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@dataclass(frozen=True)
class NetConfig:
    """Architecture of a style network; stored in every checkpoint so it can be rebuilt."""

    arch: str = "johnson"  # "johnson" (quality tier) or "fast" (CPU real-time tier)
    channels: tuple[int, ...] = (32, 64, 128)
    residual_blocks: int = 5

    @classmethod
    def for_arch(cls, arch: str) -> "NetConfig":
        if arch == "johnson":
            return cls()
        if arch == "fast":
            return cls(arch="fast", channels=(16, 32, 64), residual_blocks=4)
        raise ValueError(f"unknown architecture {arch!r} (johnson or fast)")

    def reshaped(self, channels: tuple[int, ...] | None = None, residual_blocks: int | None = None) -> "NetConfig":
        """This architecture with other widths (one per resolution level) or block count."""
        channels = self.channels if channels is None else tuple(channels)
        blocks = self.residual_blocks if residual_blocks is None else residual_blocks
        if not channels or any(c < 1 for c in channels) or blocks < 0:
            raise ValueError(f"bad network shape: channels {channels}, residual blocks {blocks}")
        return replace(self, channels=channels, residual_blocks=blocks)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetConfig":
        return cls(arch=d["arch"], channels=tuple(d["channels"]), residual_blocks=int(d["residual_blocks"]))


class TransformerNet(nn.Module):
    """Encoder (stride-2 convs), residual blocks, decoder (nearest upsample + conv).

    With channels (32, 64, 128) and 5 blocks this is exactly Johnson's network. The fast tier
    (see the module docstring) works on 2×2 pixel blocks folded into channels, and its last
    convolution also sees those folded input pixels (a skip connection), so fine detail
    survives the low internal resolution. Any input size works: it is padded (edge pixels
    repeated) to a multiple of `stride`, and the output cropped back.
    """

    def __init__(self, config: NetConfig = NetConfig()):
        super().__init__()
        self.config = config
        self.fast = config.arch == "fast"
        c = config.channels
        first = ConvNormReLU(12, c[0], 3) if self.fast else ConvNormReLU(3, c[0], 9)
        down = [ConvNormReLU(c[i], c[i + 1], 3, stride=2) for i in range(len(c) - 1)]
        self.encoder = nn.Sequential(first, *down)
        self.residuals = nn.Sequential(*[ResidualBlock(c[-1]) for _ in range(config.residual_blocks)])
        up = [UpsampleConv(c[i + 1], c[i]) for i in reversed(range(len(c) - 1))]
        if self.fast:
            self.decoder = nn.Sequential(*up)
            self.head = ConvLayer(c[0] + 12, 12, 3)
        else:
            self.decoder = nn.Sequential(*up, ConvLayer(c[0], 3, 9))
        self.stride = 2 ** (len(c) - 1) * (2 if self.fast else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        x = F.pad(x, (0, _pad_amount(w, self.stride), 0, _pad_amount(h, self.stride)), mode="replicate")
        return self.body(x)[..., :h, :w]

    def body(self, x: torch.Tensor) -> torch.Tensor:
        """The network on a frame already padded to a multiple of `stride`, at least 2·stride
        (`forward` pads and crops; the ONNX export builds its own TensorRT-friendly pad)."""
        if self.fast:
            x = F.pixel_unshuffle(x, 2)
        y = self.decoder(self.residuals(self.encoder(x)))
        if self.fast:
            y = F.pixel_shuffle(self.head(torch.cat([y, x], dim=1)), 2)
        return y


def _pad_amount(size, stride: int):
    """Padding that makes `size` a multiple of `stride` and at least 2·stride (tiny frames).

    While exporting, `size` is a traced tensor, so the arithmetic lands in the ONNX graph.
    """
    pad = (stride - size % stride) % stride
    short = 2 * stride - (size + pad)
    return pad + (short.clamp(min=0) if isinstance(short, torch.Tensor) else max(short, 0))


def build_network(config: NetConfig | dict | None = None) -> TransformerNet:
    if isinstance(config, dict):
        config = NetConfig.from_dict(config)
    return TransformerNet(config or NetConfig())


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class StyleNorm(nn.Module):
    """Instance norm whose per-channel scale and shift are a base plus an offset given per image
    (conditional instance norm, Dumoulin et al. 2017). `AnyStyleNet` sets `offsets` before each
    forward pass; with none set it is the plain affine instance norm it replaced."""

    def __init__(self, norm: nn.InstanceNorm2d):
        super().__init__()
        self.weight, self.bias = norm.weight, norm.bias
        self.offsets: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.instance_norm(x, eps=1e-5)
        scale, shift = self.weight[None], self.bias[None]
        if self.offsets is not None:
            scale, shift = scale + self.offsets[0], shift + self.offsets[1]
        return x * scale[..., None, None] + shift[..., None, None]


PALETTE_STATS = 15  # a painting's colours: RGB mean (3), principal axes (3×3, rows), standard deviation along each (3)


def match_palette(rgb: torch.Tensor, palette: torch.Tensor, max_gain: float = 4.0, sample: int = 1) -> torch.Tensor:
    """Give N×3×H×W RGB the mean and the spread along each principal colour axis of a painting
    (N×PALETTE_STATS, `rtstyle.anystyle.palette_statistics`): the picture's own deviations from
    its mean, measured along the painting's axes, are rescaled to the painting's spread there
    (at most `max_gain` times, so a flat picture's noise is not blown up). The statistics are
    taken on every `sample`-th pixel each way; the change is one 3×3 colour matrix and a shift."""
    mean, axes, spread = palette[:, :3], palette[:, 3:12].reshape(-1, 3, 3), palette[:, 12:15]
    s = rgb[..., ::sample, ::sample].flatten(2)
    centre = s.mean(2, keepdim=True)
    z = torch.matmul(axes, s - centre)  # one palette for all images, or one each
    gain = (spread[..., None] / (z.pow(2).mean(2, keepdim=True) + 1e-6).sqrt()).clamp(max=max_gain)
    colour = torch.matmul(axes.transpose(1, 2), gain * axes)
    return (torch.matmul(colour, rgb.flatten(2) - centre) + mean[..., None]).reshape(rgb.shape)


# The run-time graphs measure the palette on every third pixel each way: a ninth of the work, and
# odd, so that it does not lock onto the network's 2-pixel checker (an even step reads one phase
# of it: 15 levels off on average; every third pixel: 0.3).
RUN_PALETTE_SAMPLE = 3


class AnyStyleNet(nn.Module):
    """A `TransformerNet` for any painting: every instance norm takes its scale and shift from
    a style code (Ghiasi et al. 2017), one linear map from the code to all of them, and the
    output takes the painting's colour statistics (`match_palette`). The style input is the
    code (from `PaintingEncoder`, once per painting) followed by the painting's PALETTE_STATS;
    blends of paintings are blends of both. A zero code gives the network's base strokes (the
    fast model it was initialized from)."""

    def __init__(self, config: NetConfig, code_size: int = 100):
        super().__init__()
        self.config, self.code_size = config, code_size
        self.net = TransformerNet(config)
        self.norms: list[StyleNorm] = []
        for parent in list(self.net.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.InstanceNorm2d):
                    norm = StyleNorm(child)
                    setattr(parent, name, norm)
                    self.norms.append(norm)
        self.to_norms = nn.Linear(code_size, 2 * sum(n.weight.numel() for n in self.norms))
        nn.init.zeros_(self.to_norms.weight)
        nn.init.zeros_(self.to_norms.bias)
        self.stride = self.net.stride

    def set_code(self, code: torch.Tensor) -> None:
        """Sets every norm's offsets from N×code_size codes (one per image, or one for all)."""
        params = self.to_norms(code)
        start = 0
        for norm in self.norms:
            c = norm.weight.numel()
            norm.offsets = (params[:, start : start + c], params[:, start + c : start + 2 * c])
            start += 2 * c

    def forward(self, x: torch.Tensor, style: torch.Tensor, palette_sample: int = 1) -> torch.Tensor:
        self.set_code(style[:, : self.code_size])
        return match_palette(self.net(x), style[:, self.code_size :], sample=palette_sample)

    def body(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """The network on a padded frame, before its colours (`finish` them once cropped)."""
        self.set_code(style[:, : self.code_size])
        return self.net.body(x)

    def finish(self, y: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """The colours of the run-time graphs (`forward`, for training, measures every pixel by default)."""
        return match_palette(y, style[:, self.code_size :], sample=RUN_PALETTE_SAMPLE)


class OneStyleNet(nn.Module):
    """An `AnyStyleNet` with its style input fixed: an ordinary one-input style network."""

    def __init__(self, net: AnyStyleNet, style: torch.Tensor):
        super().__init__()
        self.net, self.stride = net, net.stride
        self.register_buffer("style", style)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.style)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.body(x, self.style)

    def finish(self, y: torch.Tensor) -> torch.Tensor:
        return self.net.finish(y, self.style)

    def folded(self) -> "FoldedStyleNet":
        """The same network with the style's norm offsets folded into plain instance norms (for export)."""
        return FoldedStyleNet(self)


class FoldedStyleNet(nn.Module):
    """A `OneStyleNet` as an ordinary `TransformerNet` (each norm's scale and shift the base plus
    the style's offset) followed by its painting's colours: the graph of a bundled fast model
    plus the colour step, without a per-norm multiply and add over the feature maps."""

    def __init__(self, one: OneStyleNet):
        super().__init__()
        any_net = one.net
        self.net, self.stride = TransformerNet(any_net.config), one.stride
        weights = any_net.net.state_dict()
        with torch.no_grad():
            any_net.set_code(one.style[:1, : any_net.code_size])
            for name, module in any_net.net.named_modules():
                if isinstance(module, StyleNorm):
                    weights[f"{name}.weight"] = module.weight + module.offsets[0][0]
                    weights[f"{name}.bias"] = module.bias + module.offsets[1][0]
        self.net.load_state_dict(weights)
        self.register_buffer("palette", one.style[:1, any_net.code_size :].detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return match_palette(self.net(x), self.palette)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.body(x)

    def finish(self, y: torch.Tensor) -> torch.Tensor:
        return match_palette(y, self.palette, sample=RUN_PALETTE_SAMPLE)


class PaintingEncoder(nn.Module):
    """A painting (RGB 0..1, any size) → its style code: the channel means and standard
    deviations of VGG19's relu1_1..relu4_1 (frozen), standardized by the training paintings'
    statistics, through a two-layer MLP."""

    LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    STATS = 2 * (64 + 128 + 256 + 512)

    def __init__(self, code_size: int = 100, hidden: int = 256, vgg_weights: str | None = None):
        super().__init__()
        from .vgg import VGG19

        self.vgg = VGG19(vgg_weights, last_layer="relu4_1")
        self.register_buffer("stat_mean", torch.zeros(self.STATS))
        self.register_buffer("stat_std", torch.ones(self.STATS))
        self.mlp = nn.Sequential(nn.Linear(self.STATS, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, code_size))

    def statistics(self, rgb01: torch.Tensor) -> torch.Tensor:
        """N×STATS raw feature statistics (no gradient needed: the VGG is frozen)."""
        feats = self.vgg(rgb01, self.LAYERS)
        parts = []
        for name in self.LAYERS:
            f = feats[name].float().flatten(2)
            parts += [f.mean(2), (f.var(2, unbiased=False) + 1e-5).sqrt()]
        return torch.cat(parts, 1)

    def code(self, stats: torch.Tensor) -> torch.Tensor:
        return self.mlp((stats - self.stat_mean) / self.stat_std)

    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        return self.code(self.statistics(rgb01))
