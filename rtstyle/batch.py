"""Batch jobs on Ray: many images and videos, one Ray task per file, on this machine or a cluster.

    report = run_batch(["archive/", "clip.mov"], "styled/", "mosaic", workers=4, options={"stroke_scale": 1.5})

Every file goes through one rtstyle.pipeline.Pipeline per worker, built from the same options as
`rtstyle image` and `rtstyle video` (so a photo comes out with the same pixels). Outputs mirror
the input names under the output folder (a folder's files keep their paths inside it) and are
written by the same atomic writers as `rtstyle image` and `rtstyle video`, so a file is either
complete under its final name or absent: a rerun skips every file whose output
exists, which resumes a killed job. A file that cannot be read fails alone; the others go on.
Ray is an optional extra (`pip install "rtstyle[ray]"`) imported only here, and only when used.
On a cluster every node needs rtstyle installed and the inputs, the output folder and the model
on a file system that all of them see.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .errors import UserError, redacted_address
from .imageio import IMAGE_SUFFIXES, read_image, write_image
from .outputs import atomic_output, check_output

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts", ".m2ts", ".3gp", ".ogv"}
VIDEO_OUTPUT_SUFFIXES = {".mp4", ".mkv", ".mov"}  # the containers the H.264 writer makes; others become .mp4
RAY_MISSING = 'rtstyle batch needs Ray: pip install "rtstyle[ray]"'
LOCAL_ADDRESSES = (None, "local")  # a Ray started on this machine for the job
# The default worker count on CPUs: one per 4 cores (onnxruntime gains little beyond a few threads
# per model), and at least 2 where there are 2 cores (2 workers x 1 thread did 1.7x the frames of
# 1 x 2 on a 2-core machine: one file's decoding, encoding and stabilizer overlap another's model).
CORES_PER_WORKER = 4


@dataclass(frozen=True)
class Job:
    """One input file and the output it becomes; `kind` is "image" or "video"."""

    input: Path
    output: Path
    kind: str


@dataclass(frozen=True)
class WorkerSettings:
    """What every task needs besides its file: the model, how to run it, and the Pipeline's
    other keyword options as (name, value) pairs (the per-frame controls, the stabilizer)."""

    model: str | None  # None: the any-painting network of options' style
    provider: str = "auto"
    threads: int | None = None
    options: tuple[tuple[str, Any], ...] = ()


@dataclass
class FileResult:
    job: Job
    ok: bool
    frames: int = 0
    seconds: float = 0.0
    provider: str = ""
    error: str = ""


@dataclass
class BatchReport:
    """What run_batch did. `seconds` is the wall time of the tasks (Ray start-up excluded)."""

    jobs: int
    skipped: int
    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    startup_s: float = 0.0
    workers: int = 0
    threads: int = 0
    gpus_per_worker: float = 0.0

    @property
    def done(self) -> list[FileResult]:
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if not r.ok]

    @property
    def frames(self) -> int:
        return sum(r.frames for r in self.done)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def providers(self) -> list[str]:
        return sorted({r.provider for r in self.done})


def plan_jobs(inputs: Sequence[str | os.PathLike], outdir: str | os.PathLike) -> list[Job]:
    """The files to stylize and their outputs: files as given, folders searched recursively.

    A file named on the command line that is not an image is tried as a video (FFmpeg reads
    many more formats than these suffixes); in folders only image and video suffixes count,
    and hidden files (partial outputs among them) and anything inside `outdir` are left out.
    """
    outdir = Path(outdir).absolute()  # absolute: a worker on another node has another working folder
    if outdir.exists() and not outdir.is_dir():
        raise UserError(f"output {outdir} is a file; give a folder")
    jobs: dict[Path, Job] = {}
    for given in (Path(p).absolute() for p in inputs):
        if given.is_dir():
            if given.resolve() == outdir.resolve():
                raise UserError(f"output folder {outdir} is one of the inputs; choose another (inputs are never overwritten)")
            found = [(p, p.relative_to(given)) for p in sorted(given.rglob("*")) if _is_media(p, outdir)]
        elif given.is_file():
            found = [(given, Path(given.name))]
        else:
            raise UserError(f"no such file or folder: {given}")
        for path, name in found:
            kind = "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"
            if kind == "video" and path.suffix.lower() not in VIDEO_OUTPUT_SUFFIXES:
                name = name.with_suffix(".mp4")
            job = Job(path, outdir / name, kind)
            if job.output in jobs:
                raise UserError(f"{jobs[job.output].input} and {path} would both be written to {job.output}; rename one")
            if job.output.parent.is_dir():
                check_output(job.output, path)  # an output folder among the inputs
            jobs[job.output] = job
    if not jobs:
        raise UserError(f"no images or videos in {', '.join(map(str, inputs))}")
    return list(jobs.values())


def _is_media(path: Path, outdir: Path) -> bool:
    if path.name.startswith(".") or not path.is_file():
        return False
    if path.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
        return False
    return not path.resolve().is_relative_to(outdir.resolve())


@dataclass(frozen=True)
class TaskResources:
    """How many workers run at once and what each one takes."""

    workers: int
    cpus: float  # Ray's CPU resource per task: exactly `workers` tasks fit
    gpus: float  # per task; 0 without GPUs, at most 1 (one Stylizer uses one GPU)
    threads: int  # onnxruntime threads per worker


def plan_resources(workers: int | None, cpus: float, gpus: float, largest_node_cpus: float) -> TaskResources:
    """Share the cluster's CPUs (and GPUs) evenly between `workers` tasks.

    By default there is one worker per GPU, or without GPUs one per CORES_PER_WORKER cores (at least 2
    where there are 2 cores).
    A task never asks for more CPUs than the largest node has, or it could never start.
    """
    if workers is None:
        workers = int(gpus) if gpus >= 1 else max(min(2, int(cpus)), int(cpus // CORES_PER_WORKER), 1)
    share = min(cpus / workers, largest_node_cpus)
    return TaskResources(workers, share, min(1.0, gpus / workers), max(1, int(share)))


def run_batch(
    inputs: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    model: str | None,
    *,
    workers: int | None = None,
    address: str | None = None,
    listen_on_network: bool = False,
    provider: str = "auto",
    threads: int | None = None,
    options: dict[str, Any] | None = None,
    progress: bool = True,
) -> BatchReport:
    """Stylize every image and video of `inputs` into `outdir` on Ray; see the module docstring.

    `threads` are each worker's onnxruntime threads (default: its share of the cores); `options`
    are rtstyle.pipeline.Pipeline's other keyword options (strength, stroke_scale, stabilize, ...;
    `style` with `model` None: the any-painting network); videos are stabilized by default.
    `address` names an existing cluster (as `ray.init` takes it); without it (or with "local")
    Ray is started on this machine's cores for the job, listening on loopback only (RAY_ADDRESS
    is not read), and stopped; `listen_on_network` opens it to other machines, with Ray's token
    authentication on. Failed files are in the report, not raised.
    """
    if address in LOCAL_ADDRESSES:
        _local_ray_environment(listen_on_network)
    elif listen_on_network:
        raise UserError("--listen-on-network is for the Ray that batch starts on this machine, not with --address")
    ray = _import_ray()
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    jobs = plan_jobs(inputs, outdir)
    model_path = _check_network(model, provider, options or {})
    todo = [job for job in jobs if not job.output.exists()]
    report = BatchReport(len(jobs), len(jobs) - len(todo))
    if not todo:
        return report
    start = time.perf_counter()
    with _ray_session(ray, address, workers) as resources:
        report.startup_s = time.perf_counter() - start
        report.workers, report.threads, report.gpus_per_worker = resources.workers, threads or resources.threads, resources.gpus
        options = {"stabilize": True, **(options or {})}
        hashable = {name: tuple(value) if isinstance(value, list) else value for name, value in options.items()}
        settings = WorkerSettings(model_path, provider, report.threads, tuple(sorted(hashable.items())))
        task = ray.remote(
            num_cpus=resources.cpus, num_gpus=resources.gpus,
            max_calls=0,  # Ray's default for GPU tasks is a new process per task: a new Pipeline per file
        )(stylize_file)
        start = time.perf_counter()
        with _files_bar(progress, len(todo), report.skipped) as advance:
            for result in _run_tasks(ray, task, todo, settings, in_flight=2 * resources.workers):
                report.results.append(result)
                report.seconds = time.perf_counter() - start
                advance(result, report.fps)
    return report


def stylize_file(job: Job, settings: WorkerSettings) -> FileResult:
    """The Ray task: stylize one file with this worker process's Pipeline; errors are returned."""
    start = time.perf_counter()
    try:
        pipeline = _worker_pipeline(settings, os.environ.get("CUDA_VISIBLE_DEVICES"))
        pipeline.reset()  # a new file: nothing of the last one's frames carries over
        job.output.parent.mkdir(parents=True, exist_ok=True)
        _remove_partials(job.output)
        if job.kind == "image":
            write_image(job.output, pipeline(read_image(job.input)))
            frames = 1
        else:
            frames = _stylize_video(job, pipeline)
    except UserError as e:
        return FileResult(job, False, error=str(e))
    except Exception as e:  # a decoder or encoder failure on one file must not stop the batch
        return FileResult(job, False, error=f"{type(e).__name__}: {_first_line(e)}")
    return FileResult(job, True, frames, time.perf_counter() - start, pipeline.stylizer.provider)


