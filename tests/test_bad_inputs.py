"""The bad-input corpus (tests/bad_inputs/): each file goes through the pipeline step that reads it,
as a user would run it, and gets the exact message below (or is read, with what was wrong counted
and flagged); no case changes a table written before it."""

from pathlib import Path

import dagster as dg
import pytest

from resources import build_resources
from resources.datasets import MAX_TEXT_CHARS
from resources.warehouse import Warehouse
from tests.conftest import write_settings

CORPUS = Path(__file__).parent / "bad_inputs"
DIFF_STEP = ["diff/rows"]
CJE_STEP = ["cje/policies", "cje/prompts", "cje/responses", "cje/teacher_forced_logprobs", "cje/judge_scores",
            "cje/oracle_labels"]

# file -> the message a user gets (the error's last line, exactly, with {path} for the file)
REFUSED = {
    "diff_missing_column.csv": "{path}: missing column(s) answer; it has: text",
    "diff_empty.csv": "{path}: the file is empty",
    "diff_all_texts_empty.csv": "{path}: no non-empty text in column 'answer' (3 rows, all empty)",
    "diff_non_utf8.csv": "{path}: not UTF-8 text (line 3, byte 31: 0xff); save it as UTF-8",
    "cje_empty.jsonl": "{path}: no rows",
    "cje_json_array.jsonl": "{path}:1: a JSON list, not an object: JSONL holds one object per line",
    "cje_judge_score_null.jsonl": "{path}:2: judge_score is null; every row needs a finite judge score "
                                  "(score it, or leave the row out)",
    "cje_judge_score_text.jsonl": '{path}:3: judge_score is "high", not a number',
    "cje_logprob_text.jsonl": '{path}:2: base_policy_logprob is "-3.2", not a number',
    "cje_duplicate_prompt_ids.jsonl": "{path}: duplicate prompt_id(s) p1: each logged prompt must appear once",
    "cje_oracle_label_7.jsonl": "{path}:2: oracle_label 7 is outside [0, 1]",
    "cje_oracle_label_minus_1.jsonl": "{path}:3: oracle_label -1 is outside [0, 1]",
    "cje_non_utf8.jsonl": "{path}: not UTF-8 text (line 2, byte 247: 0xff); save it as UTF-8",
    # found by the fuzzer (tests/fuzz/test_cje_files.py): both raised pyarrow's or Python's errors
    "cje_prompt_a_number.jsonl": "{path}:2: prompt is 123, not text",
    "cje_targets_a_list.jsonl": "{path}:2: target_policy_logprobs is not an object of policy -> log-probability",
}


def materialize(settings_file, path: Path, raise_on_error=False, extra=()):
    import definitions

    if path.name.startswith("diff_"):
        selection, ops = DIFF_STEP, {"diff__rows": {"config": {
            "a": str(path), "b": "sample:em_high_severity", "max_rows": 4}}}
    else:
        selection, ops = CJE_STEP, {"cje__logged_data": {"config": {
            "logged_data": str(path), "fresh_draws_dir": "", "probe_dir": "", "oracle_fraction": 1.0,
            "identical_policies": ["clone"]}}}
    return dg.materialize(definitions.defs.assets, resources=build_resources(str(settings_file)),
                          selection=[*selection, *extra], run_config={"ops": ops}, raise_on_error=raise_on_error)


def message(result) -> str:
    error = result.get_step_failure_events()[0].event_specific_data.error
    while error.cause is not None:
        error = error.cause
    return error.message.strip().splitlines()[-1].split(": ", 1)[1]  # "DatasetError: <message>"


def fingerprint(wh: Warehouse) -> dict[str, str]:
    """A checksum of every table's rows."""
    tables = wh.query("SELECT schema_name || '.' || table_name AS t FROM duckdb_tables()").t
    return {t: wh.query(f"SELECT md5(coalesce(string_agg(CAST(x AS VARCHAR), '|' ORDER BY CAST(x AS VARCHAR)), '')) "
                        f"AS h FROM {t} AS x").h[0] for t in tables}


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """A warehouse with good diff.rows and cje.* tables: what no bad input may change."""
    path = write_settings(tmp_path_factory.mktemp("bad_inputs") / "dagster_project.toml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIBESCOPE_SETTINGS", str(path))
        assert materialize(path, CORPUS / "diff_some_texts_empty.csv", raise_on_error=True).success
        assert materialize(path, CORPUS / "cje_good.jsonl", raise_on_error=True).success
        yield path, Warehouse(settings_file=str(path))


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_its_message_and_nothing_changed(earlier, name, monkeypatch):
    settings_file, wh = earlier
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(settings_file))
    before = fingerprint(wh)
    path = CORPUS / name
    result = materialize(settings_file, path)
    assert not result.success
    assert message(result) == REFUSED[name].format(path=path)
    assert fingerprint(wh) == before


def test_a_50_mb_row_is_refused_naming_its_row(earlier, tmp_path, monkeypatch):
    settings_file, wh = earlier
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(settings_file))
    before = fingerprint(wh)
    path = tmp_path / "diff_huge_row.csv"
    path.write_text("answer\nA short answer.\n" + "x" * 50 * 2**20 + "\n")
    result = materialize(settings_file, path)
    assert message(result) == (f"{path}: row 1, column 'answer' holds 52,428,800 characters; texts over "
                               f"{MAX_TEXT_CHARS:,} are refused (cut it first)")
    big = tmp_path / "cje_huge_row.jsonl"
    big.write_text((CORPUS / "cje_good.jsonl").read_text().replace("Answer p2.", "y" * 50 * 2**20))
    assert message(materialize(settings_file, big)) == (
        f"{big}:2: {len(big.read_text().splitlines()[1]):,} characters in one row; rows over "
        f"{2 * MAX_TEXT_CHARS:,} are refused")
    assert fingerprint(wh) == before


