"""The contracts of resources/contracts.py in Dagster: every asset's description and column schema
(what the UI's asset page shows) come from its table's contract, and each table gets one
blocking asset check, `contract`, that runs the contract's tests on the written table: its
columns are the contract's, no two rows share the grain, and each column test holds. A failed
error-severity test fails the check with severity ERROR, which stops the steps downstream; a
failed warn-severity test alone fails it with WARN.

Generated SQL rather than a validation library (pandera): the tables are DuckDB tables, SQL
models and Python-written alike, so one kind of test reads them all where they are, with no frame
pulled into Python, and each test's SQL is the offending rows, as the checks under sql/checks/ are.
"""

import dagster as dg
import duckdb

from assets.core.partitions import PARTITION_COLUMN
from resources.contracts import Contract, load_contracts, reads_of, offending_rows_sql
from resources.warehouse import Warehouse

PREVIEW_ROWS = 5



def column_schema(contract: Contract) -> dg.TableSchema:
    def constraints(column) -> dg.TableColumnConstraints:
        kinds = {t.kind for t in column.tests}
        return dg.TableColumnConstraints(nullable="not_null" not in kinds, unique="unique" in kinds,
                                         other=[t.name for t in column.tests if t.kind not in ("not_null", "unique")])

    return dg.TableSchema(columns=[dg.TableColumn(c.name, c.data_type, c.description, constraints(c))
                                   for c in contract.columns])


def with_contracts(assets: list) -> list:
    """The assets with each table's description, grain and column schema from its contract."""
    contracts = load_contracts()

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        contract = contracts.get(".".join(spec.key.path))
        if contract is None:
            return spec
        metadata = {**spec.metadata, "dagster/column_schema": column_schema(contract),
                    "grain": ", ".join(contract.grain) or "(one row)", "written_by": contract.writer()}
        return spec.replace_attributes(description=contract.description, metadata=metadata)

    return [a.map_asset_specs(apply) if isinstance(a, dg.AssetsDefinition) else a for a in assets]


def columns_sql(contract: Contract) -> str:
    return (f"SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = '{contract.schema}' AND table_name = '{contract.name}' ORDER BY ordinal_position")


def run_contract(contract: Contract, warehouse: Warehouse) -> tuple[dict, dict, dict]:
    """(offending rows per failed test, severity per failed test, metadata) of the written table."""
    failed: dict[str, int] = {}
    severity: dict[str, str] = {}
    previews = {}
    # the columns, as a set (dbt's contracts do not hold the order either); partition_key is the
    # warehouse's own, on partitioned stages
    actual = [c for c in warehouse.query(columns_sql(contract)).column_name if c != PARTITION_COLUMN]
    expected = [c.name for c in contract.columns]
    missing, extra = [c for c in expected if c not in actual], [c for c in actual if c not in expected]
    if missing or extra:
        failed["columns"], severity["columns"] = len(missing) + len(extra), "error"
        previews["columns"] = f"missing {missing}; not in the contract {extra}"
        return failed, severity, previews  # the tests would name columns that are not there
    for test in contract.tests():
        try:
            offending = warehouse.query(offending_rows_sql(contract, test))
        except duckdb.Error as exc:
            raise RuntimeError(f"{contract.file}: {contract.table} test {test.name}: {exc}") from None
        if len(offending):
            failed[test.name], severity[test.name] = len(offending), test.severity
            previews[test.name] = offending.head(PREVIEW_ROWS).to_markdown(index=False)
    return failed, severity, previews


def contract_check(contract: Contract) -> dg.AssetChecksDefinition:
    key = dg.AssetKey([contract.schema, contract.name])

    @dg.asset_check(asset=key, name="contract", blocking=True, description=(
        f"{contract.table} as {contract.file.parent.name}/schema.yml declares it: its columns, its grain "
        f"({', '.join(contract.grain) or 'none'}) and {len(contract.tests()) - bool(contract.grain)} column tests"),
        additional_deps=[dg.AssetKey(t.split(".")) for t in sorted(reads_of(contract))])
    def _check(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
        failed, severity, previews = run_contract(contract, warehouse)
        worst = "error" if "error" in severity.values() else "warn"
        return dg.AssetCheckResult(
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR if worst == "error" else dg.AssetCheckSeverity.WARN,
            metadata={"failed_tests": dg.MetadataValue.json(failed),
                      **{f"offending: {name}": dg.MetadataValue.md(text) for name, text in previews.items()}})

    return _check


def contract_checks(asset_keys: set) -> list:
    """A `contract` check for every table that has an asset and a contract."""
    return [contract_check(c) for c in load_contracts().values()
            if dg.AssetKey([c.schema, c.name]) in asset_keys]
