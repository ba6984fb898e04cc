"""Any painting as a style, with no training: the bundled any-painting network.

    from rtstyle.anystyle import open_painting_stylizer
    stylizer = open_painting_stylizer(["my-painting.jpg"])   # a Stylizer, like a bundled model's
    out = stylizer(frame)

Two graphs ship in `models/`: `anystyle-encoder.onnx` turns a painting (at `ENCODE_SIDE` px on
its longer side) into a style code of 100 numbers, once per painting (cached by the file's
hash); `anystyle.onnx` is a fast-tier network whose instance norms take their scales and
shifts from that code (Ghiasi et al. 2017), run per frame like any bundled model with the code
as its second input. Several paintings blend by a weighted mean of their codes. The design,
data and held-out paintings are on its card in models/README.md. No torch here.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .errors import UserError
from .imageio import list_images, read_image
from .registry import ANYSTYLE_ENCODER, ANYSTYLE_MODEL, cache_dir, file_sha256, models_dir

ENCODE_SIDE = 512  # the painting's longer side when encoded: the size the network trained with
MIN_SIDE = 16  # smaller paintings hold no strokes to learn from
MAX_ASPECT = 4.0  # a wider panorama is encoded from its central 4:1 part
LIMITS = ("it takes a painting's colours and brush texture, not its shapes or composition; strokes come at the "
          "network's one scale (--stroke-scale resizes them); `rtstyle learn` makes a closer network for one painting")
PALETTE_SIZE = 15  # the style input's last numbers: the painting's colours (`palette_statistics`)


def painting_paths(styles: list[str | os.PathLike]) -> list[Path]:
    """The painting files named: files as given, folders expanded to their images (sorted)."""
    paths: list[Path] = []
    for entry in styles:
        p = Path(entry)
        if p.is_dir():
            found = list_images(p)
            if not found:
                raise UserError(f"no images found in the painting folder {p}")
            paths += found
        else:
            paths.append(p)
    if not paths:
        raise UserError("no painting given")
    return paths


def load_painting(path: str | os.PathLike) -> np.ndarray:
    """A painting as the encoder takes it: BGR uint8, `ENCODE_SIDE` px on its longer side."""
    image = read_image(path)  # header checked first: missing, corrupt, too many pixels → one line
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise UserError(f"painting {path} is {w}x{h}: too small to take a style from (at least {MIN_SIDE} px a side)")
    if max(h, w) > MAX_ASPECT * min(h, w):
        keep = int(MAX_ASPECT * min(h, w))
        image = image[(h - keep) // 2 : (h + keep) // 2] if h > w else image[:, (w - keep) // 2 : (w + keep) // 2]
        h, w = image.shape[:2]
    scale = ENCODE_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def palette_statistics(rgb: np.ndarray) -> np.ndarray:
    """A painting's colours as `AnyStyleNet` takes them (RGB uint8 H×W×3 in): float32 [mean RGB
    (0..1), the covariance's eigenvectors as rows, the standard deviation along each]."""
    x = rgb.reshape(-1, 3).astype(np.float64) / 255
    mean = x.mean(0)
    return _palette_from_moments(mean, np.cov(x, rowvar=False, bias=True))


