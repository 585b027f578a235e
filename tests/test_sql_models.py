"""SQL models and checks as Dagster assets, and the core graph materialized for real."""

import dagster as dg
import pandas as pd
import pytest

from assets.core.llm_calls import build_llm_calls
from assets.core.role_health import role_health
from assets.sql_models import SqlModelError, load_sql_checks, load_sql_models
from resources.sql_files import SqlError, SqlFile
from resources import build_resources
from resources.settings import load_settings
from resources.warehouse import Warehouse


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_dependencies_come_from_the_sql_not_cte_names(tmp_path):
    model = SqlFile.load(write(tmp_path / "arena" / "m.sql", """-- Wins per model.
-- Second line of the description.
WITH battles AS (SELECT * FROM arena.battles),
     labels AS (SELECT * FROM arena.cluster_labels JOIN battles USING (id))
SELECT * FROM labels, unnest([1, 2]) AS t(x)
"""))
    assert model.reads == (("arena", "battles"), ("arena", "cluster_labels"))
    assert model.description == "Wins per model.\nSecond line of the description."


def test_unqualified_tables_and_non_queries_are_refused(tmp_path):
    with pytest.raises(SqlError, match=r"m\.sql: table 'battles' has no schema"):
        SqlFile.load(write(tmp_path / "m.sql", "SELECT * FROM battles"))
    with pytest.raises(SqlError, match=r"d\.sql: a model is one SELECT.*DELETE"):
        SqlFile.load(write(tmp_path / "d.sql", "DELETE FROM core.x"))
    write(tmp_path / "sql" / "arena" / "l.sql", "-- layer: results\nSELECT * FROM arena.battles")
    with pytest.raises(SqlModelError, match=r"l\.sql: layer must be one of input, model, result, got 'results'"):
        load_sql_models(tmp_path / "sql")


def test_models_and_checks_materialize_and_a_broken_model_names_its_file(tmp_path, settings_file):
    root = tmp_path / "sql"
    write(root / "demo" / "totals.sql", "-- Sum per group.\nSELECT g, sum(v) AS total FROM demo.raw GROUP BY g")
    write(root / "demo" / "broken.sql", "SELECT no_such_column FROM demo.raw")
    write(root / "checks" / "totals_positive.sql", "-- Totals must be positive.\nSELECT * FROM demo.totals WHERE total <= 0")
    write(root / "checks" / "raw_small.sql", "-- severity: warn\nSELECT * FROM demo.raw WHERE v > 5")

    @dg.asset(key=["demo", "raw"])
    def raw(warehouse: Warehouse) -> None:
        warehouse.write_table("demo.raw", pd.DataFrame({"g": ["a", "a", "b"], "v": [1, 2, 7]}))

    models = load_sql_models(root)
    assert {m.key.to_user_string() for m in models} == {"demo/totals", "demo/broken"}
    totals = next(m for m in models if m.key.path[-1] == "totals")
    assert totals.descriptions_by_key[totals.key] == "Sum per group."
    assert totals.dependency_keys == {dg.AssetKey(["demo", "raw"])}

    result = dg.materialize([raw, *models], resources=build_resources(str(settings_file)),
                            selection=["demo/raw", "demo/totals"])
    assert Warehouse().query("SELECT * FROM demo.totals ORDER BY g").total.tolist() == [3, 7]

    checks = load_sql_checks(root)
    result = dg.materialize([raw, *models, *checks], resources=build_resources(str(settings_file)),
                            selection=dg.AssetSelection.assets(["demo", "raw"], ["demo", "totals"]),
                            raise_on_error=False)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["totals_positive"].passed
    warn = evaluations["raw_small"]
    assert not warn.passed and warn.severity == dg.AssetCheckSeverity.WARN
    assert warn.metadata["offending_rows"].value == 1

    broken = dg.materialize([raw, *models], resources=build_resources(str(settings_file)),
                            selection=["demo/broken"], raise_on_error=False)
    assert not broken.success
    failure = broken.get_step_failure_events()[0].event_specific_data.error.cause
    assert failure.cls_name == "SqlModelError"
    assert "demo/broken.sql: Binder Error" in failure.message and "no_such_column" in failure.message


def test_core_graph_and_llm_call_stats_match_pandas(settings_file):
    """role_health -> llm_calls -> llm_call_stats, twice: the second run is all cache hits."""
    assets = [role_health, build_llm_calls([role_health.key]), *load_sql_models()]
    resources = build_resources(str(settings_file))
    for _ in range(2):
        result = dg.materialize(assets, resources=resources,
                                selection=["core/role_health", "core/llm_calls", "core/llm_call_stats"])
        assert result.success
    wh = Warehouse()
    assert wh.query("SELECT bool_and(ok) AS ok FROM core.role_health").ok[0]
    calls = wh.query("SELECT * FROM core.llm_calls")
    stats = wh.query("SELECT * FROM core.llm_call_stats").set_index(["asset", "role"]).sort_index()

    ok = calls[~calls.cached & calls.error.isna()]
    expected = pd.DataFrame({
        "calls": calls.groupby(["asset", "role"]).size(),
        "cache_hits": calls.groupby(["asset", "role"]).cached.sum(),
        "backend_calls": ok.groupby(["asset", "role"]).size(),
        "prompt_tokens": ok.groupby(["asset", "role"]).prompt_tokens.sum(),
        "mean_latency_s": ok.groupby(["asset", "role"]).latency_s.mean(),
    }).sort_index()
    expected["backend_calls"] = expected.backend_calls.fillna(0)
    for col in expected:
        pd.testing.assert_series_equal(stats[col].astype(float), expected[col].astype(float),
                                       check_names=False)
    assert (stats.cache_hit_rate == stats.cache_hits / stats.calls).all()
    roles = len(load_settings().pipelines["core"]["health_roles"])
    assert stats.calls.sum() == 2 * roles and stats.cache_hits.sum() >= roles  # the second run: all hits


def test_definitions_load_and_every_sql_read_is_produced():
    import definitions

    defs = definitions.defs
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"core/role_health", "core/llm_calls", "core/llm_call_stats"} <= keys
    job = defs.resolve_job_def("everything")  # the job the UI's "materialize all" and `make demo` run
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == keys
