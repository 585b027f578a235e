"""SIGKILL a command in each of its LLM stages in turn, then let it finish: what the tests of
resuming share (tests/test_kill_every_stage.py lists which test kills which stage).

Each stage's run is killed after the stage's first answer from the backend, before the stage could
write its table; the next run resumes it. Afterwards every answer the killed runs got must have
been reused (a cache hit) and none asked of the backend twice."""

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from resources.warehouse import Warehouse


def fresh_calls(cache: Path, stage: str, since: float) -> int:
    """Answers the backend gave `stage` (named by its asset, or by its op for a multi-asset) since then."""
    schema, table = stage.split("/")
    try:
        with sqlite3.connect(cache, timeout=30) as conn:
            return conn.execute("SELECT count(*) FROM calls WHERE asset IN (?, ?) AND NOT cached AND called_at >= ?",
                                [stage, f"{schema}__{table}", since]).fetchone()[0]
    except sqlite3.OperationalError:  # the cache is not created yet
        return 0


def run_killed_in_each(command: list[str], env: dict, cwd: Path, stages: list[str], warehouse: Warehouse,
                       cache: Path, timeout: int = 900) -> str:
    """Run `command` once per stage, killed in it, then to its end; assert what resuming must keep.
    Returns the last run's output."""
    def start() -> subprocess.Popen:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)

    killed = {}  # stage -> answers its killed run got
    for stage in stages:
        since, proc = time.time(), start()
        deadline = time.monotonic() + timeout
        while fresh_calls(cache, stage, since) == 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"the run ended before {stage} answered once (are the stages listed in the "
                                     f"order the run reaches them?):\n{proc.stdout.read()[-3000:]}")
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        killed[stage] = fresh_calls(cache, stage, since)
        assert not warehouse.table_exists(stage.replace("/", ".")), f"{stage} was written: the kill came too late"
        later = [s for s in stages[stages.index(stage) + 1:] if warehouse.table_exists(s.replace("/", "."))]
        assert not later, f"{later} finished before {stage}: list the stages in the order the run reaches them"

    since, proc = time.time(), start()
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    if not stages and not cache.exists():  # a command with no LLM stage: nothing to resume
        return out
    with sqlite3.connect(cache) as conn:
        asked = conn.execute("SELECT asset, request_hash, count(*) FROM calls WHERE NOT cached "
                             "GROUP BY asset, request_hash HAVING count(*) > 1").fetchall()
        reused = dict(conn.execute("SELECT asset, count(*) FROM calls WHERE cached AND called_at >= ? "
                                   "GROUP BY asset", [since]).fetchall())
    assert asked == [], f"answers asked of the backend twice: {asked[:5]}"
    for stage, answers in killed.items():
        schema, table = stage.split("/")
        assert warehouse.table_exists(f"{schema}.{table}"), stage
        # the last run reused at least the answers of the run killed in this stage
        assert reused.get(stage, reused.get(f"{schema}__{table}", 0)) >= answers, (stage, answers, reused)
    return out
