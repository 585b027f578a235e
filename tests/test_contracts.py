"""Table contracts (sql/<schema>/schema.yml): every table of the code location is declared once,
with a description for every column, in Dagster's column schema; the naming rule holds on table
names; and each kind of generated test fires on a table that breaks it and passes on one that
does not (a real DuckDB warehouse, real Dagster materializations)."""

import dagster as dg
import pandas as pd
import pytest

from assets.contracts import contract_check
from resources.contracts import Column, Contract, ContractError, DataTest, load_contracts, offending_rows_sql
from resources.settings import PROJECT_ROOT
from resources.warehouse import Warehouse


def table_assets():
    """Every asset that writes a warehouse table (file outputs such as reports have no contract)."""
    import definitions

    return {".".join(spec.key.path): spec for a in definitions.defs.assets for spec in a.specs
            if "duckdb" in spec.kinds}


def test_every_table_is_declared_once_and_every_declaration_is_a_table():
    tables, contracts = table_assets(), load_contracts()
    assert sorted(set(tables) - set(contracts)) == [], "tables without a contract"
    # a contract with no asset is a table the warehouse keeps itself (core.materializations)
    assert sorted(set(contracts) - set(tables)) == sorted(
        t for t, c in contracts.items() if (c.written_by or "").startswith("resources/")), "contracts without a table"


def test_python_names_a_table_only_in_the_sql_it_runs():
    """Keys, groups and write calls come from the contracts (assets/core/tables.py), so a quoted
    `schema.table` under assets/ is a bug: the name said a second time, free to drift."""
    import re

    schemas = "|".join(sorted({c.schema for c in load_contracts().values()}))
    quoted = re.compile(rf'"({schemas})\.[a-z_]+')
    found = [f"{path.relative_to(PROJECT_ROOT)}:{n}: {line.strip()}"
             for path in sorted((PROJECT_ROOT / "assets").rglob("*.py")) if path.name != "contracts.py"
             for n, line in enumerate(path.read_text().splitlines(), start=1) if quoted.search(line)]
    assert found == []
    assert quoted.search('warehouse.write_table("cje.prompts", frame)')  # the pattern finds what it is for


def test_a_table_step_writes_exactly_the_tables_its_contract_lists(settings_file):
    """The decorator takes a module's tables from the contracts: a module no contract names is
    refused where it is declared, and a step that returns other tables than its contract lists is
    refused before anything is written."""
    from assets.core.tables import Written, table_step
    from assets.lineage import MODEL

    def baseline_predictions(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Written:
        return Written({"baseline_predictions": pd.DataFrame({"row_id": ["r1"]}), "extra": pd.DataFrame()})

    baseline_predictions.__module__ = "assets.diff.no_such_table"
    with pytest.raises(ContractError, match="writes no table: add `no_such_table` to sql/diff/schema.yml"):
        table_step(layer=MODEL)(baseline_predictions)
    baseline_predictions.__module__ = "assets.diff.baseline_predictions"
    step = table_step(layer=MODEL)(baseline_predictions)
    assert step.keys == {dg.AssetKey(["diff", "baseline_predictions"])} and step.op.name == "diff__baseline_predictions"
    warehouse = Warehouse(settings_file=str(settings_file))
    result = dg.materialize([step], resources={"warehouse": warehouse}, raise_on_error=False)
    assert not result.success
    assert "wrote ['baseline_predictions', 'extra']; its contract says ['baseline_predictions']" in str(
        result.all_events)
    assert not warehouse.table_exists("diff.baseline_predictions")


def test_every_asset_shows_its_columns_with_descriptions():
    contracts = load_contracts()
    for table, spec in table_assets().items():
        schema = spec.metadata["dagster/column_schema"]
        assert [c.name for c in schema.columns] == [c.name for c in contracts[table].columns], table
        assert all(c.description and c.type for c in schema.columns), table
        assert spec.description == contracts[table].description and spec.metadata["grain"], table


def test_the_naming_rule_holds_on_table_names():
    """Table schema.t is written by sql/<schema>/t.sql or assets/<schema>/t.py, or by the module the
    contract names (written_by); and that is the file whose code defines the asset."""
    import definitions

    defined_in = {}
    for a in definitions.defs.assets:
        fn = a.op.compute_fn.decorated_fn
        where = a.metadata_by_key[a.key].get("sql_file") if fn.__module__ == "assets.sql_models" else \
            fn.__module__.replace(".", "/") + ".py"
        for key in a.keys:
            defined_in[".".join(key.path)] = where
    for table, contract in load_contracts().items():
        writer = contract.writer()
        assert (PROJECT_ROOT / writer).is_file(), (table, writer)
        if table in defined_in:
            assert defined_in[table] == writer, (table, defined_in[table], writer)
        schema, name = table.split(".")
        named = writer in (f"sql/{schema}/{name}.sql", f"assets/{schema}/{name}.py")
        assert named or contract.written_by, f"{table}: written by {writer}, which the contract must name"


GOOD = pd.DataFrame({"battle_id": ["b1", "b2", "b3"], "winner": ["model_a", "tie", "model_b"],
                     "share": [0.0, 0.5, 1.0], "parent": ["p1", "p1", None]})
PARENTS = pd.DataFrame({"parent_id": ["p1", "p2"]})
CONTRACT = Contract("t", "battles", "test battles", ("battle_id",), (
    Column("battle_id", "varchar", "id", (DataTest("not_null", "battle_id", {}), DataTest("unique", "battle_id", {}))),
    Column("winner", "varchar", "who won", (DataTest("accepted_values", "winner", {"values": ["model_a", "model_b", "tie"]}),)),
    Column("share", "double", "a share", (DataTest("accepted_range", "share", {"min_value": 0, "max_value": 1}, "warn"),)),
    Column("parent", "varchar", "a parent", (DataTest("relationships", "parent", {"to": "ref('parents')", "field": "parent_id"}),)),
))
BREAKS = {  # test -> the good table broken so that only that test fails
    "grain": lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True),
    "not_null(battle_id)": lambda f: f.assign(battle_id=["b1", None, "b3"]),
    "accepted_values(winner)": lambda f: f.assign(winner=["model_a", "bothbad", "model_b"]),
    "accepted_range(share)": lambda f: f.assign(share=[0.0, 0.5, 1.5]),
    "relationships(parent)": lambda f: f.assign(parent=["p1", "p9", None]),
    "columns": lambda f: f.drop(columns="share"),
}


