"""StringSight / LMM-Vibes properties files: our export goes out and comes back in unchanged, the
arena page renders for an imported file, and malformed files are refused naming file, row and key."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assets.arena.properties_file import BATTLE, CLUSTERS, FIELDS, read_properties
from resources import build_resources
from resources.datasets import DatasetError
from resources.warehouse import Warehouse
from tests.conftest import streamlit_app, write_settings


def export(settings_file: str) -> Path:
    import definitions

    result = dg.materialize([*definitions.defs.assets], resources=build_resources(settings_file),
                            selection=["arena/exports"])
    folder = result.asset_materializations_for_node("arena__exports")[0].metadata["folder"].value
    return Path(folder) / "stringsight_properties.jsonl"


@pytest.fixture(scope="module")
def exported(fictional_warehouse) -> Path:
    return export(fictional_warehouse.settings_file)


@pytest.fixture(scope="module")
def battles(fictional_warehouse) -> pd.DataFrame:
    return fictional_warehouse.query("SELECT battle_id, model_a, model_b FROM arena.battles")


def test_export_has_stringsight_columns(exported, fictional_warehouse):
    out = pd.read_json(exported, lines=True)
    assert list(out.columns) == ["question_id", *BATTLE, "model", "property_id", "property_description",
                                 *FIELDS, *CLUSTERS]
    properties = fictional_warehouse.query("SELECT property_id, model FROM arena.behavior_properties")
    assert len(out) == len(properties) and set(out.property_id) == set(properties.property_id)
    assert out.model.str.startswith("fictional-").all()  # the model's name, as StringSight writes it
    assert ((out.model == out.model_a) | (out.model == out.model_b)).all()
    assert out.evidence.map(lambda e: isinstance(e, list)).all()


@pytest.mark.slow
def test_round_trip_and_page(exported, tmp_path, monkeypatch, page, artifacts):
    """The exported file as both the battles and the properties of a new project: its arena run
    exports the same file again, and the arena page renders it."""
    import definitions

    path = write_settings(tmp_path / "dagster_project.toml")
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
    run_config = {"ops": {
        "arena__battles": {"config": {"dataset": str(exported), "num_samples": 10_000}},
        "arena__battle_differences": {"config": {"describer_source": "file", "properties_path": str(exported)}},
        "arena__property_clusters": {"config": {"enable_dim_reduction": False}},
        "arena__behaviour_scores": {"config": {"scorer_source": "planted"}}}}  # fictional: its truth
    result = dg.materialize([*definitions.defs.assets], resources=build_resources(str(path)),
                            selection=dg.AssetSelection.groups("arena"), run_config=run_config)
    assert result.success
    imported = result.asset_materializations_for_node("arena__battle_differences")[0].metadata
    assert imported["properties"].value == imported["rows_read"].value and imported["ignored_columns"].value == 0

    first, second = (pd.read_json(f, lines=True) for f in (exported, export(str(path))))
    pd.testing.assert_frame_equal(first, second)

    with streamlit_app(path, tmp_path) as url:
        page.goto(f"{url}/Arena_behaviours")
        page.get_by_text("Which behaviours go with winning").wait_for()
        page.locator(".js-plotly-plot").first.wait_for()
        page.screenshot(path=artifacts / "app_arena_imported.png", full_page=True)


def test_our_own_properties_export_reads_back(exported, battles, fictional_warehouse):
    """`properties.jsonl` of arena/exports (our column names) gives the same properties."""
    frame, report = read_properties(exported.with_name("properties.jsonl"), battles)
    assert report["ignored_columns"] == [] and report["unmatched_question_ids"] == []
    planted = fictional_warehouse.query("SELECT battle_id, properties_json FROM arena.battle_differences")
    ours = frame.set_index("battle_id").properties_json.map(json.loads)
    for b in planted.itertuples():
        expected = [{k: p[k] for k in ("model", "property_description", "category", "type")}
                    for p in json.loads(b.properties_json)]
        assert [{k: p[k] for k in expected[0]} for p in ours[b.battle_id]] == expected if expected else \
            ours[b.battle_id] == []


def write(tmp_path, rows: list[dict], name: str = "props.jsonl") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_json(path, orient="records", lines=True) if name.endswith(".jsonl") \
        else pd.DataFrame(rows).to_csv(path, index=False)
    return path


def a_property(battle, **changes) -> dict:
    return {"question_id": battle.battle_id, "model": battle.model_a, "property_description": "Uses a list",
            "category": "Formatting", "type": "General", "impact": "Low", "reason": "r", "evidence": ["- a"],
            "contains_errors": False, "unexpected_behavior": False, "behavior_type": "Style", **changes}


def test_sides_by_name_or_letter_and_csv_flags(tmp_path, battles):
    b = battles.iloc[0]
    rows = [a_property(b), a_property(b, model="B", contains_errors="True", evidence='["x", "y"]'),
            a_property(b, model=b.model_b, user_preference_direction="up")]
    frame, report = read_properties(write(tmp_path, rows, "props.csv"), battles)
    props = json.loads(frame.set_index("battle_id").properties_json[b.battle_id])
    assert [p["model"] for p in props] == ["A", "B", "B"]
    assert props[1]["contains_errors"] is True and props[1]["evidence"] == ["x", "y"]
    assert report["ignored_columns"] == ["user_preference_direction"]
    assert (frame.properties_json == "[]").sum() == len(battles) - 1  # the others: no property


@pytest.mark.parametrize("change,message", [
    ({"model": "gpt-4"}, "row 1: model 'gpt-4' is neither side of battle"),
    ({"contains_errors": "maybe"}, "row 1, column contains_errors: 'maybe' is not a boolean"),
    ({"model_a": "someone-else"}, "row 1: model_a 'someone-else' is not battle"),
])
def test_malformed_rows_are_named(tmp_path, battles, change, message):
    path = write(tmp_path, [a_property(battles.iloc[0], **change)])
    with pytest.raises(DatasetError, match=f"{path}: {message}"):
        read_properties(path, battles)


def test_missing_columns_and_unknown_battles(tmp_path, battles):
    path = write(tmp_path, [{"question_id": "x", "model": "A"}])
    with pytest.raises(DatasetError, match="missing column.s. property_description"):
        read_properties(path, battles)
    path = write(tmp_path, [a_property(battles.iloc[0], question_id="nowhere")])
    with pytest.raises(DatasetError, match="no property's question_id is a battle of arena.battles .e.g. nowhere"):
        read_properties(path, battles)
    rows = [a_property(battles.iloc[0]), a_property(battles.iloc[1], question_id="nowhere")]
    _, report = read_properties(write(tmp_path, rows), battles)
    assert report["unmatched_question_ids"] == ["nowhere"] and report["properties"] == 1


@pytest.mark.parametrize("rows,message", [
    ([{"question_id": "x", "model": "A"}], "missing column(s) property_description"),
    (None, "describer_source 'file' needs properties_path"),
])
def test_the_asset_refuses_a_bad_file_and_keeps_its_table(fictional_warehouse, tmp_path, rows, message):
    import definitions

    before = fictional_warehouse.query("SELECT count(*) AS n FROM arena.battle_differences").n.iloc[0]
    path = str(write(tmp_path, rows)) if rows else ""
    result = dg.materialize([*definitions.defs.assets], resources=build_resources(fictional_warehouse.settings_file),
                            selection=["arena/battle_differences"], raise_on_error=False, run_config={"ops": {
                                "arena__battle_differences": {"config": {"describer_source": "file",
                                                                         "properties_path": path}}}})
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert message in str(failure)
    after = Warehouse(settings_file=fictional_warehouse.settings_file).query(
        "SELECT count(*) AS n FROM arena.battle_differences").n.iloc[0]
    assert after == before
