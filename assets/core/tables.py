"""`@table_step`: a Python step declared by where it lives. The module `assets/<schema>/<name>.py`
writes table `<schema>.<name>`, or the tables whose contract (`sql/<schema>/schema.yml`,
`meta.written_by`) names the module; from those names come the asset keys, the group (the
schema), the op name (`<schema>__<name>`) and the row counts. The step returns its frames by
table name (`Written`), and the decorator writes them all in one transaction (a partitioned step:
its partition's rows), then reports each table's row count with the step's own metadata.

    @table_step(deps=reads(BATTLES), layer=MODEL)
    def prompt_categories(context, config: CategoriesConfig, warehouse: Warehouse) -> Written:
        ...
        return Written({"prompt_categories": frame}, metadata={"prompt_categories": {"categories": 7}})

A table name is written once: in its contract. Adding a table is one contract entry and one
module (or SQL file); docs/ARCHITECTURE.md says more.
"""

import functools
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd
import pyarrow as pa

from assets.core.partitions import PARTITION_COLUMN
from resources.contracts import ContractError, load_contracts
from resources.tracking import track
from resources.warehouse import Warehouse

Frame = pd.DataFrame | pa.Table
PYTHON = frozenset({"duckdb", "python"})


@dataclass
class Written:
    """A step's output: a frame per table (by table name, without the schema) and, for any of
    them, metadata to show beside its row count."""

    frames: dict[str, Frame]
    metadata: dict[str, dict] = field(default_factory=dict)


def one(frame: Frame, metadata: dict | None = None) -> Written:
    """The output of a step that writes one table: the module's own."""
    return Written({None: frame}, {None: metadata or {}})


def tables_of(module: str) -> tuple[str, list[str]]:
    """(schema, table names) that module `assets.<schema>.<name>` writes, from the contracts."""
    parts = module.split(".")
    if len(parts) != 3 or parts[0] != "assets":
        raise ContractError(f"{module}: a table step lives in assets/<schema>/<table>.py")
    _, schema, name = parts
    path = f"assets/{schema}/{name}.py"
    names = [c.name for c in load_contracts().values() if c.schema == schema and c.writer() == path]
    if not names:
        raise ContractError(f"{path} writes no table: add `{name}` to sql/{schema}/schema.yml (or a model "
                            f"with `meta: {{written_by: {path}}}`)")
    return schema, names


def table_step(*, deps=(), layer: dict, kinds=PYTHON, pool: str | None = None, partitions_def=None,
               kinds_of: dict | None = None, layer_of: dict | None = None):
    """Declare the decorated function as the step that writes its module's tables. `kinds_of` and
    `layer_of` override `kinds` and `layer` for single tables of a step that writes several."""

    def decorate(fn):
        schema, names = tables_of(fn.__module__)
        module = fn.__module__.rsplit(".", 1)[1]
        specs = [dg.AssetSpec([schema, t], deps=deps, group_name=schema,
                              kinds=set((kinds_of or {}).get(t, kinds)), tags=(layer_of or {}).get(t, layer))
                 for t in names]

        @functools.wraps(fn)
        def run(context: dg.AssetExecutionContext, **kwargs):
            written = fn(context, **kwargs)
            if not isinstance(written, Written):
                raise TypeError(f"{fn.__module__}.{fn.__name__} returned {type(written).__name__}, not Written")
            frames = {(t or module): f for t, f in written.frames.items()}
            metadata = {(t or module): m for t, m in written.metadata.items()}
            if set(frames) != set(names):
                raise ContractError(f"{fn.__module__}: wrote {sorted(frames)}; its contract says {names}")
            warehouse: Warehouse = kwargs["warehouse"]
            tables = {f"{schema}.{t}": frames[t] for t in names}
            if context.has_partition_key:
                if len(tables) > 1:
                    raise ContractError(f"{fn.__module__}: a partitioned step writes one table")
                (table, frame), = tables.items()
                counts = {table: warehouse.write_partition(table, frame, PARTITION_COLUMN, context.partition_key,
                                                           context)}
            else:
                counts = warehouse.write_tables(tables, context=context)
            track(context, warehouse, counts, {f"{schema}.{t}": metadata.get(t, {}) for t in names})
            for t in names:
                yield dg.MaterializeResult(asset_key=[schema, t], metadata={
                    "dagster/row_count": counts[f"{schema}.{t}"], **metadata.get(t, {})})

        return dg.multi_asset(specs=specs, name=f"{schema}__{module}", pool=pool, partitions_def=partitions_def,
                              description=fn.__doc__)(run)

    return decorate