def _palette_from_moments(mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    variances, vectors = np.linalg.eigh(cov)
    return np.concatenate([mean, vectors.T.ravel(), np.sqrt(np.clip(variances, 0, None))]).astype(np.float32)


def _palette_moments(palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, axes, spread = palette[:3].astype(np.float64), palette[3:12].reshape(3, 3).astype(np.float64), palette[12:15].astype(np.float64)
    return mean, axes.T @ np.diag(spread**2) @ axes


class PaintingEncoder:
    """Style codes of paintings, from the encoder graph, cached in memory and on disk by the
    painting file's hash (and the encoder's)."""

    def __init__(self, encoder: str | os.PathLike | None = None, threads: int | None = None):
        import onnxruntime as ort

        from .stylizer import ENCODER_FORMAT

        self.path = Path(encoder) if encoder else models_dir() / f"{ANYSTYLE_ENCODER}.onnx"
        if not self.path.is_file():
            raise UserError(f"the any-painting encoder is missing: {self.path}")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise UserError(f"cannot load the painting encoder {self.path}: {str(e).splitlines()[0][:160]}") from None
        if self.session.get_modelmeta().custom_metadata_map.get("rtstyle.format") != ENCODER_FORMAT:
            raise UserError(f"{self.path} is not an rtstyle painting encoder")
        self.key = file_sha256(self.path)[:16]
        self.codes: dict[str, np.ndarray] = {}

    def __call__(self, painting: str | os.PathLike) -> np.ndarray:
        """The 1×code_size float32 style code of a painting file."""
        digest = file_sha256(painting) if Path(painting).is_file() else ""
        if digest in self.codes:
            return self.codes[digest]
        image = load_painting(painting)
        cached = cache_dir() / "anystyle" / "codes" / f"{digest[:32]}-{self.key}.npy"
        try:
            code = np.load(cached)
        except (OSError, ValueError):
            code = self.session.run(None, {"painting": image[None]})[0].astype(np.float32)
            code = np.concatenate([code, palette_statistics(np.ascontiguousarray(image[..., ::-1]))[None]], axis=1)
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
                with open(tmp, "wb") as f:
                    np.save(f, code)
                os.replace(tmp, cached)
            except OSError:
                pass  # a read-only cache only costs the encoding next time
        self.codes[digest] = code
        return code


def blend_codes(codes: list[np.ndarray], weights: list[float] | None = None) -> np.ndarray:
    """Several paintings' style inputs as one (weights ≥ 0, normalized to sum to 1): the weighted
    mean of the codes, and the colours of the paintings' pixels pooled in those proportions."""
    w = np.ones(len(codes)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(w) != len(codes):
        raise UserError(f"{len(codes)} paintings but {len(w)} weights: give one weight per painting")
    if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise UserError("painting weights must be numbers ≥ 0 with a positive sum")
    w = w / w.sum()
    stacked = np.stack([c[0] for c in codes]).astype(np.float64)
    moments = [_palette_moments(c[-PALETTE_SIZE:]) for c in stacked]
    mean = sum(wi * m for wi, (m, _) in zip(w, moments))
    cov = sum(wi * (c + np.outer(m - mean, m - mean)) for wi, (m, c) in zip(w, moments))
    code = w @ stacked[:, :-PALETTE_SIZE]
    return np.concatenate([code, _palette_from_moments(mean, cov)])[None].astype(np.float32)


def painting_label(paths: list[Path], weights: list[float] | None = None) -> str:
    if len(paths) == 1:
        return paths[0].name
    w = np.ones(len(paths)) if weights is None else np.asarray(weights, dtype=np.float64)
    return " + ".join(f"{p.name} {x / w.sum():.0%}" for p, x in zip(paths, w))


def use_paintings(stylizer, encoder: PaintingEncoder, paths: list[Path], weights: list[float] | None = None) -> None:
    """Point an any-painting `Stylizer` at one painting or a blend of several."""
    stylizer.style_code = blend_codes([encoder(p) for p in paths], weights)
    stylizer.metadata["rtstyle.style"] = painting_label(paths, weights)
    stylizer.metadata["rtstyle.name"] = f"{ANYSTYLE_MODEL}: {painting_label(paths, weights)}"


def open_painting_stylizer(styles: list[str | os.PathLike], weights: list[float] | None = None,
                           provider: str = "auto", threads: int | None = None, model: str | os.PathLike | None = None):
    """A `Stylizer` running the any-painting network on `styles` (files or folders; several
    are blended by `weights`, default equal). `model`: another any-painting .onnx file than
    the bundled one (its encoder beside it, named `*-encoder.onnx`)."""
    from .stylizer import Stylizer

    paths = painting_paths(styles)
    path = Path(model) if model else models_dir() / f"{ANYSTYLE_MODEL}.onnx"
    stylizer = Stylizer(path, provider=provider, threads=threads)
    if not stylizer.code_size:
        raise UserError(f"{stylizer.path} is not an any-painting model")
    stylizer.painting_encoder = PaintingEncoder(path.with_name(path.stem + "-encoder.onnx"), threads=threads)
    use_paintings(stylizer, stylizer.painting_encoder, paths, weights)
    return stylizer
