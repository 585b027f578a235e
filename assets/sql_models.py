"""dbt-style SQL models: `sql/<schema>/<name>.sql` -> table `<schema>.<name>` -> asset `<schema>/<name>`.
Dependencies are the tables a query reads, found with sqlglot (CTE names are not tables). The
leading `--` comment block is the asset's description. `sql/checks/<name>.sql` returns offending
rows (zero rows pass) and becomes an asset check on every table it reads, or on the one named by a
header line `-- asset: schema.table`; header lines `-- severity: warn` and `-- blocking: true`
set how a failure counts.
"""


import re
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import sqlglot
from sqlglot import exp

from resources.settings import PROJECT_ROOT
from resources.warehouse import Warehouse

SQL_ROOT = PROJECT_ROOT / "sql"
CHECKS_DIR = "checks"
PREVIEW_ROWS = 10
HEADER_OPTION = re.compile(r"^(severity|blocking|asset)\s*:\s*(\S+)\s*$", re.IGNORECASE)


class SqlModelError(RuntimeError):
    """A SQL model or check that failed; the message names the file."""


@dataclass(frozen=True)
class SqlFile:
    path: Path
    sql: str
    description: str
    reads: tuple[tuple[str, str], ...]  # (schema, table) pairs, sorted
    options: dict[str, str]

    @property
    def name(self) -> str:
        return self.path.stem

    @classmethod
    def load(cls, path: Path) -> "SqlFile":
        sql = path.read_text()
        description, options = _header(sql)
        return cls(path=path, sql=sql.strip().rstrip(";"), description=description,
                   reads=_tables_read(sql, path), options=options)


def _header(sql: str) -> tuple[str, dict[str, str]]:
    lines, options = [], {}
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        text = line[2:].strip()
        option = HEADER_OPTION.match(text)
        if option:
            options[option.group(1).lower()] = option.group(2).lower()
        else:
            lines.append(text)
    return "\n".join(lines).strip(), options


def _tables_read(sql: str, path: Path) -> tuple[tuple[str, str], ...]:
    try:
        tree = sqlglot.parse_one(sql, dialect="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise SqlModelError(f"{path}: cannot parse the SQL: {exc}") from None
    if not isinstance(tree, exp.Query):
        raise SqlModelError(f"{path}: a model is one SELECT (a query), got {tree.key.upper()}")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables = set()
    for t in tree.find_all(exp.Table):
        if not t.name or (not t.db and t.name in ctes):
            continue  # a table function, or a CTE
        if not t.db:
            raise SqlModelError(f"{path}: table '{t.name}' has no schema; write <schema>.{t.name}")
        tables.add((t.db, t.name))
    return tuple(sorted(tables))


def _rel(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def model_asset(model: SqlFile, schema: str) -> dg.AssetsDefinition:
    table = f"{schema}.{model.name}"

    @dg.asset(
        key=[schema, model.name],
        deps=[dg.AssetKey(list(t)) for t in model.reads],
        description=model.description or None,
        group_name=schema,
        kinds={"duckdb", "sql"},
        metadata={"sql_file": _rel(model.path), "table": table},
    )
    def _model(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        try:
            rows = warehouse.create_table_as(table, model.sql)
        except duckdb.Error as exc:
            raise SqlModelError(f"{_rel(model.path)}: {exc}") from None
        return dg.MaterializeResult(metadata={"dagster/row_count": rows, "table": table})

    return _model


def check_definition(check: SqlFile) -> dg.AssetChecksDefinition:
    if not check.reads:
        raise SqlModelError(f"{_rel(check.path)}: a check must read at least one table")
    severity = check.options.get("severity", "error")
    if severity not in ("error", "warn"):
        raise SqlModelError(f"{_rel(check.path)}: severity must be 'error' or 'warn', got {severity!r}")
    reads = [dg.AssetKey(list(t)) for t in check.reads]
    keys = reads
    if "asset" in check.options:
        keys = [dg.AssetKey(check.options["asset"].split("."))]
        if keys[0] not in reads:
            raise SqlModelError(f"{_rel(check.path)}: names asset {check.options['asset']}, "
                                "which the check does not read")
    specs = [
        dg.AssetCheckSpec(name=check.name, asset=key, description=check.description or None,
                          blocking=check.options.get("blocking") == "true",
                          additional_deps=[k for k in reads if k != key])
        for key in keys
    ]

    @dg.multi_asset_check(specs=specs, name=f"check_{check.name}")
    def _check(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        try:
            offending = warehouse.query(check.sql)
        except duckdb.Error as exc:
            raise SqlModelError(f"{_rel(check.path)}: {exc}") from None
        metadata = {
            "offending_rows": len(offending),
            "preview": dg.MetadataValue.md(offending.head(PREVIEW_ROWS).to_markdown(index=False)),
            "sql_file": _rel(check.path),
        }
        for key in keys:
            yield dg.AssetCheckResult(
                asset_key=key, check_name=check.name, passed=offending.empty, metadata=metadata,
                severity=dg.AssetCheckSeverity.WARN if severity == "warn" else dg.AssetCheckSeverity.ERROR,
            )

    return _check


def load_sql_models(root: Path = SQL_ROOT) -> list[dg.AssetsDefinition]:
    return [
        model_asset(SqlFile.load(path), path.parent.name)
        for path in sorted(root.glob("*/*.sql"))
        if path.parent.name != CHECKS_DIR
    ]


def load_sql_checks(root: Path = SQL_ROOT) -> list[dg.AssetChecksDefinition]:
    return [check_definition(SqlFile.load(p)) for p in sorted((root / CHECKS_DIR).glob("*.sql"))]
