"""`arena/exports`: differences, properties, clusters and metrics as CSV, JSONL and Parquet, and
`interactive_cluster_visualization.html` (the map, the tree and the bars, standalone), under
`<reports>/arena/<time>/`."""

from datetime import datetime, timezone

import dagster as dg

from analysis.arena_figures import standalone_html
from assets.lineage import RESULT, Query, reads
from resources.warehouse import Warehouse

TABLES = {
    "battle_differences": Query("SELECT * FROM arena.battle_differences"),
    "properties": Query("SELECT * FROM arena.clustered_properties"),
    "cluster_labels": Query("SELECT * FROM arena.cluster_labels"),
    "model_cluster_metrics": Query("SELECT * FROM arena.model_cluster_metrics"),
}


@dg.asset(key=["arena", "exports"], group_name="arena", kinds={"python", "file"}, tags=RESULT,
          deps=reads(*TABLES.values()))
def exports(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """The files above, in a new timestamped folder."""
    folder = (warehouse.settings.path("reports") / "arena"
              / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S"))
    folder.mkdir(parents=True, exist_ok=True)
    tables = {name: warehouse.query(sql) for name, sql in TABLES.items()}
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
        frame.to_json(folder / f"{name}.jsonl", orient="records", lines=True)
        frame.to_parquet(folder / f"{name}.parquet")
    html = standalone_html(tables["properties"], tables["cluster_labels"], tables["model_cluster_metrics"])
    (folder / "interactive_cluster_visualization.html").write_text(html)
    return dg.MaterializeResult(metadata={"folder": dg.MetadataValue.path(str(folder))})