def test_empty_texts_are_left_out_counted_and_named(earlier, monkeypatch):
    settings_file, _ = earlier
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(settings_file))
    result = materialize(settings_file, CORPUS / "diff_some_texts_empty.csv")
    meta = result.asset_materializations_for_node("diff__rows")[0].metadata
    assert meta["empty_texts_a"].value == 2 and meta["empty_text_rows_a"].value == [1, 3]
    assert meta["rows_a"].value == 4


def test_a_quoted_newline_stays_inside_its_text(earlier, monkeypatch):
    settings_file, wh = earlier
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(settings_file))
    assert materialize(settings_file, CORPUS / "diff_embedded_newline.csv").success
    texts = wh.query("SELECT text FROM diff.rows WHERE side = 'A' ORDER BY idx").text.tolist()
    assert texts[0] == "First line of the answer.\nSecond line, same cell." and len(texts) == 4


def test_bad_logprobs_are_kept_flagged_and_counted(earlier, monkeypatch):
    settings_file, wh = earlier
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(settings_file))
    before = fingerprint(wh)
    result = materialize(settings_file, CORPUS / "cje_logprobs_positive_nan_inf.jsonl",
                         extra=["cje/importance_weights", "cje/weight_diagnostics"])
    assert result.success
    problems = wh.query("SELECT prompt_id, policy, problem FROM cje.importance_weights "
                        "WHERE problem IS NOT NULL ORDER BY ALL")
    assert set(map(tuple, problems.to_numpy())) == {
        ("p1", "clone", "positive log-probability"),
        ("p2", "base", "missing log-probability"), ("p2", "clone", "missing log-probability"),
        ("p2", "terse", "missing log-probability"),
        *((("p4", policy, "base log-probability -inf: infinite weight") for policy in ("base", "clone", "terse")))}
    # p3's terse -Infinity: a response terse cannot sample, weight 0, not a problem
    diag = wh.query("SELECT policy, n, n_flagged, n_weight_zero FROM cje.weight_diagnostics").set_index("policy")
    assert diag.loc["terse", "n_flagged"] == 2 and diag.loc["terse", "n"] == 6
    assert diag.loc["terse", "n_weight_zero"] == 1 and diag.loc["clone", "n_weight_zero"] == 0
    assert fingerprint(wh)["diff.rows"] == before["diff.rows"]  # the other pipeline's table is untouched


def test_ess_of_huge_log_ratios_does_not_overflow(earlier, tmp_path, monkeypatch):
    """w^2 overflows a double past a log-ratio of about 355: ESS comes from shifted log-weights."""
    import json

    import numpy as np

    settings_file, wh = earlier
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(settings_file))
    rows = [json.loads(line) for line in (CORPUS / "cje_good.jsonl").read_text().splitlines()]
    ratios = [400.0, 390.0, 380.0, 0.0, -5.0, 401.0, 399.5, 10.0]
    for r, lr in zip(rows, ratios):  # a long response: log-probabilities far below 0
        r["base_policy_logprob"] = r["target_policy_logprobs"]["clone"] = -1000.0
        r["target_policy_logprobs"]["terse"] = -1000.0 + lr
    path = tmp_path / "cje_huge_ratios.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert materialize(settings_file, path, extra=["cje/importance_weights", "cje/weight_diagnostics"]).success
    diag = wh.query("SELECT * FROM cje.weight_diagnostics WHERE policy = 'terse'").iloc[0]
    shifted = np.exp(np.array(ratios) - max(ratios))
    assert diag.ess == pytest.approx(shifted.sum() ** 2 / (shifted ** 2).sum(), rel=1e-12)
    assert np.isfinite(diag.ess_fraction) and diag.n == 8


def test_unknown_arena_dataset_lists_the_valid_names():
    from assets.arena.battles import load_battles
    from assets.arena.config import BattlesConfig
    from resources.datasets import DatasetError, Datasets

    with pytest.raises(DatasetError, match=r"dataset 'arenna' is unknown: use one of arena, webdev, coding, "
                                           r"fictional, or a path to a \.csv, \.jsonl, \.json, \.parquet, \.eval file"):
        load_battles(BattlesConfig(dataset="arenna"), Datasets())


def test_non_finite_vectors_are_refused_naming_the_item():
    import numpy as np

    from resources.embeddings import check_finite

    vectors = np.ones((3, 4), dtype=np.float32)
    vectors[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"m gave non-finite vectors \(NaN or inf\) for 1 of 3 item\(s\): #1 'b'"):
        check_finite(vectors, ["a", "b", "c"], "m")
    check_finite(np.ones((2, 2)), ["a", "b"], "m")  # finite: passes


@pytest.mark.parametrize("config, expected", [
    ({"source": "file"}, "source 'file'; valid: files, cje_logs"),
    ({"source": "cje_logs"}, "source cje_logs: there are no built logs (cje_logs.logged_rows); materialize the "
                             "cje_logs group first, or `vibescope cje build`"),
])
def test_a_wrong_cje_source_is_named(earlier, monkeypatch, config, expected):
    import definitions

    settings_file, wh = earlier
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(settings_file))
    before = fingerprint(wh)
    result = dg.materialize(definitions.defs.assets, resources=build_resources(str(settings_file)),
                            selection=CJE_STEP, run_config={"ops": {"cje__logged_data": {"config": config}}},
                            raise_on_error=False)
    assert message(result) == expected
    assert fingerprint(wh) == before
