"""The DuckLake warehouse that many writers and readers share: a PostgreSQL catalog on 127.0.0.1,
two Dagster runs writing two partitions of arena.battle_differences (the embedded describer) at
the same time while the CLI, the app in Chromium and a reader in this process read, then one
writer SIGKILLed mid-partition and its partition run again."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from assets.core.partitions import bucket_of
from resources.reader import open_reader
from resources.settings import load_settings
from tests.conftest import ROOT, free_port, streamlit_app, write_settings
from tests.helpers.postgres import postgres_bin, postgres_server

BATTLES = 6
PARTITIONS = 2
DESCRIBER = {"max_tokens": 24, "max_properties": 1}  # short answers: the test is about the writes


@pytest.fixture
def lake(tmp_path, monkeypatch):
    """A project whose warehouse is DuckLake on a PostgreSQL catalog, LLM stages in 2 partitions."""
    if postgres_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: `make test` installs it (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with postgres_server(free_port()) as dsn:
        path = write_settings(tmp_path / "dagster_project.toml")
        path.write_text(path.read_text()
                        .replace('kind = "duckdb"', 'kind = "ducklake"', 1)
                        .replace('catalog = "data/lake_catalog.sqlite"', f'catalog = "postgres:{dsn}"', 1)
                        .replace("partitions = 0", f"partitions = {PARTITIONS}", 1)
                        # one attempt per battle: a cut-off answer is a parse error, not two more calls
                        .replace("[roles.describer]\n", "[roles.describer]\njson_retries = 0\n", 1))
        monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
        yield path, load_settings(path)
        for proc in LAUNCHED:  # a failed test leaves no run behind
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        LAUNCHED.clear()


LAUNCHED: list[subprocess.Popen] = []


def launch(settings_file: Path, log: Path, asset: str, config: dict, partition: str | None = None) -> subprocess.Popen:
    """`dg launch`, as a user would from a shell, in a process group of its own (the run's step
    processes die with it)."""
    step = asset.replace("/", "__")
    command = [str(Path(sys.executable).parent / "dg"), "launch", "--assets", asset, "-m", "definitions",
               "--config-json", json.dumps({"ops": {step: {"config": config}}})]
    if partition is not None:
        command += ["--partition", partition]
    LAUNCHED.append(subprocess.Popen(command, cwd=ROOT, env={**os.environ, "VIBESCOPE_SETTINGS": str(settings_file)},
                                     stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True))
    return LAUNCHED[-1]


def finish(proc: subprocess.Popen, log: Path) -> str:
    assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    return log.read_text()


def step_window(log_text: str) -> tuple[float, float]:
    """When the describer step started and last reported (its output), from the run's event log."""
    stamps = [time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) for line in log_text.splitlines()
              if "arena__battle_differences - STEP_" in line and "STEP_WORKER" not in line]
    return stamps[0], stamps[-1]


def differences(settings) -> pd.DataFrame:
    with open_reader(settings) as con:
        return con.execute("SELECT battle_id, partition_key, properties_json, error FROM arena.battle_differences "
                           "ORDER BY battle_id").df()


class Reader(threading.Thread):
    """Reads the partitions' row counts over and over, as the app would, until stopped."""

    def __init__(self, settings):
        super().__init__(daemon=True)
        self.settings, self.stop, self.seen, self.errors = settings, threading.Event(), [], []

    def run(self):
        while not self.stop.is_set():
            try:
                with open_reader(self.settings) as con:
                    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'arena' "
                                         "AND table_name = 'battle_differences'").fetchone()[0]
                    if exists:
                        self.seen.append(dict(con.execute("SELECT partition_key, count(*) FROM "
                                                          "arena.battle_differences GROUP BY ALL").fetchall()))
            except Exception as exc:  # noqa: BLE001 - every failure is reported by the test
                self.errors.append(repr(exc))
            time.sleep(0.3)


def model_calls(settings, cached: int) -> int:
    with sqlite3.connect(settings.path("cache")) as db:
        return db.execute("SELECT count(*) FROM calls WHERE asset = 'arena/battle_differences' AND cached = ?",
                          [cached]).fetchone()[0]


