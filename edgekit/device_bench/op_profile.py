"""Time per op type, and why one variant of a network is slower than another.

The LiteRT Python wheel ships no per-op profiler (the C++ ``benchmark_model --enable_op_profiling`` tool is not in
it), so for ``.tflite`` edgekit measures each op **in isolation**: it cuts every operator out of the flatbuffer into
a one-op model (with its constant weights, and the DEQUANTIZE ops that feed float16 weights), runs it through
``edgekit.runtime`` with the same accelerator and threads, and times it. The sum of the isolated times is
compared with the whole model's latency; the shares are what a user should read. Alongside, it reads from the
interpreter which nodes the XNNPACK delegate took, and how many partitions the graph was split into.

For ``.onnx`` it uses ONNX Runtime's own profiler (``SessionOptions.enable_profiling``): per-node kernel times
from inside the real graph run.

:func:`diff_op_profiles` compares two profiles of one network (fp32 vs a quantized variant) and explains the ops
that got slower: ops the XNNPACK delegate did not take, dynamic-range (hybrid) kernels that quantize their float
activations at every inference, and graph splits that hand tensors back and forth between XNNPACK and the
built-in kernels.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from edgekit._fs import scratch_dir
from edgekit.errors import DependencyError, EdgekitError

__all__ = ["OpTypeTime", "OpProfile", "OpDiff", "profile_ops", "diff_op_profiles"]

_INT_TYPES = ("int8", "uint8", "int16", "int4")


@dataclasses.dataclass(frozen=True)
class OpTypeTime:
    op_type: str
    count: int
    ms: float  # summed time of the ops of this type, per inference
    share: float  # of the summed time of all ops
    delegated: int | None  # how many ran delegated: to XNNPACK (.tflite), in the chosen execution provider (.onnx)
    activation_dtypes: tuple[str, ...]
    weight_dtypes: tuple[str, ...]
    hybrid: int  # int weights with float activations: dynamic-range kernels


@dataclasses.dataclass(frozen=True)
class OpProfile:
    path: str
    method: str
    threads: int | None
    accelerator: str
    ops: tuple[OpTypeTime, ...]  # slowest first
    total_ms: float  # sum over ops
    whole_model_ms: float | None  # the whole model's median latency, for reference
    partitions: int | None  # XNNPACK partitions (DELEGATE nodes) in the graph
    nodes: int
    notes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class OpDiff:
    a: str
    b: str
    rows: tuple[dict[str, Any], ...]  # per op type: a_ms, b_ms, ratio, delegated, hybrid
    slower: tuple[str, ...]  # op types that got slower, worst first
    explanation: tuple[str, ...]


# ---- TFLite: delegation ---------------------------------------------------------------------------------

def _delegation(path: Path, threads: int | None) -> tuple[dict[int, bool], int] | None:
    """Which original nodes the default XNNPACK delegate took, and the number of partitions.

    Reads the node list of an interpreter built with the default delegates: original nodes come first, then one
    DELEGATE node per partition whose inputs/outputs bound it; a node is delegated when a backward walk from a
    partition's outputs reaches it before the partition's inputs."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    from edgekit._log import quiet_native

    with quiet_native():
        interp = Interpreter(model_path=str(path), num_threads=threads or 1)
        interp.allocate_tensors()
        nodes = interp._get_ops_details()
    originals = [n for n in nodes if n["op_name"] != "DELEGATE"]
    delegates = [n for n in nodes if n["op_name"] == "DELEGATE"]
    producer = {}
    for n in originals:
        for t in n["outputs"]:
            producer[int(t)] = n["index"]
    by_index = {n["index"]: n for n in originals}
    taken: dict[int, bool] = {n["index"]: False for n in originals}
    for d in delegates:
        boundary = {int(t) for t in d["inputs"]}
        stack = [int(t) for t in d["outputs"]]
        seen: set[int] = set()
        while stack:
            t = stack.pop()
            if t in boundary or t in seen or t not in producer:
                continue
            seen.add(t)
            node = producer[t]
            taken[node] = True
            stack.extend(int(i) for i in by_index[node]["inputs"] if int(i) >= 0)
    return taken, len(delegates)


