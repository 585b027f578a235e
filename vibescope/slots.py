"""Free the concurrency-pool slots of runs whose process is gone.

Dagster frees a pool slot when its step ends or its run fails. A run killed outright (SIGKILL,
a closed terminal, a machine restart) keeps its slot, and without the daemon's run monitoring
every later step of that pool waits for ever ("Step blocked by limit for pool local_model").
So the commands that start runs from a shell first mark such runs failed and free their slots.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    # a killed process stays a zombie until its new parent reaps it, and a zombie answers signal 0
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):  # reaped meanwhile, or no /proc (macOS): alive as os.kill said
        return not Path("/proc").is_dir() or Path(f"/proc/{pid}").exists()


def _run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the process that executed the run (the first event that names one)."""
    for entry in instance.all_logs(run_id):
        if entry.dagster_event is not None and entry.dagster_event.pid:
            return entry.dagster_event.pid
    return None


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark runs that hold or wait for a pool slot but whose process is gone as failed, free their
    slots, and return their ids."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    released = []
    for pool in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(pool)
        run_ids = {s.run_id for s in info.claimed_slots} | {p.run_id for p in info.pending_steps}
        for run_id in sorted(run_ids - set(released)):
            pid = _run_worker_pid(instance, run_id)
            if pid is not None and _alive(pid):
                continue
            run = instance.get_run_by_id(run_id)
            if run is not None and not run.is_finished:
                instance.report_run_failed(run, f"its process ({pid}) is gone: freed its slots in pool {pool}")
            storage.free_concurrency_slots_for_run(run_id)
            released.append(run_id)
    return released
