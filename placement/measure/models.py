"""The profiler's models: built-in ONNX graphs made with the ``onnx`` helper API (no downloads)
and the user's ``.onnx`` files, with what the graph says about them (FLOPs, parameter bytes).

The built-ins span the behaviours that make co-location hurt on a CPU:

* ``mlp-*``: dense layers; compute-bound while the weights fit the cache, streaming weights
  from DRAM once they do not (``mlp-l`` holds 67 MB);
* ``cnn-*``: 3x3 convolutions; compute-bound, small weights, activations in cache;
* ``transformer-*``: one encoder block (multi-head attention, layer norms, feed-forward);
* ``embed-*``: an embedding-bag lookup (``Gather`` then a sum) at random rows of a table of
  up to 128 MB; memory-latency bound, almost no arithmetic.

Weights are drawn from a generator seeded by the model's name, so a name is the same graph on
every machine and every run.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from placement.formats.errors import InputError

OPSET = 17  # LayerNormalization is in the default domain from opset 17
IR_VERSION = 8  # what opset 17 needs; ONNX Runtime loads it on every supported release


@dataclass(frozen=True)
class ModelSource:
    """One model to profile: its name (CSV and catalog), the file to load, and how to draw
    its integer inputs (``int_bounds``: input name -> exclusive upper bound)."""

    name: str
    path: Path
    int_bounds: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- graph building


class _Graph:
    """A small builder over ``onnx.helper``: nodes, initializers, fresh names."""

    def __init__(self, name: str):
        self.name = name
        self.rng = np.random.default_rng(zlib.crc32(name.encode()))
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count = 0

    def fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def weight(self, shape: tuple[int, ...], fan_in: int | None = None) -> str:
        scale = 1.0 / math.sqrt(fan_in or shape[0])
        values = (self.rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)
        return self.constant(values, "w")

    def constant(self, values: np.ndarray, stem: str = "c") -> str:
        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(values, name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def dense(self, x: str, d_in: int, d_out: int) -> str:
        y = self.op("MatMul", [x, self.weight((d_in, d_out), d_in)])
        return self.op("Add", [y, self.constant(np.zeros(d_out, np.float32), "b")])

    def finish(self, inputs: list[onnx.ValueInfoProto], output: str, shape: list[int],
               ) -> onnx.ModelProto:
        self.nodes.append(helper.make_node("Identity", [output], ["output"]))
        graph = helper.make_graph(
            self.nodes, self.name, inputs,
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)], self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="placement")
        model.ir_version = IR_VERSION
        return model


def mlp(name: str, width: int, layers: int) -> onnx.ModelProto:
    g = _Graph(name)
    x = "input"
    for _ in range(layers):
        x = g.op("Relu", [g.dense(x, width, width)])
    return g.finish([helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, width])],
                    x, [1, width])


def cnn(name: str, channels: int, size: int, blocks: int) -> onnx.ModelProto:
    """3x3 convolutions with ReLU, a 2x2 max-pool after each block but the last, then global
    average pooling and a 10-way classifier."""
    g = _Graph(name)
    x, c_in = "input", 3
    for b in range(blocks):
        c_out = channels * 2**b
        for _ in range(2):
            w = g.weight((c_out, c_in, 3, 3), c_in * 9)
            x = g.op("Relu", [g.op("Conv", [x, w], pads=[1, 1, 1, 1])])
            c_in = c_out
        if b < blocks - 1:
            x = g.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])])
    x = g.dense(x, c_in, 10)
    shape = [1, 3, size, size]
    return g.finish([helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)], x, [1, 10])


def transformer(name: str, seq: int, width: int, heads: int) -> onnx.ModelProto:
    """One post-norm encoder block: multi-head self-attention and a 4x feed-forward layer."""
    g = _Graph(name)
    head = width // heads
    x = "input"

    def split_heads(t: str) -> str:  # [1, seq, width] -> [1, heads, seq, head]
        shape = g.constant(np.array([1, seq, heads, head], np.int64), "shape")
        return g.op("Transpose", [g.op("Reshape", [t, shape])], perm=[0, 2, 1, 3])

    q, k, v = (split_heads(g.dense(x, width, width)) for _ in range(3))
    scores = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])
    scale = g.constant(np.array(1.0 / math.sqrt(head), np.float32), "scale")
    attn = g.op("Softmax", [g.op("Mul", [scores, scale])], axis=-1)
    ctx = g.op("Transpose", [g.op("MatMul", [attn, v])], perm=[0, 2, 1, 3])
    ctx = g.op("Reshape", [ctx, g.constant(np.array([1, seq, width], np.int64), "shape")])

    def norm(t: str) -> str:
        gamma = g.constant(np.ones(width, np.float32), "gamma")
        beta = g.constant(np.zeros(width, np.float32), "beta")
        return g.op("LayerNormalization", [t, gamma, beta], axis=-1)

    x = norm(g.op("Add", [x, g.dense(ctx, width, width)]))
    ffn = g.dense(g.op("Relu", [g.dense(x, width, 4 * width)]), 4 * width, width)
    x = norm(g.op("Add", [x, ffn]))
    shape = [1, seq, width]
    return g.finish([helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)], x, shape)


def embedding(name: str, rows: int, dim: int, lookups: int) -> onnx.ModelProto:
    """An embedding bag: ``lookups`` random rows of a ``rows x dim`` table, summed."""
    g = _Graph(name)
    table = g.constant(
        g.rng.standard_normal((rows, dim), dtype=np.float32).astype(np.float32), "table"
    )
    gathered = g.op("Gather", [table, "ids"], axis=0)
    axes = g.constant(np.array([1], np.int64), "axes")
    x = g.op("ReduceSum", [gathered, axes], keepdims=0)
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, [1, lookups])
    return g.finish([ids], x, [1, dim])


#: Built-in models: name -> (builder, integer-input bounds). Sizes: s fits the L2 cache, m the
#: L3 of a typical server, l spills to DRAM.
BUILTINS: dict[str, tuple[Callable[[str], onnx.ModelProto], dict[str, int]]] = {
    "mlp-s": (lambda n: mlp(n, 256, 3), {}),
    "mlp-m": (lambda n: mlp(n, 1024, 4), {}),
    "mlp-l": (lambda n: mlp(n, 2048, 4), {}),
    "cnn-s": (lambda n: cnn(n, 8, 32, 2), {}),
    "cnn-m": (lambda n: cnn(n, 16, 64, 3), {}),
    "cnn-l": (lambda n: cnn(n, 32, 112, 3), {}),
    "transformer-s": (lambda n: transformer(n, 16, 64, 2), {}),
    "transformer-m": (lambda n: transformer(n, 64, 256, 4), {}),
    "transformer-l": (lambda n: transformer(n, 128, 512, 8), {}),
    "embed-s": (lambda n: embedding(n, 16_384, 64, 256), {"ids": 16_384}),
    "embed-m": (lambda n: embedding(n, 131_072, 64, 1024), {"ids": 131_072}),
    "embed-l": (lambda n: embedding(n, 524_288, 64, 4096), {"ids": 524_288}),
}


def builtin_model(name: str) -> onnx.ModelProto:
    return BUILTINS[name][0](name)


def resolve_models(specs: list[str], folder: Path) -> list[ModelSource]:
    """Built-in names and ``.onnx`` paths -> sources; built-ins are written into ``folder``.

    A path's model is named by its file stem. Unknown names, unreadable or invalid files and
    duplicate names are an :class:`InputError` naming the argument."""
    out: list[ModelSource] = []
    problems: list[tuple[str, str]] = []
    for i, spec in enumerate(specs):
        where = f"MODEL[{i}]"
        if spec in BUILTINS:
            path = folder / f"{spec}.onnx"
            if not path.exists():
                onnx.save(builtin_model(spec), str(path))
            out.append(ModelSource(spec, path, dict(BUILTINS[spec][1])))
        elif spec.endswith(".onnx"):
            path = Path(spec)
            try:
                onnx.checker.check_model(str(path))
            except FileNotFoundError:
                problems.append((where, f"file not found: {spec}"))
                continue
            except Exception as exc:  # onnx raises several types for a broken file
                problems.append((where, f"not a valid ONNX model: {spec} ({exc})"))
                continue
            out.append(ModelSource(path.stem, path.resolve()))
        else:
            problems.append((where, f"unknown model {spec!r}; expected an .onnx file or one "
                                    f"of the built-ins {', '.join(BUILTINS)}"))
    seen: set[str] = set()
    for i, m in enumerate(out):
        if m.name in seen:
            problems.append((f"MODEL[{i}]", f"duplicate model name {m.name!r}"))
        seen.add(m.name)
    if problems:
        raise InputError("placement profile", problems)
    return out


# --------------------------------------------------------------------------- graph features


@dataclass(frozen=True)
class GraphFeatures:
    """What the graph says: FLOPs per inference (2 per multiply-add, convolutions and matrix
    products only), parameter bytes, and bytes of parameters touched per inference (a
    ``Gather`` touches the rows it reads, not its whole table)."""

    gflops: float
    param_mb: float
    touched_mb: float


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Static shape of every value shape inference can tell; unknown dimensions count as 1."""
    inferred = onnx.shape_inference.infer_shapes(model)
    out: dict[str, list[int]] = {}
    g = inferred.graph
    for vi in [*g.input, *g.value_info, *g.output]:
        t = vi.type.tensor_type
        if t.HasField("shape"):
            out[vi.name] = [d.dim_value if d.dim_value > 0 else 1 for d in t.shape.dim]
    for init in g.initializer:
        out[init.name] = list(init.dims)
    return out


