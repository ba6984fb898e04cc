"""Big pictures in tiles with the instance-norm statistics of the whole picture: bounded memory, no seams.

A style network's memory grows with the picture: the quality tier needs about 0.9 KB per pixel
on CPU (10.3 GB for a 12 MP photo at its native size). Cut into tiles that each normalize with
their own statistics, the tiles differ in tone and the seams show; statistics measured on a
shrunk copy are those of another scale, and blotches appear. Here the statistics are exact:

- the network's ONNX graph is rewritten (at load time, with the `onnx` package; the shipped
  files are unchanged) so that each InstanceNormalization becomes x·a + c, with a = γ/√(var+ε)
  and c = β − mean·a as graph inputs;
- the statistics are measured layer by layer: the graph cut just before normalization k runs
  on every tile with layers 0..k−1 already fixed, and the mean and variance of its output over
  the tiles' cores (no pixel counted twice) are those of the whole picture;
- with every statistic fixed the network is a local operator, so overlapping tiles (overlap >
  receptive field) give the whole-picture result, to a level of rounding.

The colour step of the any-painting and `learn` models (`networks.match_palette`) measures the
whole picture too: the mean and covariance of its input are summed over the tiles' cores, and
the graph's strided sample of that input becomes a graph input, fed six colours with exactly
that mean and covariance.

Memory is one tile's worth whatever the picture size; the price is time: each cut graph is run
over the whole picture (a 12 MP photo, quality tier, CPU: 956 s and 2.5 GB against 186 s and
10.3 GB whole).
"""

from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort

from .errors import UserError, positive_env_number

TILE_SIDE = 1024  # a tile's side, overlap included: about 1 GB for the quality tier on CPU
OVERLAP = 64  # pixels on each side of a tile's core: more than the networks' receptive field radius
BUDGET_VAR = "RTSTYLE_MAX_NETWORK_GB"
DEFAULT_BUDGET_GB = 3.0  # a laptop with 8 GB keeps room for the rest
ALWAYS_WHOLE = 1_000_000  # pixels: under this, every bundled network fits in well under 1 GB
# Peak bytes per pixel ≈ this × 4 bytes × the largest channels / stride² of any normalized tensor
# (measured on CPU: quality tier 860 B/px, estimated 1024; fast tier 129 B/px, estimated 128).
_LIVE_TENSORS = 8


def network_budget() -> int:
    """Bytes a whole-picture run may take: RTSTYLE_MAX_NETWORK_GB, default 3."""
    return int(positive_env_number(BUDGET_VAR, DEFAULT_BUDGET_GB, "gigabytes") * 1e9)


class TiledStylizer:
    """A Stylizer whose memory stays within a budget at any picture size.

    A picture whose whole-picture run would take more than `budget` bytes (network_budget() by
    default) goes in tiles with exact whole-picture statistics (slower: see the module docstring).
    `stylizer` is an rtstyle Stylizer: its model file, session options and providers are reused.
    Call it like the Stylizer: uint8 BGR H×W×3 in, the same out; `last_tiles` says how many
    tiles the last picture took (0: it ran whole).
    """

    def __init__(self, stylizer, budget: int | None = None, tile_side: int = TILE_SIDE, overlap: int = OVERLAP,
                 always_whole: int = ALWAYS_WHOLE):
        self.stylizer = stylizer
        self.budget = network_budget() if budget is None else budget
        self.always_whole = always_whole
        self.tile_side, self.overlap = tile_side, overlap
        self.last_tiles = 0
        self._graphs: _NormGraphs | None = None  # built on the first big picture

    def __getattr__(self, name):  # name, tier, provider, describe(), ... of the Stylizer
        return getattr(self.stylizer, name)

    def max_pixels(self) -> int:
        """The largest picture (width × height) that runs whole within the budget."""
        return max(self.always_whole, int(self.budget / self.graphs().bytes_per_pixel))

    def graphs(self) -> _NormGraphs:
        if self._graphs is None:
            self._graphs = _NormGraphs(self.stylizer)
        return self._graphs

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        self.last_tiles = 0
        pixels = frame.shape[0] * frame.shape[1] if frame.ndim == 3 else 0
        if pixels <= self.always_whole or pixels <= self.max_pixels():
            return self.stylizer(frame)
        graphs = self.graphs()
        tiles = _Tiles(frame.shape[0], frame.shape[1], self.tile_side, self.overlap, graphs.multiple)
        self.last_tiles = len(tiles.boxes)
        return graphs.run_tiled(frame, tiles, graphs.measure(frame, tiles, self.stylizer.code_feed()))

    stylize = __call__


