"""Table contracts: one `sql/<schema>/schema.yml` per schema, in dbt's own format, declaring every
table of the schema once (SQL- or Python-written): a description, its grain, each column's type
and description, and the tests it must pass.

    version: 2
    models:
      - name: battles
        description: One row per battle ...
        meta: {grain: [battle_id], written_by: assets/arena/battles.py}   # written_by: where the
        columns:                                                          # naming rule does not say
          - name: battle_id
            data_type: varchar
            description: ...
            data_tests: [not_null]
          - name: winner
            data_tests:
              - accepted_values: {values: [model_a, model_b, tie]}
              - accepted_range: {min_value: 0, max_value: 1, config: {severity: warn}}
              - relationships: {to: ref('battles'), field: battle_id}

Tests: not_null, unique, accepted_values, accepted_range (dbt_utils'), relationships (`to:
ref('table')` in the same schema, or `ref('schema.table')`). Severity: `config: {severity: warn}`,
else error. Every test becomes SQL that returns the offending rows (`offending_rows_sql`), as the checks
under sql/checks/ do; the grain is a test of its own (no two rows share it), always an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from resources.settings import PROJECT_ROOT

SQL_ROOT = PROJECT_ROOT / "sql"
TESTS = ("not_null", "unique", "accepted_values", "accepted_range", "relationships")
SEVERITIES = ("error", "warn")


class ContractError(ValueError):
    """A contract file that cannot be used; the message names the file and the model."""


@dataclass(frozen=True)
class DataTest:
    kind: str
    column: str | None  # None: a test of the whole table (the grain)
    args: dict
    severity: str = "error"

    @property
    def name(self) -> str:
        return f"{self.kind}({self.column})" if self.column else self.kind


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    description: str
    tests: tuple[DataTest, ...] = ()


@dataclass(frozen=True)
class Contract:
    schema: str
    name: str
    description: str
    grain: tuple[str, ...]
    columns: tuple[Column, ...]
    written_by: str | None = None  # the module or SQL file, where the naming rule does not say
    file: Path = field(default=SQL_ROOT, compare=False)
    headline: bool = False  # an analysis's answer: logged as a table where tracking is on (resources/tracking.py)

    @property
    def table(self) -> str:
        return f"{self.schema}.{self.name}"

    def tests(self) -> list[DataTest]:
        grain = [DataTest("grain", None, {"columns": list(self.grain)})] if self.grain else []
        return grain + [t for c in self.columns for t in c.tests]

    def writer(self) -> str:
        """The file that writes the table: written_by, else the naming rule's SQL file or module."""
        if self.written_by:
            return self.written_by
        sql = SQL_ROOT / self.schema / f"{self.name}.sql"
        return str(sql.relative_to(PROJECT_ROOT)) if sql.exists() else f"assets/{self.schema}/{self.name}.py"


def _test(raw, column: str, where: str) -> DataTest:
    """`not_null`, or `{accepted_values: {values: [...]}}`: dbt's two spellings of a test."""
    if isinstance(raw, str):
        kind, args = raw, {}
    elif isinstance(raw, dict) and len(raw) == 1:
        (kind, args), = raw.items()
    else:
        kind, args = None, {}
    kind = kind.removeprefix("dbt_utils.") if isinstance(kind, str) else kind
    if kind not in TESTS:
        raise ContractError(f"{where}: column {column}: test {raw!r} is not one of {', '.join(TESTS)}")
    args = dict(args or {})
    severity = (args.pop("config", None) or {}).get("severity", "error")
    if severity not in SEVERITIES:
        raise ContractError(f"{where}: column {column}: severity {severity!r}; use error or warn")
    return DataTest(kind, column, args, severity)


def _model(raw: dict, schema: str, file: Path) -> Contract:
    where = f"{file.relative_to(PROJECT_ROOT) if file.is_relative_to(PROJECT_ROOT) else file}: model {raw.get('name')!r}"
    missing = [k for k in ("name", "description", "columns") if not raw.get(k)]
    if missing:
        raise ContractError(f"{where}: missing {', '.join(missing)}")
    meta = raw.get("meta") or {}
    columns = []
    for c in raw["columns"]:
        if not c.get("name") or not c.get("description") or not c.get("data_type"):
            raise ContractError(f"{where}: every column needs a name, a data_type and a description ({c})")
        columns.append(Column(c["name"], str(c["data_type"]).lower(), " ".join(str(c["description"]).split()),
                              tuple(_test(t, c["name"], where) for t in c.get("data_tests") or ())))
    names = [c.name for c in columns]
    grain = tuple(meta.get("grain") or ())
    unknown = [g for g in grain if g not in names]
    if unknown:
        raise ContractError(f"{where}: grain names {unknown}, which are not columns")
    return Contract(schema, raw["name"], " ".join(str(raw["description"]).split()), grain, tuple(columns),
                    meta.get("written_by"), file, bool(meta.get("headline", False)))


