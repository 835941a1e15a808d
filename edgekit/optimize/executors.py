"""Where ``edgekit optimize`` runs its variants: in this process (``local``) or as Ray tasks (``ray[:ADDRESS]``).

A table keyed by name, like every plug-in kind. An executor takes the variant jobs (one recipe each) and returns one
result per job, in job order; a job that raises or whose worker dies fails that variant only.

With Ray each variant is one task: the recipe and the run's context go in (model path, data, held-out arrays through
Ray's object store), the variant's result and its files come back through the object store and are written under
OUTDIR on this machine, so OUTDIR need not be on shared storage. A fine-tune asks the cluster for one GPU when it
has any; everything else asks for one CPU. Latency is never measured on a cluster node: the pipeline times every
artifact here afterwards, so the figures stay comparable. Ray does not retry a crashed task (``max_retries=0``): a
re-run of the same OUTDIR resumes, reusing the variants that finished, exactly as the local executor does.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from edgekit.errors import DependencyError, EdgekitError


@dataclass(frozen=True)
class Job:
    """One variant to run: its position and recipe; ``context`` is shared by every job of a run."""

    index: int
    recipe: Any


@dataclass
class Context:
    """What a worker needs to run any variant of this run, all of it picklable: where the model and data come from
    (re-read on the worker) and the evaluation arrays this machine already made (``prepared``: fields of
    :class:`edgekit.optimize.engine.Prepared`, so every variant is measured on the same inputs)."""

    model: str
    trust_model: bool
    data: Any  # the --data path or spec, or in-memory arrays
    val_split: float | None
    trust_code: bool
    settings: Any
    prepared: dict = field(default_factory=dict)


class LocalExecutor:
    """Today's behaviour: the variants one after another in this process."""

    name = "local"
    description = "in this process, one variant after another"

    def __init__(self, address: str | None = None):
        if address:
            raise EdgekitError("the local executor takes no address; use --executor ray:ADDRESS for a cluster")

    def run(self, jobs: Sequence[Job], run_one: Callable[[Job], Any], context: Context, out: Path,
            on_event: Callable[[str], None] | None = None) -> list:
        return [run_one(job) for job in jobs]

    def describe(self):
        from edgekit.results import Execution

        return Execution(self.name)


class RayExecutor:
    """Each variant a Ray task on a cluster (``ray:ADDRESS``) or on a local Ray started for this run (``ray``)."""

    name = "ray"
    description = "each variant a Ray task (pip install 'edgekit[cluster]')"

    def __init__(self, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise DependencyError("ray", extra="cluster") from None
        self.ray = ray
        self.address = address
        self.started_here = False
        self.nodes: dict[str, int] = {}

    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        if self.address:
            try:
                ray.init(address=self.address, log_to_driver=False)
            except Exception as exc:  # Ray raises ConnectionError and others with long messages
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise EdgekitError(f"could not connect to the Ray cluster at {self.address}: {first[:200]}") from None
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
            self.started_here = True

    def run(self, jobs: Sequence[Job], run_one: Callable[[Job], Any], context: Context, out: Path,
            on_event: Callable[[str], None] | None = None) -> list:
        """``run_one`` (this process's way) is not used: each job runs :func:`run_job_remote` on the cluster with
        ``context``; the files it returns are written under ``out``."""
        ray = self.ray
        self._connect()
        gpus = ray.cluster_resources().get("GPU", 0) > 0
        context_ref = ray.put(context)
        remote = ray.remote(max_retries=0)(run_job_remote)
        pending = {}
        for job in jobs:
            options = {"num_cpus": 1, "num_gpus": 1 if gpus and job.recipe.needs_training else 0,
                       "name": f"edgekit variant {job.recipe.name}"}
            pending[remote.options(**options).remote(job, context_ref)] = job
        results: dict[int, Any] = {}
        started = time.monotonic()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
            except Exception as exc:  # the worker died or the task raised outside edgekit's own error handling
                reason = _ray_failure(exc)
                results[job.index] = _failed(job, reason)
                _emit(on_event, f"[ray] {job.recipe.name}: failed ({reason})")
                continue
            node = outcome["node"]
            self.nodes[node] = self.nodes.get(node, 0) + 1
            _write_files(outcome["files"], out)
            results[job.index] = outcome["result"]
            _emit(on_event, f"[ray] {job.recipe.name}: {outcome['result'].status} on node {node[:8]} "
                            f"({len(results)}/{len(jobs)} done, {len(pending)} running or queued, "
                            f"{time.monotonic() - started:.0f}s)")
        if self.started_here:
            ray.shutdown()
        return [results[job.index] for job in jobs]

    def describe(self):
        from edgekit.results import Execution

        return Execution(self.name, self.address or "local Ray started for this run", dict(self.nodes))


EXECUTORS = {"local": LocalExecutor, "ray": RayExecutor}


def check_executor(spec: str) -> tuple[str, str | None]:
    """``local``, ``ray`` or ``ray:ADDRESS`` (e.g. ``ray:auto``, ``ray:10.0.0.5:6379``) as (name, address); an
    unknown name is an error that lists the valid ones. Nothing is imported or started."""
    name, _, address = (spec or "local").partition(":")
    if name not in EXECUTORS:
        raise EdgekitError(f"unknown executor {spec!r}; choose one of {', '.join(EXECUTORS)} (ray:ADDRESS for a cluster)")
    return name, address or None


def executor(spec: str):
    name, address = check_executor(spec)
    return EXECUTORS[name](address)


def run_job_remote(job: Job, context: Context) -> dict:
    """On a Ray worker: rebuild the run's state from ``context``, run one variant into a scratch folder, and return
    its result and files (paths relative to OUTDIR)."""
    import ray

    from edgekit.optimize import pipeline

    with tempfile.TemporaryDirectory(prefix="edgekit-ray-") as tmp:
        variant = pipeline.run_job_in(job, context, Path(tmp))
        files = {str(p.relative_to(tmp)): p.read_bytes() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
    return {"result": variant, "files": files, "node": ray.get_runtime_context().get_node_id()}


def _write_files(files: dict[str, bytes], out: Path) -> None:
    from edgekit._fs import write_bytes_atomic

    # result.json marks a variant done: write it last, after the artifacts it names
    for rel in sorted(files, key=lambda r: r.endswith("result.json")):
        target = (out / rel).resolve()
        if out.resolve() not in target.parents:
            raise EdgekitError(f"a Ray task returned a file outside the output folder: {rel}")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(target, files[rel])


def _failed(job: Job, reason: str):
    from edgekit.results import Variant

    return Variant(job.recipe.name, job.recipe, "failed", reason)


def _ray_failure(exc: BaseException) -> str:
    kind = type(exc).__name__
    if "WorkerCrashed" in kind or "died" in str(exc).lower():
        return "the Ray worker running it died (killed or out of memory); re-run to resume"
    cause = getattr(exc, "cause", None)
    text = str(cause or exc).strip().splitlines()
    return f"{type(cause or exc).__name__}: {(text[-1] if text else '')[:300]}"


def _emit(on_event, line: str) -> None:
    if on_event is not None:
        on_event(line)
