"""`python -m vibescope demo`: a Dagster run through `dg launch`, then where its time went."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def demo(settings_file, dagster_home, select: str) -> subprocess.CompletedProcess:
    dagster_home.mkdir(exist_ok=True)
    shutil.copy(ROOT / "dagster_instance.yaml", dagster_home / "dagster.yaml")
    env = {**os.environ, "VIBESCOPE_SETTINGS": str(settings_file), "DAGSTER_HOME": str(dagster_home)}
    return subprocess.run([sys.executable, "-m", "vibescope", "demo", "--select", select], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_demo_prints_a_row_per_step_with_its_llm_calls_then_the_tables(settings_file, tmp_path):
    out = demo(settings_file, tmp_path / "dagster_home", "core/role_health,core/llm_calls")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = out.stdout.split("== where the time went", 1)[1]
    rows = {line.split()[0]: line.split() for line in report.splitlines() if line.startswith(" ") or "__" in line}
    step = rows["core__role_health"]
    assert step[1:3] == ["core", "success"] and int(step[4]) > 0  # seconds, then LLM calls
    assert "core__llm_calls" in rows and "step seconds per pipeline: core" in report
    assert "run " in report and ": SUCCESS" in report
    tables = out.stdout.split("== tables written ==", 1)[1]
    assert "core.role_health" in tables and "core.llm_calls" in tables
    assert " - DEBUG - " not in out.stdout + out.stderr  # Dagster's event lines stay in the run's log


@pytest.mark.slow
def test_a_failed_step_is_named_with_its_first_error_line_and_the_exit_is_not_zero(settings_file, tmp_path):
    # a SQL model whose upstream tables were never materialized
    out = demo(settings_file, tmp_path / "dagster_home", "cje/importance_weights")
    assert out.returncode == 1
    failed = [line for line in out.stdout.splitlines() if line.startswith("FAILED ")]
    assert len(failed) == 1 and failed[0].startswith("FAILED cje__importance_weights: ")
    assert "sql/cje/importance_weights.sql" in failed[0] and "does not exist" in failed[0]
    assert "== tables written ==" not in out.stdout


@pytest.mark.slow
def test_a_run_killed_while_it_holds_the_model_slot_does_not_block_the_next(settings_file, tmp_path):
    import signal
    import time

    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_instance.yaml", home / "dagster.yaml")
    env = {**os.environ, "VIBESCOPE_SETTINGS": str(settings_file), "DAGSTER_HOME": str(home)}
    first = subprocess.Popen([sys.executable, "-m", "vibescope", "demo", "--select", "core/role_health"],
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        deadline = time.monotonic() + 300
        while not instance.event_log_storage.get_concurrency_info("local_model").claimed_slots:
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        os.killpg(first.pid, signal.SIGKILL)  # the run dies holding the slot
        first.wait()
        held = instance.event_log_storage.get_concurrency_info("local_model").claimed_slots
        assert len(held) == 1
    second = demo(settings_file, home, "core/role_health")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"run {held[0].run_id} was killed while it held a model slot: marked failed, slot freed" in second.stdout


def test_a_selection_that_starts_no_run_says_so(settings_file, tmp_path):
    out = demo(settings_file, tmp_path / "dagster_home", "no_such/asset")
    assert out.returncode != 0 and "no run was started" in out.stdout
    assert "where the time went" not in out.stdout


def test_a_report_of_an_unknown_run_names_it(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    out = subprocess.run([sys.executable, "-m", "vibescope", "run-report", "no-such-run"], cwd=ROOT,
                         env={**os.environ, "DAGSTER_HOME": str(home)}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and f"no run no-such-run in the Dagster instance at {home}" in out.stderr


def test_whole_group_commands_refuse_partitioned_stages(tmp_path):
    """`vibescope demo` runs whole groups in one run; with partitions on it stops before any run."""
    from tests.conftest import write_settings

    path = write_settings(tmp_path / "s.toml")
    path.write_text(path.read_text().replace("partitions = 0", "partitions = 2", 1))
    done = subprocess.run([sys.executable, "-m", "vibescope", "demo"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "VIBESCOPE_SETTINGS": str(path), "DAGSTER_HOME": str(tmp_path / "home")})
    assert done.returncode != 0
    assert "[warehouse] partitions = 2: `vibescope demo` runs whole groups" in done.stderr
    assert not (tmp_path / "data").exists()  # nothing was materialized
