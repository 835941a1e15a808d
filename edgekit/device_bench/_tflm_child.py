"""The TFLite Micro side of ``tflm.py``, run as a child process (``python _tflm_child.py``) so that a model that
crashes TFLM's kernels cannot take the caller down; each arena trial runs in a fork of it, since TFLM aborts on
some arenas that are too small. Imports only numpy and the tflite-micro wheel.

Reads one JSON request on stdin, writes one JSON reply on stdout:
  request: {"model": path, "inputs": count, "outputs": count, "feed": .npz path or null, "out": .npz path or null,
            "max_arena": bytes, "step": bytes, "runs": n}
  reply:   {"ok": true, "arena": bytes, "fails_at": bytes, "tries": n, "allocations": text, "invoke_ms": [...]}
        or {"ok": false, "log": what TFLM printed at the largest arena tried}
"""

import json
import os
import sys
import tempfile
import time

import numpy as np


class _Stderr:
    """Capture what native code writes to descriptor 2 (TFLM's MicroPrintf) while the block runs."""

    def __enter__(self):
        sys.stderr.flush()
        self.sink = tempfile.TemporaryFile()
        self.saved = os.dup(2)
        os.dup2(self.sink.fileno(), 2)
        return self

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.sink.seek(0)
        self.text = self.sink.read().decode("utf-8", "replace")
        self.sink.close()
        return False


def _zeros(interpreter, count):
    return [np.zeros(d["shape"], d["dtype"]) for d in (interpreter.get_input_details(i) for i in range(count))]


def _try(runtime, data, size, count):
    """(works, what TFLM printed): allocate with an arena of ``size`` bytes and invoke once on zeros, in a forked
    process, because TFLM aborts the process (instead of returning an error) on some arenas that are too small."""
    with tempfile.TemporaryFile() as log:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the trial
            os.dup2(log.fileno(), 2)
            try:
                interpreter = runtime.Interpreter.from_bytes(data, arena_size=size)
                for i, x in enumerate(_zeros(interpreter, count)):
                    interpreter.set_input(x, i)
                interpreter.invoke()
                code = 0
            except (RuntimeError, ValueError) as exc:
                os.write(2, f"{type(exc).__name__}: {exc}\n".encode())
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    if os.WIFSIGNALED(status):
        text += f"\nTFLM aborted (signal {os.WTERMSIG(status)}) with a {size}-byte arena\n"
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, text


def main():
    request = json.loads(sys.stdin.read())
    from tflite_micro.python.tflite_micro import runtime

    with open(request["model"], "rb") as f:
        data = f.read()
    count, step, tries = request["inputs"], request["step"], 0
    lo, hi = 0, max(step, 16 * 1024)
    while True:  # grow until TFLM allocates and invokes
        ok, log = _try(runtime, data, hi, count)
        tries += 1
        if ok:
            break
        lo = hi
        if hi >= request["max_arena"]:
            print(json.dumps({"ok": False, "log": log, "max_arena": hi}))
            return
        hi = min(hi * 4, request["max_arena"])
    while hi - lo > step:  # the smallest multiple of `step` that works; `lo` is the largest that failed
        mid = (lo + hi) // 2 // step * step
        ok, _ = _try(runtime, data, mid, count)
        tries += 1
        lo, hi = (lo, mid) if ok else (mid, hi)
    with _Stderr() as err:
        interpreter = runtime.Interpreter.from_bytes(data, arena_size=hi)
        feed = dict(np.load(request["feed"], allow_pickle=False)) if request["feed"] else None
        samples = len(feed["in0"]) if feed else 0
        outputs = {f"out{j}": [] for j in range(request["outputs"])}
        for k in range(samples):
            for i in range(count):
                interpreter.set_input(np.ascontiguousarray(feed[f"in{i}"][k : k + 1]), i)
            interpreter.invoke()
            for j in range(request["outputs"]):
                outputs[f"out{j}"].append(interpreter.get_output(j)[0])
        zeros = _zeros(interpreter, count)
        times = []
        for _ in range(request["runs"]):
            for i, x in enumerate(zeros):
                interpreter.set_input(x, i)
            start = time.perf_counter()
            interpreter.invoke()
            times.append((time.perf_counter() - start) * 1e3)
        sys.stderr.flush()
        interpreter.print_allocations()
    if request["out"] and samples:
        np.savez(request["out"], **{k: np.stack(v) for k, v in outputs.items()})
    print(json.dumps({"ok": True, "arena": hi, "fails_at": lo, "tries": tries, "allocations": err.text,
                      "invoke_ms": times}))


if __name__ == "__main__":
    main()
