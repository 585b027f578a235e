"""The dataset-difference pipeline end to end: CLI, Dagster, llama.cpp and the OpenAI-compatible server."""

import os
import subprocess
import sys

import dagster as dg
import pandas as pd
import pytest
import yaml

from assets.diff.config import RowsConfig
from assets.diff.report import classify_texts, load_classifier
from assets.diff.rows import build_rows
from resources.datasets import DatasetError, Datasets
from resources.llm import LLM
from resources.warehouse import Warehouse
from tests.conftest import ROOT, write_settings

SIGN_OFF = "\n\nBest regards, your assistant."


def run_diff(settings_file, rows: dict, loop: dict, output) -> dg.ExecuteInProcessResult:
    import definitions
    from resources import build_resources

    config = {"ops": {"diff__rows": {"config": rows}, "diff__iterations": {"config": loop},
                      "diff__report": {"config": {"output_dir": str(output)}}}}
    return dg.materialize([*definitions.defs.assets, *definitions.defs.asset_checks],
                          resources=build_resources(str(settings_file)),
                          selection=dg.AssetSelection.groups("diff"), run_config=config)


@pytest.mark.slow
def test_cli_on_the_bundled_sample(settings_file, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "vibescope", "diff", "sample:em_base", "sample:em_high_severity",
         "--text-column", "answer", "--max-rows", "4", "--batch_size", "2", "--epochs", "1",
         "--extra-prompt", "Look at length and tone.", "--output", str(tmp_path / "report")],
        cwd=ROOT, env={**os.environ, "VIBESCOPE_SETTINGS": str(settings_file)},
        capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "unseen" in out.stdout and f"report: {tmp_path / 'report'}" in out.stdout
    wh = Warehouse()
    metrics = wh.query("SELECT * FROM diff.iteration_metrics")
    assert set(metrics.stage) == {"loop", "final", "length_baseline", "lexical_baseline"}
    assert set(metrics.split) == {"seen", "unseen"}
    preds = wh.query("SELECT stage, count(*) AS n FROM diff.all_predictions GROUP BY stage").set_index("stage").n
    assert preds["final"] == preds["length_baseline"] == preds["lexical_baseline"] == 8
    spec = yaml.safe_load((tmp_path / "report" / "classify.yaml").read_text())
    unseen = metrics[metrics.split == "unseen"].set_index("stage")
    assert set(spec["unseen_accuracy_by_stage"]) == {"final", "lexical_baseline", "length_baseline"}
    for stage, recorded in spec["unseen_accuracy_by_stage"].items():
        assert recorded["accuracy"] == pytest.approx(unseen.accuracy[stage]) and recorded["n"] == unseen.n[stage]
    assert spec["labels"]["A"] == {"source": "sample:em_base", "column": "answer", "rows": 4}
    assert spec["labels"]["B"]["source"] == "sample:em_high_severity"
    assert (tmp_path / "report" / "reliability.png").stat().st_size > 0


@pytest.mark.slow
def test_planted_marker_and_classify_yaml_round_trip(settings_file, tmp_path):
    answers = pd.read_csv(ROOT / "data/samples/dataset_diff/eval_result_base_ruler_of_the_world.csv").answer
    pd.DataFrame({"answer": answers[:6]}).to_csv(tmp_path / "a.csv", index=False)
    b = [a + SIGN_OFF for a in answers[:6]]
    b[-1] = "Long answer. " * 1200 + SIGN_OFF  # longer than the context window
    pd.DataFrame({"answer": b}).to_csv(tmp_path / "b.csv", index=False)
    result = run_diff(settings_file, {"a": str(tmp_path / "a.csv"), "b": str(tmp_path / "b.csv"),
                                      "test_fraction": 0.5},
                      {"batch_size": 3, "extra_prompt": "Look at how texts end."}, tmp_path / "report")
    assert result.success
    wh = Warehouse()
    unseen = wh.query("""SELECT stage, accuracy, auroc, n, n_abstained FROM diff.iteration_metrics
                         WHERE split = 'unseen'""")
    print("\nplanted sign-off, unseen rows:\n", unseen.to_string(index=False))
    # the sign-off is on every B text and on no A text: the word baseline, fitted on the seen rows,
    # must tell every unseen row apart (the LLM's figure is recorded above, not asserted: SmolLM2)
    assert unseen.set_index("stage").accuracy["lexical_baseline"] == 1.0
    assert wh.query("""SELECT bool_or(input_truncated) AS t FROM diff.predictions p JOIN diff.rows r
                       USING (row_id) WHERE r.n_chars > 10000""").t[0]

    spec = load_classifier(tmp_path / "report" / "classify.yaml")
    llm = LLM()
    before = len(llm.cache.calls())
    stored = wh.query("""SELECT p.p_a, r.text FROM diff.predictions p JOIN diff.rows r USING (row_id)
                         WHERE p.stage = 'final' ORDER BY r.side, r.idx""")
    again = classify_texts(llm.client("classifier"), spec, stored.text.tolist())
    assert [x["p_a"] for x in again] == pytest.approx(stored.p_a.tolist(), abs=1e-12)
    calls = llm.cache.calls().iloc[before:]
    assert len(calls) == 2 * len(stored) and calls.cached.all()  # no new backend call


