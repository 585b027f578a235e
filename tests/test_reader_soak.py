"""The reader sandbox under load: while a Dagster run replaces a table again and again, the app's
SQL page, the CLI and two Python readers send a fixed mix of queries (good ones, ones DuckDB
rejects, runaway ones, ones that reach for files). Each is answered or refused in one line within
the readers' timeout, and the writer is never held up by them."""

import os
import re
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from resources.reader import ReadOnlyError, open_reader, readonly_query
from resources.settings import load_settings
from resources.warehouse import Warehouse
from tests.conftest import ROOT, streamlit_app, write_settings

TIMEOUT_S = 2
ANSWERED = ["SELECT count(*) AS n FROM test.numbers", "SELECT max(version) AS v FROM test.numbers"]
# DuckDB's own words on one line, naming what is wrong (with its hint where it has one)
REJECTED = {"SELECT * FROM test.nope": r'Catalog Error: Table with name nope does not exist! Did you mean "(test\.)?numbers"',
            "SELECT verison FROM test.numbers": r'Binder Error: Referenced column "verison" not found .*"version"',
            "SELECT 'a'::INTEGER + 1": r"Conversion Error: Could not convert string 'a' to INT32"}
RUNAWAY = ["SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b",  # 10^12 pairs
           "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r",
           "SELECT count(*) FROM range(1000000000000)"]
OUTSIDE = ["SELECT content FROM read_text('/etc/hostname')", "COPY (SELECT 1) TO '/tmp/leak.csv'"]
STOPPED = f"stopped after {TIMEOUT_S} s, the statement timeout for readers"
MIX = [*ANSWERED, *REJECTED, *RUNAWAY, *OUTSIDE]


def expected_refusal(sql: str) -> str:
    """A pattern the refusal of `sql` must match, or "" where it must be answered."""
    if sql in REJECTED:
        return REJECTED[sql]
    if sql in RUNAWAY:
        return re.escape(STOPPED)
    if sql in OUTSIDE:
        return r"readers see the warehouse's tables only|the warehouse is read-only here"
    return ""


@pytest.fixture
def project(tmp_path, monkeypatch):
    path = write_settings(tmp_path / "dagster_project.toml", f"[readers]\nmax_rows = 50\ntimeout_s = {TIMEOUT_S}\n")
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
    Warehouse(settings_file=str(path)).write_table("test.numbers", pd.DataFrame({"i": range(10), "version": -1}))
    return path


def cli(settings_file, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "resources.warehouse_cli", "sql", sql], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "VIBESCOPE_SETTINGS": str(settings_file)})


def test_a_query_duckdb_rejects_is_refused_in_one_line_naming_what_is_wrong(project):
    for sql, pattern in REJECTED.items():
        out = cli(project, sql)
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        assert out.returncode == 1 and len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
        assert re.match("refused: " + pattern, lines[0]), lines[0]


class Readers(threading.Thread):
    """Sends `queries` one after another: (query, outcome, seconds, message) each."""

    def __init__(self, send, queries):
        super().__init__(daemon=True)
        self.send, self.queries, self.results = send, queries, []

    def run(self):
        for sql in self.queries:
            started = time.monotonic()
            outcome, message = self.send(sql)
            self.results.append((sql, outcome, time.monotonic() - started, message))


def python_reader(settings):
    def send(sql):
        with open_reader(settings) as con:
            try:
                result = readonly_query(con, sql, settings.readers.max_rows, settings.readers.timeout_s)
            except ReadOnlyError as exc:
                return "refused", str(exc)
            return "answered", result.frame.to_csv(index=False)
    return send


def cli_reader(settings_file):
    def send(sql):
        out = cli(settings_file, sql)
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        if out.returncode == 0:
            return "answered", out.stdout
        return "refused", lines[0].removeprefix("refused: ") if len(lines) == 1 else out.stderr
    return send


@pytest.mark.slow
def test_readers_under_a_hostile_mix_during_a_materialization(project, tmp_path, page):
    settings = load_settings(project)
    writer = subprocess.Popen([sys.executable, "-m", "tests.helpers.materialize", "numbers",
                               '{"rounds": 40, "rows": 100000}'], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "VIBESCOPE_SETTINGS": str(project)})
    with streamlit_app(project, tmp_path) as url:
        page.goto(f"{url}/SQL")
        box = page.get_by_label("query")
        while "wrote round 0" not in (line := writer.stdout.readline()):  # the writer is under way
            assert line, "the writer ended before its first round"
        readers = [Readers(python_reader(settings), MIX * 2), Readers(python_reader(settings), MIX[::-1] * 2),
                   Readers(cli_reader(project), MIX[1::2])]
        for r in readers:
            r.start()
        shown = []
        for sql in MIX:  # the app's SQL page, in this thread (playwright's)
            started = time.monotonic()
            box.fill(sql)
            box.press("Control+Enter")
            page.get_by_role("button", name="Run").click()
            alert = page.locator("[data-testid='stAlert']")
            alert.first.wait_for(timeout=(TIMEOUT_S + 30) * 1000)
            shown.append((sql, alert.first.inner_text(), time.monotonic() - started))
            page.reload()  # the next query starts from a page without the alert
            box = page.get_by_label("query")
        for r in readers:
            r.join(timeout=600)
        writer_out, _ = writer.communicate(timeout=600)
    assert writer.returncode == 0, writer_out[-3000:]

    python = [result for r in readers[:2] for result in r.results]
    assert len(python) == 4 * len(MIX) and len(readers[2].results) == len(MIX[1::2])
    for sql, outcome, seconds, message in [*python, *readers[2].results]:
        pattern = expected_refusal(sql)
        assert outcome == ("refused" if pattern else "answered"), (sql, message)
        if pattern:
            assert "\n" not in message and re.match(pattern, message), (sql, message)
    # within the timeout: the query's own time for Python readers; a CLI's includes starting Python
    assert max(s for _, _, s, _ in python) < TIMEOUT_S + 3, sorted(python, key=lambda r: -r[2])[:3]
    assert max(s for _, _, s, _ in readers[2].results) < TIMEOUT_S + 30
    for sql, text, seconds in shown:
        pattern = expected_refusal(sql)
        assert text.startswith("Refused: ") if pattern else re.match(r"[\d,]+ rows", text), (sql, text)
        assert not pattern or re.search(pattern, text), (sql, text)
    # the readers saw the table change under them, whole each time
    versions = {int(m) for sql, _, _, m in python if sql == ANSWERED[1] for m in re.findall(r"^-?\d+$", m, re.M)}
    assert len(versions) >= 2, versions
    # the writer was never held up: no round waited a reader's statement out (a runaway takes TIMEOUT_S)
    rounds = [float(s) for s in re.findall(r"wrote round \d+ in ([\d.]+) s", writer_out)]
    assert len(rounds) == 39 and max(rounds) < TIMEOUT_S, rounds
    assert Warehouse(settings_file=str(project)).query("SELECT max(version) AS v FROM test.numbers").v[0] == 39
