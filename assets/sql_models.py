"""dbt-style SQL models: `sql/<schema>/<name>.sql` -> table `<schema>.<name>` -> asset `<schema>/<name>`.
Dependencies are the tables a query reads, found with sqlglot (CTE names are not tables). The
leading `--` comment block is the asset's description. `sql/checks/<name>.sql` returns offending
rows (zero rows pass) and becomes an asset check on every table it reads, or on the one named by a
header line `-- asset: schema.table`; header lines `-- severity: warn` and `-- blocking: true`
set how a failure counts. A model is in layer `model` unless its header says `-- layer: result`.
"""

from pathlib import Path

import dagster as dg
import duckdb

from assets.lineage import LAYERS
from resources.sql_files import SqlError, SqlFile
from resources.tracking import track
from resources.settings import PROJECT_ROOT
from resources.warehouse import Warehouse

SQL_ROOT = PROJECT_ROOT / "sql"
CHECKS_DIR = "checks"
PREVIEW_ROWS = 10


class SqlModelError(SqlError):
    """A SQL model or check that failed; the message names the file."""


def _rel(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def model_asset(model: SqlFile, schema: str) -> dg.AssetsDefinition:
    table = f"{schema}.{model.name}"
    layer = model.options.get("layer", "model")
    if layer not in LAYERS:
        raise SqlModelError(f"{_rel(model.path)}: layer must be one of {', '.join(LAYERS)}, got {layer!r}")

    @dg.asset(
        key=[schema, model.name],
        deps=[dg.AssetKey(list(t)) for t in model.reads],
        description=model.description or None,
        group_name=schema,
        kinds={"duckdb", "sql"},
        tags={"layer": layer},
        metadata={"sql_file": _rel(model.path), "table": table},
    )
    def _model(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        try:
            rows = warehouse.create_table_as(table, model.sql, context)
        except duckdb.Error as exc:
            raise SqlModelError(f"{_rel(model.path)}: {exc}") from None
        track(context, warehouse, {table: rows}, {})
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