# ---- TFLite: one-op models -----------------------------------------------------------------------------

def _one_op_models(path: Path):
    """Yield (node index, op type, activation dtype, weight dtype, flatbuffer bytes) per op of subgraph 0."""
    import flatbuffers

    from edgekit import tflite_file

    schema = tflite_file.schema()
    model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    graph = model.subgraphs[0]

    def has_data(t: int) -> bool:
        b = model.buffers[graph.tensors[t].buffer] if graph.tensors[t].buffer else None
        return b is not None and b.data is not None and len(b.data) > 0

    def kind(op) -> str:
        code = model.operatorCodes[op.opcodeIndex]
        return tflite_file.builtin_operator(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")

    producer = {t: i for i, op in enumerate(graph.operators) for t in (op.outputs if op.outputs is not None else [])}
    weight_prep = {
        i for i, op in enumerate(graph.operators)
        if kind(op) == "DEQUANTIZE" and op.inputs is not None and len(op.inputs) and has_data(int(op.inputs[0]))
    }
    for index, op in enumerate(graph.operators):
        op_type = kind(op)
        if index in weight_prep or op_type == "CUSTOM" or op.intermediates is not None and len(op.intermediates):
            continue
        ins = [int(t) for t in (op.inputs if op.inputs is not None else [])]
        chain = [producer[t] for t in ins if t >= 0 and producer.get(t) in weight_prep]
        members = chain + [index]
        tensor_ids: list[int] = []
        for m in members:
            for t in list(graph.operators[m].inputs) + list(graph.operators[m].outputs):
                if int(t) >= 0 and int(t) not in tensor_ids:
                    tensor_ids.append(int(t))
        if any(graph.tensors[t].isVariable for t in tensor_ids):
            continue
        remap = {t: i for i, t in enumerate(tensor_ids)}
        buffers = [schema.BufferT()]
        tensors = []
        for t in tensor_ids:
            tensor = graph.tensors[t]
            copy = _clone(tensor)
            copy.buffer = 0
            if has_data(t):
                buffers.append(model.buffers[tensor.buffer])
                copy.buffer = len(buffers) - 1
            tensors.append(copy)
        internal = {int(t) for m in chain for t in graph.operators[m].outputs}
        sub = schema.SubGraphT()
        sub.tensors = tensors
        sub.inputs = [remap[t] for t in ins if t >= 0 and not has_data(t) and t not in internal]
        sub.outputs = [remap[int(t)] for t in op.outputs]
        codes, operators = [], []
        for m in members:
            src = graph.operators[m]
            new = _clone(src)
            codes.append(model.operatorCodes[src.opcodeIndex])
            new.opcodeIndex = len(codes) - 1
            new.inputs = [remap[int(t)] if int(t) >= 0 else -1 for t in src.inputs]
            new.outputs = [remap[int(t)] for t in src.outputs]
            operators.append(new)
        sub.operators = operators
        one = schema.ModelT()
        one.version = 3
        one.operatorCodes = codes
        one.subgraphs = [sub]
        one.buffers = buffers
        builder = flatbuffers.Builder(1024)
        builder.Finish(one.Pack(builder), file_identifier=b"TFL3")
        act = tflite_file.tensor_type(graph.tensors[ins[0]].type, "?") if ins and ins[0] >= 0 else "?"
        weight = None
        for t in ins[1:]:
            if t >= 0 and (has_data(t) or producer.get(t) in weight_prep):
                src_t = graph.tensors[t] if has_data(t) else graph.tensors[int(graph.operators[producer[t]].inputs[0])]
                weight = tflite_file.tensor_type(src_t.type, "?")
                break
        if not sub.inputs:
            continue
        yield index, op_type, act, weight, bytes(builder.Output())


def _clone(obj):
    """A shallow copy of a schema object (TensorT / OperatorT) whose indices we rewrite."""
    import copy

    return copy.copy(obj)


def _time_model(path: Path, accelerator: str, threads: int | None, min_time_s: float, min_runs: int) -> float:
    """Median ms of ``predict`` on a model through edgekit.runtime, warm-up first."""
    from edgekit.device_bench.latency import bench_inputs
    from edgekit.runtime import load

    with load(path, accelerator=accelerator, threads=threads) as model:
        arrays = bench_inputs(model.inputs, batch=1, seed=0)
        x: Any = arrays[0] if len(arrays) == 1 else arrays
        for _ in range(2):
            model.predict(x)
        times = []
        start = time.perf_counter()
        while len(times) < min_runs or time.perf_counter() - start < min_time_s:
            t0 = time.perf_counter()
            model.predict(x)
            times.append((time.perf_counter() - t0) * 1e3)
            if len(times) >= 10_000:
                break
    return statistics.median(times)


def _profile_tflite(path: Path, accelerator: str, threads: int | None, min_time_s: float) -> OpProfile:
    from edgekit._log import quiet_native
    from edgekit.device_bench.latency import measure

    delegation = _delegation(path, threads) if accelerator == "cpu" else None
    taken, partitions = delegation if delegation else ({}, None)
    per_type: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    nodes = 0
    with scratch_dir("ops") as tmp:
        try:
            pieces = list(_one_op_models(path))
        except Exception as exc:
            raise EdgekitError(f"could not split {path} into one-op models for --profile-ops: {exc}") from exc
        for index, op_type, act, weight, data in pieces:
            one = Path(tmp) / f"op{index}.tflite"
            one.write_bytes(data)
            try:
                with quiet_native():
                    ms = _time_model(one, accelerator, threads, min_time_s, 5)
            except EdgekitError as exc:
                skipped.append(f"{op_type}#{index} ({str(exc).splitlines()[0][:80]})")
                continue
            nodes += 1
            row = per_type.setdefault(op_type, {"count": 0, "ms": 0.0, "delegated": 0, "act": set(), "w": set(),
                                                "hybrid": 0})
            row["count"] += 1
            row["ms"] += ms
            row["delegated"] += int(taken.get(index, False))
            row["act"].add(act)
            if weight:
                row["w"].add(weight)
            if weight in _INT_TYPES and act.startswith("float"):
                row["hybrid"] += 1
        whole = measure(path, accelerator=accelerator, threads=threads, batch=1, runs=None,
                        min_time=max(min_time_s * 10, 0.5), warmup=3)
    total = sum(r["ms"] for r in per_type.values()) or 1.0
    ops = tuple(sorted(
        (OpTypeTime(op_type=k, count=r["count"], ms=r["ms"], share=r["ms"] / total,
                    delegated=r["delegated"] if delegation else None, activation_dtypes=tuple(sorted(r["act"])),
                    weight_dtypes=tuple(sorted(r["w"])), hybrid=r["hybrid"]) for k, r in per_type.items()),
        key=lambda o: -o.ms))
    notes = [
        "each op timed alone in a one-op model through edgekit.runtime (the LiteRT wheel has no in-graph op "
        "profiler); the sum includes per-call overhead and misses fusion across ops, so read the shares"
    ]
    if skipped:
        notes.append("not timed: " + ", ".join(skipped[:8]) + (" ..." if len(skipped) > 8 else ""))
    return OpProfile(path=str(path), method="isolated-op timing (TFLite)", threads=threads, accelerator=accelerator,
                     ops=ops, total_ms=sum(o.ms for o in ops), whole_model_ms=whole.latency.p50,
                     partitions=partitions, nodes=nodes, notes=tuple(notes))


# ---- ONNX: ONNX Runtime's profiler ----------------------------------------------------------------------

def _profile_onnx(path: Path, threads: int | None, min_time_s: float) -> OpProfile:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise DependencyError("onnxruntime", "runtime") from exc
    from edgekit.device_bench.latency import bench_inputs
    from edgekit.runtime import TensorSpec
    from edgekit.runtime.verify_onnx import verify_onnx

    verify_onnx(Path(path).read_bytes(), path)  # external data only from the model's folder, known domains only
    with scratch_dir("ort") as tmp:
        opts = ort.SessionOptions()
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "ort")
        if threads:
            opts.intra_op_num_threads = threads
        provider = "CPUExecutionProvider"
        sess = ort.InferenceSession(str(path), opts, providers=[provider])
        specs = [TensorSpec(i.name, tuple(d if isinstance(d, int) else None for d in i.shape),
                            _ORT_TYPES.get(i.type, "float32"), None) for i in sess.get_inputs()]
        feed = dict(zip([s.name for s in specs], bench_inputs(specs, batch=1, seed=0)))
        runs, start = 0, time.perf_counter()
        whole = []
        while runs < 10 or time.perf_counter() - start < min_time_s * 10:
            t0 = time.perf_counter()
            sess.run(None, feed)
            whole.append((time.perf_counter() - t0) * 1e3)
            runs += 1
        trace = json.loads(Path(sess.end_profiling()).read_text())
    per_node: dict[str, list[float]] = {}
    node_type: dict[str, str] = {}
    node_provider: dict[str, str] = {}
    for ev in trace:
        if ev.get("cat") == "Node" and ev.get("name", "").endswith("_kernel_time"):
            name = ev["name"][: -len("_kernel_time")]
            per_node.setdefault(name, []).append(ev["dur"] / 1e3)
            node_type[name] = ev.get("args", {}).get("op_name", "?")
            node_provider[name] = ev.get("args", {}).get("provider", "?")
    per_type: dict[str, list[float]] = {}
    placed: dict[str, int] = {}  # nodes of each type that ran in the session's execution provider
    for name, durations in per_node.items():
        per_type.setdefault(node_type[name], []).append(sum(durations) / runs)
        placed[node_type[name]] = placed.get(node_type[name], 0) + (node_provider[name] == provider)
    total = sum(sum(v) for v in per_type.values()) or 1.0
    ops = tuple(sorted((OpTypeTime(k, len(v), sum(v), sum(v) / total, placed[k], (), (), 0) for k, v in per_type.items()),
                       key=lambda o: -o.ms))
    providers = sorted(set(node_provider.values()))
    return OpProfile(path=str(path), method="ONNX Runtime profiler (in-graph kernel times)", threads=threads,
                     accelerator="cpu", ops=ops, total_ms=sum(o.ms for o in ops),
                     whole_model_ms=statistics.median(whole), partitions=None, nodes=len(per_node),
                     notes=("kernel times from onnxruntime's profiler, averaged over the runs; op types are those of "
                            "the graph as ONNX Runtime optimized it (fused ops such as FusedConv, FusedMatMul)",
                            f"placement (from the profiler): {sum(placed.values())} of {len(per_node)} nodes ran in "
                            f"{provider}; providers seen: {', '.join(providers)}"))


