"""Arena behaviours: planted behaviours recovered; every metric re-derived with pandas + statsmodels."""

import json
import re
import os
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from assets.arena import fictional
from resources import build_resources
from resources.datasets import DatasetError, Datasets
from resources.warehouse import Warehouse
from tests.conftest import ROOT, streamlit_app

def recovery_by_pandas(members: pd.DataFrame, planted_models: list[str]) -> pd.DataFrame:
    """The recovery score written independently of sql/arena/planted_recovery.sql."""
    rows = []
    for model in planted_models:
        for level in ("fine", "coarse"):
            own = members.loc[members.model == model, f"{level}_cluster_id"]
            home = own.value_counts().sort_index().idxmax() if len(own) else None  # most, lowest id on a tie
            in_home = members[members[f"{level}_cluster_id"] == home]
            share = float((in_home.model == model).mean()) if len(own) else 0.0
            rows.append({"model": model, "level": level, "properties": len(own), "home_cluster": home,
                         "home_size": len(in_home), "share": share, "recovered": share >= 0.8})
    return pd.DataFrame(rows)


def run_recovery_sql(battles: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """sql/arena/planted_recovery.sql on hand-made tables, in a DuckDB of its own."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA arena")
    con.register("b", battles)
    con.register("m", members)
    con.execute("CREATE TABLE arena.battles AS SELECT * FROM b")
    con.execute("CREATE TABLE arena.clustered_properties AS SELECT * FROM m")
    return con.execute((ROOT / "sql" / "arena" / "planted_recovery.sql").read_text()).df()


def test_clustering_recovers_the_planted_behaviours_from_their_paraphrases(fictional_warehouse):
    wh = fictional_warehouse
    table = wh.query("SELECT * FROM arena.planted_recovery")
    # the cluster holding most of each model's properties comes >= 80% from that model, at both levels
    assert len(table) == 6 and table.recovered.all(), table
    assert (table.properties > 0).all()
    members = wh.query("SELECT model, fine_cluster_id, coarse_cluster_id FROM arena.clustered_properties")
    assert "fictional-plain" not in set(members.model)  # it has no planted behaviour
    expected = recovery_by_pandas(members, sorted(table.model.unique()))
    merged = table.merge(expected, on=["model", "level"], suffixes=("", "_pandas"))
    for column in ("properties", "home_cluster", "home_size", "share", "recovered"):
        assert (merged[column] == merged[f"{column}_pandas"]).all(), column
    # the score itself: a cluster half of one model's, half another's is not recovered
    battles = pd.DataFrame({"model_a": ["fictional-bullets"], "model_b": ["fictional-curious"],
                            "planted_properties": ['[{"model": "A"}, {"model": "B"}]']})
    mixed = pd.DataFrame({"model": ["fictional-bullets"] * 2 + ["fictional-curious"] * 2,
                          "fine_cluster_id": [0, 0, 0, 0], "coarse_cluster_id": [0, 0, 0, 0]})
    scored = run_recovery_sql(battles, mixed)
    assert len(scored) == 4 and scored.share.eq(0.5).all() and not scored.recovered.any()
    categories = wh.query("SELECT * FROM arena.prompt_categories")
    assert categories.broad_category.notna().all() and categories.narrower_category.notna().all()
    assert len(categories) == 120


def test_each_planted_behaviours_home_cluster_has_its_own_words_among_its_top_keywords(fictional_warehouse):
    from sklearn.feature_extraction.text import CountVectorizer

    from assets.arena.fictional import BEHAVIOURS

    analyze = CountVectorizer(stop_words="english").build_analyzer()
    words = {key: {w for p in phrasings for w in analyze(p)} for key, (_, _, phrasings) in BEHAVIOURS.items()}
    own = {key: mine - set().union(*(w for k, w in words.items() if k != key)) for key, mine in words.items()}
    wh = fictional_warehouse
    homes = wh.query("SELECT model, home_cluster FROM arena.planted_recovery WHERE level = 'fine'")
    labels = wh.query("SELECT cluster_id, keywords, name, named_by FROM arena.cluster_labels WHERE level = 'fine'")
    keywords = labels.set_index("cluster_id").keywords
    for home in homes.itertuples():
        top = set(keywords[home.home_cluster][:5])
        assert top & own[home.model.removeprefix("fictional-")], (home.model, top)
    # the name shown is the namer's label only where it names something
    assert set(labels.named_by) <= {"namer", "keywords"}
    by_keywords = labels[labels.named_by == "keywords"]
    assert all(n == ", ".join(k[:4]) for n, k in zip(by_keywords["name"], by_keywords.keywords))


def test_metrics_equal_pandas_and_statsmodels(fictional_warehouse):
    wh = fictional_warehouse
    battles = wh.query("SELECT battle_id, model_a, model_b, winner FROM arena.battles")
    clusters = wh.query("SELECT battle_id, model, fine_cluster_id, coarse_cluster_id FROM arena.property_clusters")
    got = wh.query("SELECT * FROM arena.model_cluster_metrics")
    sides = pd.concat([
        battles.assign(model=battles.model_a, outcome=battles.winner.map({"model_a": "win", "model_b": "loss", "tie": "tie"})),
        battles.assign(model=battles.model_b, outcome=battles.winner.map({"model_b": "win", "model_a": "loss", "tie": "tie"})),
    ])[["battle_id", "model", "outcome"]]
    checked = 0
    for level in ("fine", "coarse"):
        col = f"{level}_cluster_id"
        expected = []
        for k in sorted(clusters[col].unique()):
            shows = set(map(tuple, clusters.loc[clusters[col] == k, ["battle_id", "model"]].to_numpy()))
            s = sides.assign(shows=[(b, m) in shows for b, m in zip(sides.battle_id, sides.model)])
            for model, g in s.groupby("model"):
                w, wo = g[g.shows], g[~g.shows]
                others = s[s.model != model]
                row = {"cluster_id": k, "model": model, "battles": len(g), "battles_with": len(w),
                       "proportion": len(w) / len(g), "proportion_delta": len(w) / len(g) - others.shows.mean(),
                       "p_value": np.nan}
                dw = w[w.outcome != "tie"]
                dwo = wo[wo.outcome != "tie"]
                if len(dw) and len(dwo):
                    kw, kwo = (dw.outcome == "win").sum(), (dwo.outcome == "win").sum()
                    row["win_rate_with"], row["win_rate_without"] = kw / len(dw), kwo / len(dwo)
                    row["ci"] = proportion_confint(kw, len(dw), method="wilson")
                    pooled = (kw + kwo) / (len(dw) + len(dwo))
                    row["p_value"] = proportions_ztest([kw, kwo], [len(dw), len(dwo)])[1] if 0 < pooled < 1 else np.nan
                expected.append(row)
        expected = pd.DataFrame(expected)
        for model, fam in expected.groupby("model"):
            ok = fam.p_value.notna()
            expected.loc[fam.index[ok], "p_holm"] = multipletests(fam.p_value[ok], method="holm")[1]
        mine = got[got.level == level].set_index(["cluster_id", "model"])
        for r in expected.itertuples():
            m = mine.loc[(r.cluster_id, r.model)]
            assert (m.battles, m.battles_with) == (r.battles, r.battles_with)
            assert m.proportion == pytest.approx(r.proportion) and m.proportion_delta == pytest.approx(r.proportion_delta)
            if isinstance(getattr(r, "ci", None), tuple) and not np.isnan(r.p_value):
                assert m.win_rate_with == pytest.approx(r.win_rate_with)
                assert m.win_rate_without == pytest.approx(r.win_rate_without)
                assert (m.win_rate_with_ci_low, m.win_rate_with_ci_high) == pytest.approx(r.ci)
                assert m.p_value == pytest.approx(r.p_value, rel=1e-9)
                assert m.p_holm == pytest.approx(r.p_holm, rel=1e-9)
                checked += 1
    assert checked >= 5


def test_bad_battle_files_name_the_problem(tmp_path):
    from assets.arena.battles import load_battles
    from assets.arena.config import BattlesConfig

    pd.DataFrame({"model_a": ["x"], "model_b": ["y"], "prompt": ['["hi"]']}).to_csv(tmp_path / "few.csv", index=False)
    with pytest.raises(DatasetError, match=r"few\.csv: missing column\(s\) response_a, response_b, winner"):
        load_battles(BattlesConfig(dataset=str(tmp_path / "few.csv")), Datasets())
    pd.DataFrame({"model_a": ["x"], "model_b": ["y"], "prompt": ['["hi"]'], "response_a": ['["a"]'],
                  "response_b": ['["b"]'], "winner": ["model_c"]}).to_csv(tmp_path / "odd.csv", index=False)
    with pytest.raises(DatasetError, match=r"unknown winner value\(s\) 'model_c' \(1 rows\)"):
        load_battles(BattlesConfig(dataset=str(tmp_path / "odd.csv")), Datasets())


def test_bundled_sample_battles():
    from assets.arena.battles import load_battles
    from assets.arena.config import BattlesConfig

    frame = load_battles(BattlesConfig(num_samples=999, filter_english=False), Datasets())
    raw = pd.read_csv(ROOT / "data/samples/arena/lmsys_arena55k_sample.csv")  # its one-hot winner columns
    assert len(frame) == len(raw) == 999 and set(frame.winner) == {"model_a", "model_b", "tie"}
    assert (frame.winner == "tie").sum() == (raw.winner_tie == 1).sum() and (frame.n_turns > 1).any()
    english = load_battles(BattlesConfig(num_samples=999, exclude_ties=True), Datasets())
    assert len(english) < 704 and "tie" not in set(english.winner)


@pytest.mark.slow
def test_exports_and_page(fictional_warehouse, tmp_path, page, artifacts):
    import definitions

    settings_file = fictional_warehouse.settings_file
    result = dg.materialize([*definitions.defs.assets], resources=build_resources(settings_file),
                            selection=["arena/exports"])
    folder = result.asset_materializations_for_node("arena__exports")[0].metadata["folder"].value
    html = (Path(folder) / "interactive_cluster_visualization.html").read_text()
    assert html.count("plotly-graph-div") >= 3
    assert len(pd.read_parquet(Path(folder) / "properties.parquet")) == len(
        fictional_warehouse.query("SELECT * FROM arena.behavior_properties"))
    with streamlit_app(settings_file, tmp_path) as url:
        page.goto(f"{url}/Arena_behaviours")
        page.get_by_text("Which behaviours go with winning").wait_for()
        page.get_by_role("link", name=re.compile(r"open the \d+ battles of this cluster in the explorer")).wait_for()
        page.get_by_text("Keywords (c-TF-IDF against the other", exact=False).wait_for()
        page.get_by_text("Style: what each model's responses look like (no LLM)").wait_for()
        page.get_by_text("Describer control: the properties carry no evidence quotes", exact=False).wait_for()
        page.locator(".js-plotly-plot").nth(3).wait_for()  # Streamlit draws the plots one by one
        page.wait_for_timeout(1500)
        page.screenshot(path=artifacts / "app_arena.png", full_page=True)


@pytest.mark.slow
def test_embedded_describer_on_real_battles_flags_truncation_and_counts_failures(tmp_path, monkeypatch):
    """Three bundled battles (one response made ~5x the context window) through the embedded describer;
    then a describer with room for 8 tokens: every battle fails to parse, is counted, nothing crashes."""
    import definitions
    from tests.conftest import write_settings

    sample = pd.read_csv(Path(__file__).resolve().parents[2] / "data/samples/arena/lmsys_arena55k_sample.csv",
                         nrows=100)
    short = (sample.prompt.str.len() < 300) & (sample.response_a.str.len() < 1500) & (sample.response_b.str.len() < 1500)
    battles = sample[short].head(3).copy()
    long_answer = " ".join(json.loads(battles.response_a.iloc[0]))
    battles.loc[battles.index[2], "response_b"] = json.dumps([(long_answer + "\n") * (40_000 // len(long_answer) + 1)])
    battles.to_csv(tmp_path / "battles.csv", index=False)
    path = write_settings(tmp_path / "dagster_project.toml")
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))

    def describe(max_tokens):
        config = {"ops": {"arena__battles": {"config": {"dataset": str(tmp_path / "battles.csv"),
                                                        "filter_english": False}},
                          "arena__battle_differences": {"config": {"max_tokens": max_tokens}}}}
        result = dg.materialize([*definitions.defs.assets, *definitions.defs.asset_checks],
                                resources=build_resources(str(path)), run_config=config,
                                selection=dg.AssetSelection.assets(["arena", "battles"], ["arena", "battle_differences"]))
        assert result.success
        meta = result.asset_materializations_for_node("arena__battle_differences")[0].metadata
        check = {e.check_name: e for e in result.get_asset_check_evaluations()}["arena_unparsed_differences"]
        rows = Warehouse(settings_file=str(path)).query("SELECT * FROM arena.battle_differences ORDER BY battle_id")
        assert check.passed == rows.error.isna().all()
        assert check.metadata["offending_rows"].value == rows.error.notna().sum()
        return rows, meta

    rows, meta = describe(768)
    assert len(rows) == 3 and meta["parsed"].value == rows.error.isna().sum() >= 2
    assert meta["with_properties"].value == meta["parsed"].value  # the schema asks for at least one
    truncated = rows.set_index("battle_id").input_truncated
    assert truncated[str(battles.id.iloc[2])] and not truncated.all()
    for properties in rows.properties_json.dropna().map(json.loads):
        assert 1 <= len(properties) <= 3 and all(p["model"] in ("A", "B") for p in properties)

    bad = dg.materialize([*definitions.defs.assets], resources=build_resources(str(path)), raise_on_error=False,
                         selection=["arena/battle_differences"],
                         run_config={"ops": {"arena__battle_differences": {"config": {"max_properties": 0}}}})
    assert not bad.success and "max_properties 0" in str(bad.get_step_failure_events()[0].event_specific_data.error)
    kept = Warehouse(settings_file=str(path)).query("SELECT * FROM arena.battle_differences ORDER BY battle_id")
    pd.testing.assert_frame_equal(kept, rows)  # the earlier table is untouched

    rows, meta = describe(8)  # the answer is cut at 8, 16 and 32 tokens: never valid JSON
    assert meta["parsed"].value == 0 and meta["parse_rate"].value == 0.0
    assert rows.error.str.startswith("not JSON").all() and rows.raw.str.len().gt(0).all()
    assert rows.properties_json.isna().all()


def test_recovery_cli_prints_the_score_or_says_what_to_run_first(fictional_warehouse, settings_file):
    import subprocess
    import sys

    def cli(settings):
        return subprocess.run([sys.executable, "-m", "vibescope", "arena", "recovery"], capture_output=True,
                              text=True, cwd=ROOT, env={**os.environ, "VIBESCOPE_SETTINGS": str(settings)})

    done = cli(fictional_warehouse.settings_file)
    assert done.returncode == 0, done.stderr
    n = len(fictional.BEHAVIOURS)  # clustering the planted paraphrases finds every behaviour
    assert f"recovered {n} of {n} planted behaviours (fine), {n} (coarse)" in done.stdout

    empty = Warehouse(settings_file=str(settings_file))
    missing = cli(settings_file)  # no snapshot yet
    assert missing.returncode == 1 and "no warehouse snapshot at" in missing.stderr
    empty.write_table("core.other", pd.DataFrame({"x": [1]}))
    no_arena = cli(settings_file)
    assert no_arena.returncode == 1 and '"arena.planted_recovery" does not exist' in no_arena.stderr
    assert "materialize group arena first" in no_arena.stderr
    assert empty.query("SELECT x FROM core.other").x.tolist() == [1]  # nothing lost

    real = pd.DataFrame({"model": ["gpt-4"], "fine_cluster_id": [0], "coarse_cluster_id": [0]})
    nothing_planted = pd.DataFrame({"model_a": ["gpt-4"], "model_b": ["claude"], "planted_properties": [None]})
    assert run_recovery_sql(nothing_planted, real).empty


@pytest.mark.slow
def test_the_embedded_describer_end_to_end_on_planted_battles(tmp_path, monkeypatch):
    """The whole arena pipeline with the embedded describer (not the planted answers) on four
    fictional battles: a row per battle, each parsed or its error kept, every parsed property a
    row of arena.behavior_properties and its evidence checked in arena.describer_grounding. What
    SmolLM2 recovers of the planted behaviours is printed, not asserted: it proves the machinery."""
    import definitions
    from tests.conftest import write_settings

    path = write_settings(tmp_path / "dagster_project.toml")
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
    config = {"ops": {"arena__battles": {"config": {"dataset": "fictional", "num_samples": 4}},
                      "arena__battle_differences": {"config": {"describer_source": "llm", "max_tokens": 256}}}}
    selection = dg.AssetSelection.assets(*[["arena", t] for t in (
        "battles", "battle_differences", "prompt_categories", "behavior_properties", "describer_control",
        "describer_grounding", "property_clusters", "cluster_labels", "clustered_properties", "planted_recovery")])
    result = dg.materialize([*definitions.defs.assets], resources=build_resources(str(path)), run_config=config,
                            selection=selection, instance=(instance := dg.DagsterInstance.ephemeral()))
    assert result.success and any(re.match(r"describer: 4/4, about \d+ s left", e.user_message)  # its progress
                                  for e in instance.all_logs(result.run_id))
    wh = Warehouse(settings_file=str(path))
    differences = wh.query("SELECT * FROM arena.battle_differences")
    assert len(differences) == 4 and (differences.properties_json.notna() != differences.error.notna()).all()
    parsed = sum(len(json.loads(j)) for j in differences.properties_json.dropna())
    assert len(wh.query("SELECT property_id FROM arena.behavior_properties")) == parsed
    grounding = wh.query("SELECT * FROM arena.describer_grounding")
    quoted = wh.query("SELECT count(*) AS n FROM arena.behavior_properties WHERE evidence IS NOT NULL "
                      "AND evidence <> '[]'").n[0]
    assert (len(grounding) > 0) == (quoted > 0)
    print("\nembedded describer, 4 battles:", parsed, "properties;", wh.query("SELECT * FROM arena.planted_recovery"))
