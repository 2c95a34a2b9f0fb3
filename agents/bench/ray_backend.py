"""Ray backend: each benchmark run is one Ray task, so a sweep spreads over every machine of a Ray cluster.

Tasks return their results to the driver, which writes all files (workers need no shared filesystem, only
textenvs installed and the datasets the env kwargs name). Progress travels through a Ray queue actor that the
driver drains while it waits. Connect to a running cluster with ``--address ray://HOST:10001`` or
``--address auto``; with no address and no connection yet, a local Ray instance is started and shut down again.
"""

from __future__ import annotations

import traceback
from typing import Sequence

from agents.bench.execution import OnDone, Report, RunSpec, execute_in_worker


def run_ray(specs: Sequence[RunSpec], on_event: Report, on_done: OnDone, address: str | None = None,
            cpus_per_run: float = 1, gpus_per_run: float = 0) -> None:
    """Run every spec as a Ray task reserving ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs; call ``on_event``
    and ``on_done`` in the driver as progress and results arrive.

    If this process is already connected to Ray (``ray.is_initialized()``), that connection is used and left
    open; otherwise ``ray.init(address=address)`` connects (or starts a local instance) and is shut down at the end.
    """
    try:
        import ray
        from ray.util.queue import Queue
    except ImportError as error:
        raise ImportError("--backend ray needs Ray: pip install 'textenvs[ray]'.") from error

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False if address is None else None, log_to_driver=False)
    try:
        events = Queue(actor_options={"num_cpus": 0})
        task = ray.remote(execute_in_worker).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)
        threads = max(1, int(cpus_per_run))
        pending = {task.remote(spec, events, threads, "ray"): spec for spec in specs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
            _drain(events, on_event)
            for ref in done:
                spec = pending.pop(ref)
                try:
                    output = ray.get(ref)
                except Exception:  # a failed task (RayTaskError carries the worker's traceback) ends only its run
                    on_done(spec, None, traceback.format_exc())
                else:
                    on_done(spec, output, None)
        _drain(events, on_event)
        ray.kill(events.actor)
    finally:
        if started_here:
            ray.shutdown()


def _drain(events, on_event: Report) -> None:
    waiting = events.qsize()
    if waiting:
        for event in events.get_nowait_batch(waiting):
            on_event(*event)