_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int8)": "int8",
              "tensor(uint8)": "uint8", "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(bool)": "bool"}


def profile_ops(path: str | Path, accelerator: str = "cpu", threads: int | None = 1,
                min_time: float = 0.05) -> OpProfile:
    """Time per op type of a ``.tflite`` (isolated ops) or ``.onnx`` (ONNX Runtime profiler) model."""
    p = Path(path)
    from edgekit.device_bench.graph_stats import model_stats

    model_stats(p)  # clear errors for missing / empty / foreign files
    if p.suffix.lower() == ".onnx":
        if accelerator != "cpu":
            raise EdgekitError(f"--profile-ops on ONNX models runs on the CPU execution provider only, "
                               f"not {accelerator!r}")
        return _profile_onnx(p, threads, min_time)
    return _profile_tflite(p, accelerator, threads, min_time)


# ---- diff -----------------------------------------------------------------------------------------------

def diff_op_profiles(a: OpProfile, b: OpProfile, threshold: float = 1.10) -> OpDiff:
    """Per op type: time in ``a`` and ``b`` (scaled to each model's measured latency), the ratio, and why."""
    def scaled(p: OpProfile) -> dict[str, OpTypeTime]:
        return {o.op_type: o for o in p.ops}

    def ms(p: OpProfile, o: OpTypeTime | None) -> float:
        if o is None:
            return 0.0
        return o.share * p.whole_model_ms if p.whole_model_ms else o.ms

    ta, tb = scaled(a), scaled(b)
    rows = []
    for op_type in sorted(set(ta) | set(tb), key=lambda k: -(ms(b, tb.get(k)) - ms(a, ta.get(k)))):
        oa, ob = ta.get(op_type), tb.get(op_type)
        a_ms, b_ms = ms(a, oa), ms(b, ob)
        rows.append({
            "op_type": op_type,
            "a_ms": a_ms,
            "b_ms": b_ms,
            "ratio": (b_ms / a_ms) if a_ms > 0 else None,
            "a_count": oa.count if oa else 0,
            "b_count": ob.count if ob else 0,
            "a_delegated": oa.delegated if oa else None,
            "b_delegated": ob.delegated if ob else None,
            "b_hybrid": ob.hybrid if ob else 0,
            "b_weight_dtypes": list(ob.weight_dtypes) if ob else [],
            "b_activation_dtypes": list(ob.activation_dtypes) if ob else [],
        })
    slower = tuple(r["op_type"] for r in rows
                   if r["b_ms"] > r["a_ms"] * threshold and r["b_ms"] - r["a_ms"] > 0.005 * (b.whole_model_ms or 1))
    lines = []
    if a.whole_model_ms and b.whole_model_ms:
        ratio = b.whole_model_ms / a.whole_model_ms
        lines.append(f"whole model: {b.whole_model_ms:.3f} ms vs {a.whole_model_ms:.3f} ms "
                     f"({ratio:.2f}x {'slower' if ratio > 1 else 'faster'})")
    for r in rows:
        if r["op_type"] not in slower:
            continue
        why = []
        if r["b_delegated"] is not None and r["b_count"]:
            outside = r["b_count"] - r["b_delegated"]
            outside_a = (r["a_count"] - r["a_delegated"]) if r["a_delegated"] is not None else None
            if outside > 0 and (outside_a is None or outside > outside_a):
                why.append(f"{outside} of {r['b_count']} run outside the XNNPACK delegate, on TFLite's built-in "
                           f"kernels" + (f" (in A: {outside_a})" if outside_a is not None else ""))
        if r["b_hybrid"]:
            int_weights = [w for w in r["b_weight_dtypes"] if w in _INT_TYPES] or r["b_weight_dtypes"]
            why.append(f"{r['b_hybrid']} are dynamic-range (hybrid) ops: {'/'.join(int_weights)} weights "
                       f"with {'/'.join(r['b_activation_dtypes'])} activations, so every inference quantizes the "
                       "activations on the fly and dequantizes the result")
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else "new"
        lines.append(f"{r['op_type']}: {r['b_ms']:.3f} ms vs {r['a_ms']:.3f} ms ({ratio})"
                     + (": " + "; ".join(why) if why else ""))
    if b.partitions and a.partitions is not None and b.partitions > max(a.partitions, 1):
        lines.append(f"the XNNPACK delegate split B's graph into {b.partitions} partitions (A: {a.partitions}): "
                     "each boundary hands tensors between XNNPACK and the built-in kernels and breaks XNNPACK's "
                     "fusion and scheduling across ops")
    if any(r["b_hybrid"] for r in rows if r["op_type"] in slower):
        lines.append("fix: full-integer quantization (edgekit convert --quantize int8 with calibration data) keeps "
                     "the graph in XNNPACK's int8 kernels; float16 keeps it in XNNPACK's float kernels; "
                     "dynamic-range quantization mainly saves size, not time, on CPUs with fast float SIMD")
    if not slower:
        lines.append("no op type got slower by more than "
                     f"{(threshold - 1) * 100:.0f}%")
    return OpDiff(a=a.path, b=b.path, rows=tuple(rows), slower=slower, explanation=tuple(lines))
