"""Tracking to Weights & Biases and MLflow (resources/tracking.py): one materialization of the CJE
graph on the bundled sample, with both on, writes an offline W&B run named for the Dagster run,
whose folders hold each step's run config, row counts and metadata, and the headline tables,
re-read here from the files W&B wrote (its transaction log and table files), and one MLflow run
tagged with the Dagster run id, re-read from its SQLite store and artifact files with sqlite3 and
json alone; both compared with the warehouse. Off, neither is imported."""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from resources.warehouse import Warehouse
from tests.cje.conftest import materialize_cje
from tests.conftest import ROOT, write_settings
from tests.helpers.wandb_log import logged


def test_an_offline_run_holds_the_configs_counts_and_headline_tables(tmp_path, monkeypatch):
    settings = write_settings(tmp_path / "dagster_project.toml")
    settings.write_text(settings.read_text().replace('[tracking]\nwandb = false\nproject = "vibescope"\nmlflow = false',
                                                     '[tracking]\nwandb = true\nproject = "vibescope-test"\nmlflow = true\n'
                                                     'mode = "offline"', 1))
    assert 'project = "vibescope-test"' in settings.read_text()
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(settings))
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb_home" / var.lower()))  # nothing of W&B outside tmp_path
    monkeypatch.setenv("WANDB_SILENT", "true")
    result = materialize_cje(settings, oracle_fraction=1.0)
    assert result.success
    wh = Warehouse(settings_file=str(settings))
    folders = sorted((wh.settings.path("reports") / "wandb").glob(f"offline-run-*-{result.run_id}*"))
    assert folders, "no offline W&B run named for the Dagster run"
    summaries, configs, tables = {}, {}, {}
    for folder in folders:  # a folder per step, each with its transaction log (tests/helpers/wandb_log.py)
        history, config = logged(folder)
        summaries.update(history)
        configs.update({k: v for k, v in config.items() if not k.startswith("_")})
        for key in [k.removesuffix("/_type") for k, v in history.items() if k.endswith("/_type") and v == "table-file"]:
            tables[key] = json.loads((folder / "files" / history[f"{key}/path"]).read_text())
    # a step per folder, each with its config, its tables' row counts as written
    assert configs["cje__logged_data"]["oracle_fraction"] == 1.0 and configs["cje__calibrated_rewards"]["n_folds"] == 5
    counts = wh.query("SELECT table_name, row_count FROM core.materializations WHERE table_name LIKE 'cje.%'")
    for table, rows in counts.itertuples(index=False):
        assert summaries[f"{table}/rows"] == rows, table
    assert summaries["cje.calibrated_rewards/selected_mode"] == "two_stage"
    # the headline tables, cell for cell
    assert {"cje.policy_estimates", "cje.decision"} <= set(tables)
    estimates = wh.query("SELECT * FROM cje.policy_estimates")
    table = tables["cje.policy_estimates"]
    assert table["columns"] == list(estimates.columns) and len(table["data"]) == len(estimates)
    at = table["columns"].index("v_hat")
    ours = sorted(round(v, 12) for v in estimates.v_hat.dropna())
    assert sorted(round(r[at], 12) for r in table["data"] if r[at] is not None) == ours
    decision = wh.query("SELECT * FROM cje.decision").iloc[0]
    row = dict(zip(tables["cje.decision"]["columns"], tables["cje.decision"]["data"][0]))
    assert row["best_policy"] == decision.best_policy and row["note"] == decision.note

    # MLflow: one run for the Dagster run, whatever the number of steps that logged to it
    with sqlite3.connect(wh.settings.path("reports") / "mlflow.db") as db:
        (run_uuid, artifacts), = db.execute(
            "SELECT r.run_uuid, r.artifact_uri FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            "JOIN experiments e ON e.experiment_id = r.experiment_id "
            "WHERE t.key = 'dagster_run_id' AND t.value = ? AND e.name = 'vibescope-test'", (result.run_id,)).fetchall()
        metrics = dict(db.execute("SELECT key, value FROM latest_metrics WHERE run_uuid = ?", (run_uuid,)).fetchall())
        params = dict(db.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_uuid,)).fetchall())
        run_tags = dict(db.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_uuid,)).fetchall())
    for table, rows in counts.itertuples(index=False):
        assert metrics[f"{table}/rows"] == rows, table
    assert params["cje__logged_data.oracle_fraction"] == "1.0" and params["cje__calibrated_rewards.n_folds"] == "5"
    assert run_tags["cje.calibrated_rewards/selected_mode"] == "two_stage"
    logged_table = json.loads((Path(urlparse(artifacts).path) / "cje.policy_estimates.json").read_text())
    assert logged_table["columns"] == list(estimates.columns) and len(logged_table["data"]) == len(estimates)
    at = logged_table["columns"].index("v_hat")
    # MLflow writes its table files with pandas' to_json, which keeps 10 decimals
    assert sorted(r[at] for r in logged_table["data"] if r[at] is not None) == pytest.approx(ours, abs=1e-9)


def test_off_nothing_of_wandb_or_mlflow_is_imported(tmp_path):
    settings = write_settings(tmp_path / "dagster_project.toml")
    code = ("import sys, dagster as dg; import definitions; from resources import build_resources; "
            "from tests.cje.conftest import materialize_cje; "
            f"r = materialize_cje({str(settings)!r}, oracle_fraction=1.0); "
            "print(r.success, 'wandb' in sys.modules, 'mlflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "VIBESCOPE_SETTINGS": str(settings)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True False False"