def _stylize_video(job: Job, pipeline) -> int:
    from .videoio import transform_video

    # The video writer keeps a partial file under its final name on KeyboardInterrupt (what a
    # user of `rtstyle video` wants); here a partial output would be skipped by the rerun, so the
    # outer atomic_output only renames a finished video.
    with atomic_output(job.output) as tmp:
        return transform_video(job.input, tmp, pipeline, progress=False).frames


def _remove_partials(output: Path) -> None:
    """Delete what a killed run left of `output` (atomic_output's temporary names, nested for videos)."""
    stem, suffix = glob.escape(output.stem), glob.escape(output.suffix)
    for pattern in (f".{stem}.partial-*{suffix}", f"..{stem}.partial-*{suffix}"):
        for partial in output.parent.glob(pattern):
            partial.unlink(missing_ok=True)


@functools.lru_cache(maxsize=1)
def _worker_pipeline(settings: WorkerSettings, visible_gpus: str | None):
    """One Pipeline per worker process, kept across its tasks (a new one if Ray moves it to another GPU)."""
    from .pipeline import Pipeline

    return Pipeline(settings.model, provider=settings.provider, threads=settings.threads, **dict(settings.options))


def _check_network(model: str | None, provider: str, options: dict[str, Any]) -> str | None:
    """Fail before Ray starts on a model, paintings or provider that every task would fail on;
    the model's absolute path (None for the any-painting network, `options["style"]`)."""
    from .pipeline import open_network
    from .stylizer import plan_providers

    plan_providers(provider)
    if model is None:
        from .anystyle import open_painting_stylizer

        open_painting_stylizer(options.get("style") or [], options.get("style_weights"), "cpu", 1)
        return None
    return str(open_network(model, "cpu", 1).path.resolve())