@pytest.mark.slow
def test_two_writers_readers_and_a_killed_writer(lake, tmp_path, page, artifacts):
    settings_file, settings = lake
    finish(launch(settings_file, tmp_path / "battles.log", "arena/battles",
                  {"dataset": "fictional", "num_samples": BATTLES}), tmp_path / "battles.log")
    with open_reader(settings) as con:
        battle_ids = con.execute("SELECT battle_id FROM arena.battles").df().battle_id
    size = battle_ids.map(lambda b: bucket_of(b, PARTITIONS)).value_counts().to_dict()
    assert set(size) == {"0", "1"}, "the sample must fill both partitions"

    # two writers at once, read by this process, the CLI and the app all along
    reader = Reader(settings)
    reader.start()
    with streamlit_app(settings_file, tmp_path) as url:
        runs = {p: launch(settings_file, tmp_path / f"part{p}.log", "arena/battle_differences", DESCRIBER, p)
                for p in ("0", "1")}
        cli = []
        while any(r.poll() is None for r in runs.values()):
            cli.append(subprocess.run([sys.executable, "-m", "resources.warehouse_cli", "sql",
                                       "SELECT count(*) AS n FROM arena.battles"], cwd=ROOT, capture_output=True,
                                      text=True, env={**os.environ, "VIBESCOPE_SETTINGS": str(settings_file)}))
            if len(cli) == 1:
                page.goto(f"{url}/Tables")  # the table inventory (Home shows the findings)
                page.get_by_text("schema arena").wait_for()
                page.screenshot(path=artifacts / "app_tables_ducklake_during_writes.png", full_page=True)
            time.sleep(2)
        logs = {p: finish(r, tmp_path / f"part{p}.log") for p, r in runs.items()}
    reader.stop.set()
    reader.join()

    (start0, end0), (start1, end1) = step_window(logs["0"]), step_window(logs["1"])
    assert start0 <= end1 and start1 <= end0, "the two partitions' steps did not overlap"
    assert cli and all(c.returncode == 0 and str(BATTLES) in c.stdout for c in cli), cli[-1].stderr
    assert not reader.errors, reader.errors[:3]
    assert reader.seen, "the reader saw nothing while the writers ran"
    # a partition is seen whole or not at all, never half written
    assert all(seen.get(p, 0) in (0, size[p]) for seen in reader.seen for p in size), reader.seen

    both = differences(settings)
    assert sorted(both.battle_id) == sorted(battle_ids)  # every battle once
    assert (both.partition_key == both.battle_id.map(lambda b: bucket_of(b, PARTITIONS))).all()

    # SIGKILL a writer after its first model answer, before it could write
    hits_before = model_calls(settings, cached=1)
    fresh_before = model_calls(settings, cached=0)
    hotter = {**DESCRIBER, "temperature": 1.0}  # new requests: nothing for them in the cache yet
    victim = launch(settings_file, tmp_path / "killed.log", "arena/battle_differences", hotter, "1")
    deadline = time.monotonic() + 300
    while model_calls(settings, cached=0) == fresh_before:
        assert victim.poll() is None and time.monotonic() < deadline, (tmp_path / "killed.log").read_text()[-3000:]
        time.sleep(0.2)
    answered = model_calls(settings, cached=0) - fresh_before
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert answered < size["1"], "the writer finished its partition before it was killed"
    pd.testing.assert_frame_equal(differences(settings), both)  # the old partition, whole

    finish(launch(settings_file, tmp_path / "rerun.log", "arena/battle_differences", hotter, "1"),
           tmp_path / "rerun.log")
    after = differences(settings)
    assert sorted(after.battle_id) == sorted(battle_ids)  # no duplicate, none lost
    pd.testing.assert_frame_equal(after[after.partition_key == "0"].reset_index(drop=True),
                                  both[both.partition_key == "0"].reset_index(drop=True))
    # the killed run's answers were kept: the rerun found them in the cache
    assert model_calls(settings, cached=1) - hits_before >= answered
    with open_reader(settings) as con:
        written = con.execute("SELECT run_id, snapshot_read FROM core.materializations "
                              "WHERE table_name = 'arena.battle_differences'").fetchone()
    assert written[0] and written[1] is not None  # which run, and the snapshot it read
