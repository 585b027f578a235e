"""Readers (the CLI, the app's SQL page) see the warehouse's tables and nothing else of the machine."""

import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from resources.warehouse import Warehouse
from tests.conftest import ROOT, streamlit_app, write_settings

HOSTILE = [
    "SELECT content FROM read_text('/etc/hostname')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT count(*) FROM glob('/root/**')",
    "SELECT * FROM read_parquet('https://example.com/a.parquet')",
    "SELECT * FROM read_blob('/etc/hostname')",
    "INSTALL httpfs",
    "LOAD httpfs",
    "ATTACH '/tmp/other.duckdb' AS other",
    "SET enable_external_access = true",
    "PRAGMA enable_profiling",
    "COPY (SELECT 1) TO '/tmp/leak.csv'",
    "EXPORT DATABASE '/tmp/leak'",
]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A snapshot with a 1,000-row table, readers capped at 5 rows and 2 s, one folder opened."""
    opened = tmp_path / "opened"
    opened.mkdir()
    (opened / "ok.csv").write_text("a,b\n1,2\n3,4\n")
    path = write_settings(tmp_path / "dagster_project.toml",
                          f'[readers]\nmax_rows = 5\ntimeout_s = 2\nallowed_directories = ["{opened}"]\n')
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
    Warehouse(settings_file=str(path)).write_table("t.numbers", pd.DataFrame({"i": range(1000)}))
    return path, opened


def cli(settings_file, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "resources.warehouse_cli", "sql", sql], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "VIBESCOPE_SETTINGS": str(settings_file)})


@pytest.mark.parametrize("sql", HOSTILE)
def test_the_cli_refuses_with_one_line(project, sql):
    out = cli(project[0], sql)
    assert out.returncode == 1 and out.stdout == ""
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("refused: "), out.stderr


def test_the_cli_caps_rows_stops_runaway_queries_and_reads_opened_folders(project):
    path, opened = project
    capped = cli(path, "SELECT * FROM t.numbers")
    assert capped.returncode == 0 and "(5 of 1,000 rows shown: [readers] max_rows)" in capped.stdout
    started = time.monotonic()
    runaway = cli(path, "SELECT count(*) FROM range(1000000000000)")
    assert runaway.stderr.strip() == ("refused: stopped after 2 s, the statement timeout for readers "
                                      "([readers] timeout_s in the settings)")
    assert time.monotonic() - started < 30  # the interpreter's start included
    allowed = cli(path, f"SELECT sum(b) AS s FROM read_csv('{opened / 'ok.csv'}')")
    assert allowed.returncode == 0 and allowed.stdout.split() == ["s", "6"]
    assert cli(path, "SELECT norm_sf(1.96) AS p").returncode == 0  # the p-value functions still work


@pytest.mark.slow
def test_the_sql_page_refuses_the_same_queries(project, tmp_path, page, artifacts):
    path, _ = project
    with streamlit_app(path, tmp_path) as url:
        page.goto(f"{url}/SQL")
        box = page.get_by_label("query")

        def run(sql: str) -> None:
            box.fill(sql)
            box.press("Control+Enter")
            page.get_by_role("button", name="Run").click()

        for sql in [*HOSTILE, "SELECT count(*) FROM range(1000000000000)"]:
            run(sql)
            alert = page.get_by_text("Refused: ", exact=False)
            alert.wait_for()
            assert alert.count() == 1, sql
            run("SELECT 1 AS x")  # the next query starts from a page without the alert
            page.get_by_text("1 rows").wait_for()
        run("SELECT * FROM t.numbers")
        page.get_by_text("1,000 rows (the first 5 shown)").wait_for()
        page.screenshot(path=artifacts / "app_sql_sandbox.png", full_page=True)


def listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses with a listening TCP socket on `port`, from /proc/net."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(address)
    return found


@pytest.mark.slow
def test_the_app_listens_on_loopback_only_without_any_flag(tmp_path):
    from tests.conftest import free_port, serve

    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app/Home.py", "--server.port", str(port)]
    with serve(command, f"http://127.0.0.1:{port}/_stcore/health", tmp_path / "streamlit.log"):
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and nothing else