def _local_ray_environment(listen_on_network: bool) -> None:
    """Settings for the Ray a job starts here, made before Ray is imported (it reads them then).

    Without `listen_on_network` its GCS, raylet, object manager and worker ports listen on
    127.0.0.1 only (Ray's own switch, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, whatever the
    environment says); with it they listen on this machine's network address and Ray's token
    authentication is required (RAY_AUTH_MODE=token: the token is in ~/.ray/auth_token).
    Usage statistics stay off unless the environment turns them on.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "1" if listen_on_network else "0"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if listen_on_network:
        os.environ["RAY_AUTH_MODE"] = "token"
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:  # Ray was imported already (by the caller): its copy of the switch
        constants.ENABLE_RAY_CLUSTER = listen_on_network


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(RAY_MISSING) from None
    return ray


@contextlib.contextmanager
def _ray_session(ray, address: str | None, workers: int | None) -> Iterator[TaskResources]:
    """Start a quiet local Ray (or join the cluster at `address`), yield the task plan, shut down."""
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address in LOCAL_ADDRESSES:
        cores = os.cpu_count() or 1
        # "local": a new Ray, never one named by RAY_ADDRESS.
        ray.init(address="local", num_cpus=max(cores, workers or 1), include_dashboard=False, object_store_memory=128 << 20, **quiet)
    else:
        _check_reachable(address)
        try:
            ray.init(address=address, **quiet)
        except Exception as e:  # ConnectionError, ValueError, RuntimeError, depending on the address
            hint = "" if os.environ.get("RAY_AUTH_MODE") else " (one with token authentication needs RAY_AUTH_MODE=token)"
            reason = _first_line(e).replace(address, redacted_address(address))
            raise UserError(f"cannot join the Ray cluster at {redacted_address(address)}: {reason}{hint}") from None
    try:
        total = ray.cluster_resources()
        largest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=1)
        yield plan_resources(workers, total.get("CPU", 1), total.get("GPU", 0), largest)
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """A HOST:PORT that nothing answers on is an error in seconds (Ray itself retries for many minutes)."""
    host, sep, port = address.rpartition(":")
    if address.startswith("ray://") or not sep or not port.isdigit():
        return  # auto, or a Ray client address: ray.init gives up on its own
    try:
        socket.create_connection((host.rpartition("@")[2].strip("[]"), int(port)), timeout=10).close()
    except OSError as e:
        raise UserError(f"cannot join the Ray cluster at {redacted_address(address)}: nothing answers there ({e.strerror or e})") from None


def _run_tasks(ray, task, jobs: list[Job], settings: WorkerSettings, in_flight: int) -> Iterator[FileResult]:
    """Submit a task per job, at most `in_flight` queued at once; yield results as they finish."""
    queue = iter(jobs)
    pending: dict = {}
    while True:
        for job in queue:
            pending[task.remote(job, settings)] = job
            if len(pending) >= in_flight:
                break
        if not pending:
            return
        ready, _ = ray.wait(list(pending), num_returns=1)
        job = pending.pop(ready[0])
        try:
            yield ray.get(ready[0])
        except ray.exceptions.RayError as e:  # the worker died (a crash in a codec), after Ray's retries
            yield FileResult(job, False, error=f"worker failed: {_first_line(e)}")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else "no message"


@contextlib.contextmanager
def _files_bar(enabled: bool, total: int, skipped: int):
    """Yield advance(result, fps): a rich bar over the files on stderr."""
    if not enabled:
        yield lambda result, fps: None
        return
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("files, {task.fields[fps]:5.1f} fps, {task.fields[failed]} failed"), TimeRemainingColumn(),
    )
    label = f"batch ({skipped} already done)" if skipped else "batch"
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total, fps=0.0, failed=0)
        failed = 0

        def advance(result: FileResult, fps: float) -> None:
            nonlocal failed
            failed += not result.ok
            bar.update(task, advance=1, fps=fps, failed=failed)

        yield advance
