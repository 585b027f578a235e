"""The layout's rules, checked on the real code location: declared reads, one connected graph per
analysis, a layer for every asset, names derived from tables, short modules, pure analysis code."""

import ast
import importlib
import sys
from pathlib import Path

import dagster as dg
import networkx as nx
import pytest

from assets.lineage import LAYERS, LineageError, check_python_reads
from tests.conftest import ROOT

# each analysis and the groups it spans (core's llm_calls reads every LLM asset: not an analysis)
ANALYSES = {"arena": {"arena"}, "diff": {"diff"}, "acts": {"acts"}, "cje": {"cje", "cje_logs"}}


@pytest.fixture(scope="module")
def graph():
    import definitions

    return definitions.defs.resolve_asset_graph()


def _module(tmp_path, name: str, body: str):
    (tmp_path / f"{name}.py").write_text(body)
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def test_an_undeclared_read_fails_naming_the_file_and_table(tmp_path):
    ok = _module(tmp_path, "reads_declared", '''
import dagster as dg
from assets.lineage import Query, reads
BATTLES = Query("SELECT b.* FROM arena.battles b JOIN arena.prompt_categories USING (battle_id)")
@dg.asset(key=["t", "ok"], deps=reads(BATTLES))
def ok(): ...
''')
    check_python_reads([ok.ok])
    assert {k.to_user_string() for k in ok.ok.dependency_keys} == {"arena/battles", "arena/prompt_categories"}

    undeclared = _module(tmp_path, "reads_undeclared", '''
import dagster as dg
from assets.lineage import Query
BATTLES = Query("WITH b AS (SELECT * FROM arena.battles) SELECT * FROM b")
@dg.asset(key=["t", "undeclared"], deps=[["arena", "prompt_categories"]])
def undeclared(): ...
''')
    with pytest.raises(LineageError, match=r"reads_undeclared\.py: reads arena\.battles, which no asset"):
        check_python_reads([undeclared.undeclared])

    inline = _module(tmp_path, "reads_inline", '''
import dagster as dg
@dg.asset(key=["t", "inline"])
def inline(warehouse):
    return warehouse.query(f"SELECT * FROM arena.battles LIMIT {1}")
''')
    with pytest.raises(LineageError, match=r"reads_inline\.py:5: SQL written inline"):
        check_python_reads([inline.inline])


def test_each_analysis_is_one_connected_graph(graph):
    undirected = nx.Graph()
    for key in graph.get_all_asset_keys():
        undirected.add_node(key)
        undirected.add_edges_from((key, parent) for parent in graph.get(key).parent_keys)
    for analysis, groups in ANALYSES.items():
        keys = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name in groups]
        parts = list(nx.connected_components(undirected.subgraph(keys)))
        assert len(parts) == 1, f"{analysis}: {[sorted(k.to_user_string() for k in p) for p in parts]}"
    assert dg.AssetKey(["cje_logs", "logged_rows"]) in graph.get(dg.AssetKey(["cje", "judge_scores"])).parent_keys


def test_every_asset_has_a_layer(graph):
    for key in graph.get_all_asset_keys():
        assert graph.get(key).tags.get("layer") in LAYERS, key.to_user_string()


def test_step_and_module_names_follow_the_table(graph):
    """Table schema.table: module assets/<schema>/<table>.py, step schema__table (a step writing
    several tables is named after its module); settings [pipelines.<schema>.<table>]."""
    import definitions

    for asset in definitions.defs.assets:
        if not isinstance(asset, dg.AssetsDefinition) or asset.op.name.startswith("check_"):
            continue
        module = asset.op.compute_fn.decorated_fn.__module__
        if module == "assets.sql_models":
            continue
        _, schema, name = module.split(".")
        if schema == "core":
            continue
        assert asset.op.name == f"{schema}__{name}", (module, asset.op.name)
        assert {k.path[0] for k in asset.keys} == {schema}, module


def test_settings_sections_name_a_step(graph):
    """[pipelines.<schema>.<table>] defaults a step that writes <schema>.<table> (or is named so)."""
    import re

    import definitions

    steps = {a.op.name for a in definitions.defs.assets if isinstance(a, dg.AssetsDefinition)}
    keys = {k.to_user_string().replace("/", "__") for k in graph.get_all_asset_keys()}
    for config in (ROOT / "assets").glob("*/config.py"):
        sections = re.findall(r'with_settings_defaults\(\w+, "([a-z_]+)"', config.read_text())
        assert sections, config
        for step in sections:
            assert f"{config.parent.name}__{step}" in steps | keys, (config, step)


def _python_files(*folders):
    # bench/reference/ holds third-party code copied unchanged, as the bench's reference
    return [p for f in folders for p in (ROOT / f).rglob("*.py") if ".venv" not in p.parts
            and p.parent != ROOT / "bench" / "reference"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return names


def test_no_module_over_300_lines():
    long = {str(p.relative_to(ROOT)): n for p in _python_files("analysis", "assets", "resources", "vibescope",
                                                                "app", "bench", "tests")
            if (n := len(p.read_text().splitlines())) > 300}
    assert not long, long


def test_app_and_bench_do_not_import_assets_and_analysis_is_pure():
    for path in _python_files("app", "bench"):
        assert not any(m == "assets" or m.startswith("assets.") for m in _imports(path)), path
    for path in _python_files("analysis"):
        bad = {m for m in _imports(path) if m.split(".")[0] in ("dagster", "assets", "resources", "duckdb")}
        assert not bad, (path, bad)