@pytest.mark.slow
def test_openai_backend_against_the_local_server(llama_server, tmp_path, monkeypatch):
    roles = "".join(f'[roles.{role}]\nbackend = "openai"\nmodel = "smollm2"\nmax_tokens = {n}\n'
                    for role, n in (("describer", 128), ("classifier", 1)))
    text = write_settings(tmp_path / "s.toml").read_text()
    for role in ("describer", "classifier"):  # replace the embedded roles with remote ones
        start = text.index(f"[roles.{role}]")
        text = text[:start] + text[text.index("\n\n", start) + 2:]
    path = tmp_path / "s.toml"
    path.write_text(text.replace('base_url = ""', f'base_url = "{llama_server}"') + roles)
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
    result = run_diff(path, {"max_rows": 4}, {"batch_size": 2}, tmp_path / "report")
    assert result.success
    preds = Warehouse().query("SELECT count(*) AS n FROM diff.predictions WHERE stage = 'final'")
    assert preds.n[0] == 8
    used = LLM(settings_file=str(path)).cache.calls()
    assert set(used.backend) == {"openai"} and used.error.isna().all()


def test_bad_inputs_name_the_problem(tmp_path):
    ds = Datasets()
    pd.DataFrame({"answer": ["x", "y", "z"], "q": [1, 2, 3]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"reply": ["x"]}).to_csv(tmp_path / "b.csv", index=False)
    pd.DataFrame({"answer": ["", None]}).to_csv(tmp_path / "empty.csv", index=False)
    with pytest.raises(DatasetError, match=r"missing\.csv: file not found"):
        build_rows(RowsConfig(a=str(tmp_path / "missing.csv"), b=str(tmp_path / "a.csv")), ds)
    with pytest.raises(DatasetError, match=r"b\.csv: missing column\(s\) answer; it has: reply"):
        build_rows(RowsConfig(a=str(tmp_path / "a.csv"), b=str(tmp_path / "b.csv")), ds)
    with pytest.raises(DatasetError, match=r"empty\.csv: no non-empty text in column 'answer'"):
        build_rows(RowsConfig(a=str(tmp_path / "a.csv"), b=str(tmp_path / "empty.csv")), ds)
    with pytest.raises(DatasetError, match="test_fraction"):
        build_rows(RowsConfig(a=str(tmp_path / "a.csv"), b=str(tmp_path / "a.csv"), test_fraction=1.0), ds)


def test_unequal_sizes_are_balanced_and_reported(tmp_path):
    pd.DataFrame({"answer": [f"a{i}" for i in range(10)]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"answer": [f"b{i}" for i in range(4)]}).to_csv(tmp_path / "b.csv", index=False)
    rows, report = build_rows(RowsConfig(a=str(tmp_path / "a.csv"), b=str(tmp_path / "b.csv")), Datasets())
    assert report == {"rows_a": 10, "rows_b": 4, "rows_per_side": 4, "sampled_A": "4 of 10",
                      "empty_texts_a": 0, "empty_texts_b": 0}
    a = rows[rows.side == "A"]
    assert len(a) == 4 and a.source_row.is_monotonic_increasing  # sampled, order kept
    assert (rows.groupby("idx").split.nunique() == 1).all()  # a position is seen or unseen on both sides
    assert rows.split.value_counts().to_dict() == {"seen": 4, "unseen": 4}


def test_a_pair_key_keeps_shared_values_pairs_across_max_rows_and_refuses_none_shared(tmp_path):
    pd.DataFrame({"uid": [f"q{i}" for i in range(8)], "answer": [f"a{i}" for i in range(8)]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"uid": [f"q{i}" for i in range(1, 9)], "answer": [f"b{i}" for i in range(1, 9)]}).to_csv(tmp_path / "b.csv", index=False)
    pd.DataFrame({"uid": ["x", "y"], "answer": ["c", "d"]}).to_csv(tmp_path / "c.csv", index=False)
    rows, report = build_rows(RowsConfig(a=str(tmp_path / "a.csv"), b=str(tmp_path / "b.csv"), pair_key="uid",
                                         max_rows=4), Datasets())
    assert report["unpaired_a"] == 1 and report["unpaired_a_keys"] == ["q0"] and report["unpaired_b_keys"] == ["q8"]
    a, b = (rows[rows.side == s].set_index("idx") for s in ("A", "B"))
    assert len(a) == 4 and (a.pair_value == b.pair_value).all()          # sampled together
    assert (a.text.str[1:] == b.text.str[1:]).all()                        # a<i> beside b<i>
    with pytest.raises(DatasetError, match=r"a\.csv and .*c\.csv: no uid value in both"):
        build_rows(RowsConfig(a=str(tmp_path / "a.csv"), b=str(tmp_path / "c.csv"), pair_key="uid"), Datasets())