@lru_cache(maxsize=4)
def load_contracts(root: Path = SQL_ROOT) -> dict[str, Contract]:
    """Every table's contract, by `schema.table`."""
    contracts: dict[str, Contract] = {}
    for file in sorted(root.glob("*/schema.yml")):
        data = yaml.safe_load(file.read_text()) or {}
        for raw in data.get("models") or ():
            c = _model(raw, file.parent.name, file)
            if c.table in contracts:
                raise ContractError(f"{file}: {c.table} is declared twice")
            contracts[c.table] = c
    return contracts


def _ref(target: str, schema: str) -> str:
    name = re.fullmatch(r"ref\(['\"]([\w.]+)['\"]\)", target.strip())
    if not name:
        raise ContractError(f"relationships: `to` must be ref('table'), got {target!r}")
    return name.group(1) if "." in name.group(1) else f"{schema}.{name.group(1)}"


def _literal(value) -> str:
    return "'" + str(value).replace("'", "''") + "'" if isinstance(value, str) else repr(value)


def offending_rows_sql(contract: Contract, test: DataTest) -> str:
    """The rows of `contract`'s table that break `test` (none: it passes)."""
    t, c = contract.table, f'"{test.column}"' if test.column else None
    if test.kind == "grain":
        cols = ", ".join(f'"{g}"' for g in test.args["columns"])
        return f"SELECT {cols}, count(*) AS n_rows FROM {t} GROUP BY ALL HAVING count(*) > 1"
    if test.kind == "not_null":
        return f"SELECT * FROM {t} WHERE {c} IS NULL"
    if test.kind == "unique":
        return f"SELECT {c}, count(*) AS n_rows FROM {t} WHERE {c} IS NOT NULL GROUP BY ALL HAVING count(*) > 1"
    if test.kind == "accepted_values":
        values = ", ".join(_literal(v) for v in test.args["values"])
        return f"SELECT * FROM {t} WHERE {c} IS NOT NULL AND {c} NOT IN ({values})"
    if test.kind == "accepted_range":
        bounds = [f"{c} {op} {test.args[key]}" for key, op in (("min_value", "<"), ("max_value", ">"))
                  if key in test.args]
        return f"SELECT * FROM {t} WHERE {' OR '.join(bounds) or 'false'}"
    other, key = _ref(test.args["to"], contract.schema), f'"{test.args["field"]}"'
    return (f"SELECT s.* FROM {t} AS s WHERE s.{c} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {other} AS o WHERE o.{key} = s.{c})")


def reads_of(contract: Contract) -> set[str]:
    """The tables the contract's tests read beside its own (relationships)."""
    return {_ref(t.args["to"], contract.schema) for t in contract.tests() if t.kind == "relationships"}


# --- the pipeline READMEs' table lists, generated from the contracts --------------------------
BEGIN, END = "<!-- tables: generated from the contracts (python -m resources.contracts); do not edit -->", "<!-- /tables -->"


def tables_markdown(schema: str, contracts: dict[str, Contract] | None = None) -> str:
    rows = [c for c in (contracts or load_contracts()).values() if c.schema == schema]
    lines = ["| table | grain | written by | holds |", "|---|---|---|---|"]
    cell = lambda text: text.replace("|", r"\|")  # noqa: E731  (a pipe would end the cell)
    lines += [f"| `{c.table}` | {', '.join(c.grain) or 'one row'} | `{c.writer()}` | {cell(c.description)} |" for c in rows]
    return "\n".join([BEGIN, *lines, END])


def readme_with_tables(text: str, schema: str) -> str:
    """A README's text with its generated block replaced (or, with none, put after its first paragraph)."""
    block = tables_markdown(schema)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1]
    title, _, body = text.partition("\n\n")
    intro, _, tail = body.partition("\n\n")
    return f"{title}\n\n{intro}\n\n{block}\n\n{tail}"


if __name__ == "__main__":  # rewrite every pipeline README's table list from the contracts
    for schema in sorted({c.schema for c in load_contracts().values()}):
        readme = PROJECT_ROOT / "assets" / schema / "README.md"
        if readme.exists():
            readme.write_text(readme_with_tables(readme.read_text(), schema))
            print(f"{readme.relative_to(PROJECT_ROOT)}: tables of sql/{schema}/schema.yml")
