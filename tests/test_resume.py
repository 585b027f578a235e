"""A killed run resumes without repeating finished calls; reruns and parallel runs share the cache."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time


from resources.llm import LLM
from resources.settings import load_settings
from resources.warehouse import Warehouse
from tests.conftest import ROOT

N = 8


def run_llm_rows(settings_file, wait: bool = True, max_tokens: int = 48) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.materialize", "llm_rows",
         json.dumps({"n": N, "max_tokens": max_tokens})],
        cwd=ROOT, env={**os.environ, "VIBESCOPE_SETTINGS": str(settings_file)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    if wait:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-3000:]
    return proc


def cached_responses(settings_file) -> int:
    path = load_settings(settings_file).path("cache")
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=30) as conn:
        try:
            return conn.execute("SELECT count(*) FROM responses").fetchone()[0]
        except sqlite3.OperationalError:  # the table is not created yet
            return 0


def test_sigkill_mid_run_then_rerun_repeats_no_finished_call(settings_file):
    proc = run_llm_rows(settings_file, wait=False)
    deadline = time.monotonic() + 300
    while cached_responses(settings_file) < 4:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = cached_responses(settings_file)
    assert 4 <= done_before < N, "the kill came too late to test resuming"
    wh = Warehouse(settings_file=str(settings_file))
    assert not wh.table_exists("test.llm_rows")  # the killed run wrote no half table

    run_llm_rows(settings_file)

    calls = LLM(settings_file=str(settings_file)).cache.calls()
    second = calls[calls.run_id == calls.run_id.iloc[-1]]
    assert len(second) == N
    assert int((~second.cached).sum()) == N - done_before  # only the unfinished calls ran
    assert calls.loc[~calls.cached, "request_hash"].is_unique  # no call was made twice
    rows = wh.query("SELECT i, count(*) AS n FROM test.llm_rows GROUP BY i ORDER BY i")
    assert rows.i.tolist() == list(range(N)) and (rows.n == 1).all()


def test_rerun_with_same_inputs_makes_no_backend_call(settings_file):
    run_llm_rows(settings_file)
    run_llm_rows(settings_file)
    calls = LLM(settings_file=str(settings_file)).cache.calls()
    assert calls.run_id.nunique() == 2
    assert calls.groupby("run_id", sort=False).cached.sum().tolist() == [0, N]


def test_two_processes_share_one_cache(settings_file):
    """Two runs of the same asset at once (as Dagster's multiprocess executor may): no errors."""
    # a thread each: two llama.cpp processes of two threads on two cores spin against each other
    # (384 s at 48-token answers, 184 s at 8)
    settings_file.write_text(settings_file.read_text().replace("n_threads = 0 ", "n_threads = 1 ", 1))
    procs = [run_llm_rows(settings_file, wait=False, max_tokens=8) for _ in range(2)]
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-3000:]
    calls = LLM(settings_file=str(settings_file)).cache.calls()
    assert len(calls) == 2 * N and calls.error.isna().all()
    assert cached_responses(settings_file) == N  # one stored answer per distinct request
