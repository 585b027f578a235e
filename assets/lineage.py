"""One lineage rule for SQL and Python: an asset depends on exactly the tables its SQL reads.

SQL models (sql/) get their dependencies from their query. A Python asset declares each query it
runs as a module-level `Query` constant and its deps with `reads(...)`; `check_python_reads`,
run when `definitions` loads, fails on a Query whose tables are not among the deps of the assets
in its module, and on a warehouse read written inline (SQL text passed straight to `.query(`),
which nothing could check. Tables are found with sqlglot; CTE names are not tables.
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import dagster as dg

from resources.sql_files import SqlError, tables_read


# written by the warehouse itself on every write, not by an asset: reading it is no dependency
BOOKKEEPING = {("core", "materializations")}


class LineageError(SqlError):
    """An asset that reads a table it does not declare; the message names the file."""


class Query(str):
    """A Python asset's input query: its SQL text (usable wherever a str is) and the tables it reads."""

    tables: tuple[tuple[str, str], ...]
    module: str

    def __new__(cls, sql: str) -> "Query":
        query = super().__new__(cls, sql)
        query.module = sys._getframe(1).f_globals.get("__name__", "?")
        query.tables = tables_read(sql, query.module)
        return query

    @property
    def table(self) -> str:
        """The one table the query reads, as `schema.table` (for messages that name it)."""
        (table,) = self.tables
        return ".".join(table)


def reads(*queries: Query, also: tuple[str, ...] = ()) -> list[dg.AssetKey]:
    """The deps of an asset that runs `queries` (and reads the tables `also` names in other ways,
    e.g. a DuckDB relation built in Python)."""
    tables = {t for q in queries for t in q.tables} | {tuple(name.split(".")) for name in also}
    return [dg.AssetKey(list(t)) for t in sorted(tables)]


def _module_of(asset: dg.AssetsDefinition) -> str | None:
    if not asset.is_executable or not hasattr(asset, "op"):
        return None
    fn = getattr(asset.op.compute_fn, "decorated_fn", None)
    return getattr(fn, "__module__", None)


def _inline_reads(module) -> list[int]:
    """Line numbers of `<x>.query("...")` calls whose SQL is written in place (a str or f-string)."""
    tree = ast.parse(inspect.getsource(module))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "query"
            and node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr))]


def check_python_reads(assets: list[dg.AssetsDefinition]) -> None:
    """Every table a Python asset's queries read is one of the deps of that module's assets."""
    by_module: dict[str, set[dg.AssetKey]] = {}
    for a in assets:
        module = _module_of(a)
        if module:
            by_module.setdefault(module, set()).update(a.dependency_keys)
    for name, deps in sorted(by_module.items()):
        module = sys.modules[name]
        path = Path(module.__file__).resolve()
        where = str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)
        lines = _inline_reads(module)
        if lines:
            raise LineageError(f"{where}:{lines[0]}: SQL written inline in a .query() call; declare it as a "
                               "module-level Query and list it in the asset's deps with reads(...)")
        for value in vars(module).values():
            if isinstance(value, Query):  # its own, or imported from another module: read here
                missing = [".".join(t) for t in value.tables
                           if t not in BOOKKEEPING and dg.AssetKey(list(t)) not in deps]
                if missing:
                    raise LineageError(f"{where}: reads {', '.join(missing)}, which no asset in the module "
                                       "declares as a dependency: add its Query to reads(...)")


# --- layers: where an asset sits in sources -> raw tables -> models -> results --------------
LAYERS = ("input", "model", "result")
INPUT = {"layer": "input"}    # reads a source outside the warehouse (a file, a dataset, an LLM over them)
MODEL = {"layer": "model"}    # tables from tables (SQL models, clustering, LLM steps over tables)
RESULT = {"layer": "result"}  # what people read: reports, exports, headline tables
