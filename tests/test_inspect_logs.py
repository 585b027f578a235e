"""Inspect AI `.eval` logs in: logs written by inspect-ai itself in the test (tests/helpers/
inspect_tasks.py, a model on 127.0.0.1), read back by `vibescope diff` (two logs, paired by sample
id) and by `arena.battles` (a pairwise judge's log); what they read is compared with the logs'
own JSON, opened with zipfile alone."""

import json
import os
import subprocess
import sys
import zipfile

import dagster as dg
import duckdb
import pytest
import zipfile_zstd  # noqa: F401  (Inspect writes its logs zstd-compressed; this teaches zipfile to read them)

from resources.datasets import DatasetError, read_file
from tests.conftest import ROOT, write_settings


def samples_in(path) -> dict[str, dict]:
    """The log's samples from its own files, by id: no inspect-ai code involved."""
    with zipfile.ZipFile(path) as z:
        return {str(d["id"]): d for d in (json.loads(z.read(n)) for n in z.namelist() if n.startswith("samples/"))}


@pytest.fixture(scope="module")
def logs(llama_server, tmp_path_factory):
    from tests.helpers.inspect_tasks import answers, pairwise, write_log

    folder = tmp_path_factory.mktemp("inspect_logs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLAMA_API_KEY", "none")          # Inspect's openai-api provider wants one; the server ignores it
        mp.setenv("INSPECT_LOG_DIR", str(folder))
        return {"a": write_log(answers("brief"), llama_server, folder),
                "b": write_log(answers("long", extra=1), llama_server, folder),   # one sample A lacks
                "pairwise": write_log(pairwise(), llama_server, folder)}


@pytest.mark.slow
def test_vibescope_diff_on_two_inspect_logs_pairs_their_samples_by_id(logs, tmp_path):
    settings = write_settings(tmp_path / "dagster_project.toml")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("VIBESCOPE_")}, "VIBESCOPE_SETTINGS": str(settings)}
    out = subprocess.run([sys.executable, "-m", "vibescope", "diff", logs["a"], logs["b"], "--max-rows", "4",
                          "--batch-size", "2", "--max-unseen", "2"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    a, b = samples_in(logs["a"]), samples_in(logs["b"])
    with duckdb.connect(str(tmp_path / "data" / "warehouse_snapshot.duckdb"), read_only=True) as con:
        rows = con.sql("SELECT side, idx, pair_value, text FROM diff.rows ORDER BY side, idx").df()
        assert con.sql("SELECT count(*) FROM diff.iteration_metrics").fetchone()[0] > 0
    assert len(rows) == 8   # --max-rows 4 of the 6 samples both logs have
    by_side = {side: group.set_index("idx") for side, group in rows.groupby("side")}
    assert (by_side["A"].pair_value == by_side["B"].pair_value).all()   # position i is one sample on both sides
    assert set(rows.pair_value) <= set(a) & set(b) and "q6" not in set(rows.pair_value)
    for side, log in (("A", a), ("B", b)):
        for r in by_side[side].itertuples():
            assert r.text == log[r.pair_value]["output"]["completion"]


@pytest.mark.slow
def test_arena_battles_read_a_pairwise_judges_log(logs, tmp_path, monkeypatch):
    import definitions
    from resources import build_resources
    from resources.warehouse import Warehouse

    settings = write_settings(tmp_path / "dagster_project.toml")
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(settings))
    assert dg.materialize(definitions.defs.assets, resources=build_resources(str(settings)), selection=["arena/battles"],
                          run_config={"ops": {"arena__battles": {"config": {"dataset": logs["pairwise"]}}}}).success
    battles = Warehouse(settings_file=str(settings)).query("SELECT * FROM arena.battles").set_index("battle_id")
    judged = samples_in(logs["pairwise"])
    assert set(battles.index) == set(judged)
    sides = {"A": "model_a", "B": "model_b", "tie": "tie"}
    for battle_id, sample in judged.items():
        row, meta = battles.loc[battle_id], sample["metadata"]
        assert (row.model_a, row.model_b, row.prompt) == (meta["model_a"], meta["model_b"], meta["prompt"])
        assert (row.response_a, row.response_b) == (meta["response_a"], meta["response_b"])
        assert row.winner == sides[sample["scores"]["first_letter_verdict"]["value"]]


def test_a_file_that_is_not_an_inspect_log_is_named(tmp_path):
    bad = tmp_path / "broken.eval"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(DatasetError, match=r"broken.eval: not an Inspect log that inspect-ai can read"):
        read_file(bad)