def check_result(settings_file, frame: pd.DataFrame) -> dg.AssetCheckEvaluation:
    @dg.asset(key=["t", "battles"])
    def battles(warehouse: Warehouse) -> None:
        warehouse.write_tables({"t.battles": frame, "t.parents": PARENTS})

    from resources import build_resources

    result = dg.materialize([battles, contract_check(CONTRACT)], resources=build_resources(str(settings_file)),
                            raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_the_contract_check_passes_on_a_good_table(settings_file):
    evaluation = check_result(settings_file, GOOD)
    assert evaluation.passed, evaluation.metadata


@pytest.mark.parametrize("broken", list(BREAKS))
def test_each_generated_test_fires_on_a_table_that_breaks_it(settings_file, broken):
    evaluation = check_result(settings_file, BREAKS[broken](GOOD))
    assert not evaluation.passed
    failed = evaluation.metadata["failed_tests"].value
    expected_name = {"grain": "grain"}.get(broken, broken)
    # the duplicated row breaks the grain and the column's own unique test, nothing else
    assert set(failed) == ({"grain", "unique(battle_id)"} if broken == "grain" else {expected_name}), failed
    warn_only = broken == "accepted_range(share)"  # declared with severity warn
    assert evaluation.severity == (dg.AssetCheckSeverity.WARN if warn_only else dg.AssetCheckSeverity.ERROR)


@pytest.mark.parametrize("model, message", [
    ("{name: a, data_type: integer, description: an a, data_tests: [not_nul]}", "column a: test 'not_nul' is not one of"),
    ("{name: a, data_type: integer}", "every column needs a name, a data_type and a description"),
    ("{name: b, data_type: integer, description: a b}", r"grain names \['a'\], which are not columns"),
])
def test_a_contract_file_names_what_is_wrong(tmp_path, model, message):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "schema.yml").write_text(
        f"version: 2\nmodels:\n  - name: t\n    description: d\n    meta: {{grain: [a]}}\n    columns:\n      - {model}\n")
    with pytest.raises(ContractError, match=rf"x/schema.yml: model 't': {message}"):
        load_contracts.__wrapped__(tmp_path)


def test_values_are_quoted_as_sql_literals():
    sql = offending_rows_sql(CONTRACT, DataTest("accepted_values", "winner", {"values": ["it's", 3]}))
    assert sql.endswith("NOT IN ('it''s', 3)")


def test_each_pipeline_readme_lists_its_tables_as_the_contracts_say():
    from resources.contracts import tables_markdown

    for schema in sorted({c.schema for c in load_contracts().values()}):
        readme = (PROJECT_ROOT / "assets" / schema / "README.md").read_text()
        assert tables_markdown(schema) in readme, f"assets/{schema}/README.md: run python -m resources.contracts"