class _Tiles:
    """Overlapping tiles over an H×W picture; origins and cores on multiples of the network's stride."""

    def __init__(self, height: int, width: int, tile_side: int, overlap: int, multiple: int):
        overlap = math.ceil(overlap / multiple) * multiple
        core = (tile_side - 2 * overlap) // multiple * multiple
        if core <= 0:
            raise ValueError(f"tile side {tile_side} leaves no core inside an overlap of {overlap}")
        self.height, self.width, self.multiple = height, width, multiple
        self.boxes = []  # (y0, y1, x0, x1) of the tile, (cy0, cy1, cx0, cx1) of its core
        for cy0 in range(0, height, core):
            for cx0 in range(0, width, core):
                cy1, cx1 = min(height, cy0 + core), min(width, cx0 + core)
                box = (max(0, cy0 - overlap), min(height, cy1 + overlap), max(0, cx0 - overlap), min(width, cx1 + overlap))
                self.boxes.append((box, (cy0, cy1, cx0, cx1)))

    def feature_core(self, box, core, feature_shape) -> tuple[slice, slice]:
        """The rows and columns of a tile's feature map that belong to its core."""
        (y0, y1, x0, x1), (cy0, cy1, cx0, cx1) = box, core
        fh, fw = feature_shape
        padded_h = math.ceil((y1 - y0) / self.multiple) * self.multiple  # the graph pads to a multiple
        stride = padded_h // fh
        # At the picture's end, the rows the graph padded on count, as in a whole-picture run.
        rows = slice((cy0 - y0) // stride, fh if cy1 == self.height else (cy1 - y0) // stride)
        cols = slice((cx0 - x0) // stride, fw if cx1 == self.width else (cx1 - x0) // stride)
        return rows, cols


class _NormGraphs:
    """The fixed-statistics graph of one style model, and its cuts before each normalization."""

    def __init__(self, stylizer):
        import onnx  # only here: big pictures are its only user, and it takes a while to import
        from onnx import helper, numpy_helper
        from onnx.utils import Extractor

        model = onnx.load(str(stylizer.path))
        norms = [n for n in model.graph.node if n.op_type == "InstanceNormalization"]
        if not norms:
            raise UserError(
                f"{stylizer.path} has no instance normalization, so a picture over its memory budget cannot run in tiles; "
                f"use --max-side or a larger --stroke-scale (or a larger {BUDGET_VAR})"
            )
        weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.input_name, self.output_name = stylizer.input_name, stylizer.output_name
        self.code_inputs = [i.name for i in model.graph.input if i.name != self.input_name and i.name not in weights]
        self.layers = []  # (γ, β, ε, name of the normalized tensor, names of a and c) per normalization
        nodes = []
        for node in model.graph.node:
            if node.op_type != "InstanceNormalization":
                nodes.append(node)
                continue
            k = len(self.layers)
            eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
            a, c = f"rtstyle_norm{k}_a", f"rtstyle_norm{k}_c"
            self.layers.append((weights[node.input[1]].astype(np.float64), weights[node.input[2]].astype(np.float64), eps, node.input[0], a, c))
            nodes += [
                helper.make_node("Mul", [node.input[0], a], [f"rtstyle_norm{k}_scaled"]),
                helper.make_node("Add", [f"rtstyle_norm{k}_scaled", c], [node.output[0]]),
            ]
            model.graph.input.extend([helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [1, None, 1, 1]) for n in (a, c)])
        del model.graph.node[:]
        model.graph.node.extend(nodes)
        used = {name for node in nodes for name in node.input}
        kept = [i for i in model.graph.initializer if i.name in used]
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept)
        # An any-painting model's style code is an input of every cut. The colour step's sample of
        # its input (strided Slices: nothing else in these graphs strides) becomes a graph input.
        strided = [n for n in nodes if n.op_type == "Slice" and len(n.input) > 4 and np.any(weights.get(n.input[4], 1) > 1)]
        palette_input = self.palette_sample = None
        if strided:
            sliced = {n.output[0] for n in strided}
            palette_input = next(n.input[0] for n in strided if n.input[0] not in sliced)
            self.palette_sample = next(n.output[0] for n in strided if n.output[0] not in {m.input[0] for m in strided})
            self.palette_step = int(np.max(weights[strided[0].input[4]]))
            kept_nodes = [n for n in model.graph.node if n.output[0] not in sliced]
            del model.graph.node[:]
            model.graph.node.extend(kept_nodes)
            model.graph.input.append(helper.make_tensor_value_info(self.palette_sample, onnx.TensorProto.FLOAT, [1, 3, 1, None]))
        self.fixed = model
        # The extractor names a cut's output from value_info: the normalized tensors get one.
        cut_outputs = [layer[3] for layer in self.layers] + ([palette_input] if strided else [])
        model.graph.value_info.extend([helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in cut_outputs])
        extractor = Extractor(model)
        coefficients = [n for layer in self.layers for n in layer[4:]]
        self.cuts = [
            extractor.extract_model([self.input_name, *self.code_inputs, *(n for layer in self.layers[:k] for n in layer[4:])], [layer[3]])
            for k, layer in enumerate(self.layers)
        ]
        self.palette_cut = extractor.extract_model([self.input_name, *self.code_inputs, *coefficients], [palette_input]) if strided else None
        session = stylizer.session
        self._options = session.get_session_options()
        # Not TensorRT: it would build an engine for every cut graph and tile shape.
        self._providers = [p for p in session.get_providers() if p != "TensorrtExecutionProvider"]
        self._provider_options = [session.get_provider_options().get(p, {}) for p in self._providers]
        self.multiple, self.bytes_per_pixel = self._probe(stylizer.code_feed())

    def _session(self, model) -> ort.InferenceSession:
        return ort.InferenceSession(model.SerializeToString(), self._options, providers=self._providers,
                                    provider_options=self._provider_options)

    def _probe(self, code_feed: dict[str, np.ndarray]) -> tuple[int, float]:
        """The largest downsampling factor of a normalized tensor (the graph pads the picture to a
        multiple of it), and the estimated peak bytes per pixel of a whole-picture run."""
        side = 64
        feeds = {self.input_name: np.zeros((1, side, side, 3), np.uint8), **code_feed}
        for gamma, beta, eps, x, a, c in self.layers:
            feeds[a] = np.ones((1, len(gamma), 1, 1), np.float32)
            feeds[c] = np.zeros((1, len(gamma), 1, 1), np.float32)
        shapes = []
        for cut in self.cuts:
            names = {i.name for i in cut.graph.input}
            shapes.append(self._session(cut).run(None, {k: v for k, v in feeds.items() if k in names})[0].shape)
        multiple = max(side // shape[2] for shape in shapes)
        per_pixel = max(shape[1] * shape[2] * shape[3] / side**2 for shape in shapes)  # channels / stride²
        return multiple, _LIVE_TENSORS * 4 * per_pixel

    def measure(self, frame: np.ndarray, tiles: _Tiles, code_feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The graph inputs besides the frame: the style code as given, and the a and c of every
        normalization, from the statistics of the whole picture."""
        feeds: dict[str, np.ndarray] = dict(code_feed)
        for cut, (gamma, beta, eps, x, a, c) in zip(self.cuts, self.layers):
            session = self._session(cut)  # one at a time: each keeps its own memory arena
            sums, squares, count = np.zeros(len(gamma)), np.zeros(len(gamma)), 0
            for box, core in tiles.boxes:
                y0, y1, x0, x1 = box
                feeds[self.input_name] = np.ascontiguousarray(frame[y0:y1, x0:x1])[None]
                features = session.run([x], feeds)[0][0]
                rows, cols = tiles.feature_core(box, core, features.shape[1:])
                part = features[:, rows, cols].astype(np.float64)
                sums += part.sum(axis=(1, 2))
                squares += np.square(part).sum(axis=(1, 2))
                count += part.shape[1] * part.shape[2]
            del session
            mean = sums / count
            var = np.maximum(squares / count - mean**2, 0)
            scale = gamma / np.sqrt(var + eps)
            feeds[a] = scale.reshape(1, -1, 1, 1).astype(np.float32)
            feeds[c] = (beta - mean * scale).reshape(1, -1, 1, 1).astype(np.float32)
        feeds.pop(self.input_name, None)
        return feeds

    def _palette_moments(self, frame: np.ndarray, tiles: _Tiles, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of the colour step's input over the whole picture, on the pixels a
        whole-picture run samples (every `palette_step`-th row and column from the top left)."""
        session, step = self._session(self.palette_cut), self.palette_step
        sums, products, count = np.zeros(3), np.zeros((3, 3)), 0
        for (y0, y1, x0, x1), (cy0, cy1, cx0, cx1) in tiles.boxes:
            rgb = session.run(None, {**feeds, self.input_name: np.ascontiguousarray(frame[y0:y1, x0:x1])[None]})[0][0]
            core = rgb[:, cy0 - y0 + (-cy0) % step : cy1 - y0 : step, cx0 - x0 + (-cx0) % step : cx1 - x0 : step]
            pixels = core.reshape(3, -1).astype(np.float64)
            sums += pixels.sum(1)
            products += pixels @ pixels.T
            count += pixels.shape[1]
        mean = sums / count
        return mean, products / count - np.outer(mean, mean)

    def run_tiled(self, frame: np.ndarray, tiles: _Tiles, coefficients: dict[str, np.ndarray]) -> np.ndarray:
        """Stylize `frame` tile by tile with the given inputs (`measure`); each tile's core is kept."""
        session = self._session(self.fixed)
        out = np.empty_like(frame)
        feeds = dict(coefficients)
        if self.palette_sample:
            feeds[self.palette_sample] = _colours_with_moments(*self._palette_moments(frame, tiles, feeds))
        for (y0, y1, x0, x1), (cy0, cy1, cx0, cx1) in tiles.boxes:
            feeds[self.input_name] = np.ascontiguousarray(frame[y0:y1, x0:x1])[None]
            result = session.run([self.output_name], feeds)[0][0]
            out[cy0:cy1, cx0:cx1] = result[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        return out


def _colours_with_moments(mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Six RGB colours (1×3×1×6) whose mean and covariance are exactly these: mean ± √3 times
    each column of the covariance's square root."""
    variances, vectors = np.linalg.eigh(cov)
    root = vectors * np.sqrt(np.clip(variances, 0, None))
    colours = np.concatenate([mean[:, None] + np.sqrt(3) * root, mean[:, None] - np.sqrt(3) * root], axis=1)
    return colours[None, :, None, :].astype(np.float32)