def graph_features(model: onnx.ModelProto) -> GraphFeatures:
    shapes = _shapes(model)
    inits = {i.name: i for i in model.graph.initializer}

    def nbytes(init: onnx.TensorProto) -> int:
        dtype = helper.tensor_dtype_to_np_dtype(init.data_type)
        return int(np.prod(init.dims, dtype=np.int64)) * np.dtype(dtype).itemsize

    macs = 0
    touched = 0
    gathered: set[str] = set()
    for node in model.graph.node:
        ins = [shapes.get(n) for n in node.input]
        out = shapes.get(node.output[0]) if node.output else None
        if node.op_type in ("MatMul", "Gemm") and ins[0] and ins[1] and out:
            trans_a = next((a.i for a in node.attribute if a.name == "transA"), 0)
            k = ins[0][0] if node.op_type == "Gemm" and trans_a else ins[0][-1]
            macs += int(np.prod(out, dtype=np.int64)) * k
        elif node.op_type == "Conv" and ins[1] and out:
            macs += int(np.prod(out, dtype=np.int64)) * int(np.prod(ins[1][1:], dtype=np.int64))
        elif node.op_type == "Gather" and node.input[0] in inits and out:
            gathered.add(node.input[0])
            itemsize = np.dtype(
                helper.tensor_dtype_to_np_dtype(inits[node.input[0]].data_type)).itemsize
            touched += int(np.prod(out, dtype=np.int64)) * itemsize
    params = sum(nbytes(i) for i in inits.values())
    touched += sum(nbytes(i) for n, i in inits.items() if n not in gathered)
    return GraphFeatures(gflops=2 * macs / 1e9, param_mb=params / 1e6, touched_mb=touched / 1e6)
