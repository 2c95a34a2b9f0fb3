"""Local backends: where :func:`~agents.bench.execution.execute` runs on this machine (in this process, or in a
pool of spawned processes). Each calls ``on_event`` for progress and ``on_done`` per run, both in the driver. The Ray
backend is :mod:`agents.bench.ray_backend`."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import queue as queue_module
import traceback
from typing import Any, Sequence

from agents.bench.execution import OnDone, Report, RunSpec, execute, execute_in_worker

def run_local(specs: Sequence[RunSpec], on_event: Report, on_done: OnDone) -> None:
    """One run after another in this process."""
    for spec in specs:
        try:
            output = execute(spec, on_event, backend="local")
        except Exception:  # one failed run must not end the sweep; it is reported with its traceback
            on_done(spec, None, traceback.format_exc())
        else:
            on_done(spec, output, None)


def run_pool(specs: Sequence[RunSpec], workers: int, on_event: Report, on_done: OnDone,
             threads_per_run: int = 1) -> None:
    """Up to ``workers`` runs at a time in fresh (spawned) processes of this machine."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        events = manager.Queue()
        pending = {pool.submit(execute_in_worker, spec, events, threads_per_run, "local-pool"): spec
                   for spec in specs}
        while pending:
            done, _ = concurrent.futures.wait(pending, timeout=0.25,
                                              return_when=concurrent.futures.FIRST_COMPLETED)
            _drain(events, on_event)
            for future in done:
                spec = pending.pop(future)
                error = future.exception()
                if error is None:
                    on_done(spec, future.result(), None)
                else:
                    on_done(spec, None, "".join(traceback.format_exception(error)))
        _drain(events, on_event)


def _drain(events: Any, on_event: Report) -> None:
    while True:
        try:
            on_event(*events.get_nowait())
        except queue_module.Empty:
            return
