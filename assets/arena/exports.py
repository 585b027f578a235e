"""`arena/exports`: differences, properties, clusters and metrics as CSV, JSONL and Parquet,
`interactive_cluster_visualization.html` (the map, the tree and the bars, standalone), and
`stringsight_properties.jsonl` (the properties with their battles and clusters in StringSight /
LMM-Vibes columns, which `describer_source: file` reads back), under `<reports>/arena/<time>/`."""

from datetime import datetime, timezone

import dagster as dg

from analysis.arena_figures import standalone_html
from assets.arena.properties_file import export_frame
from assets.lineage import RESULT, Query, reads
from resources.warehouse import Warehouse

TABLES = {
    "battle_differences": Query("SELECT * FROM arena.battle_differences"),
    "properties": Query("SELECT * FROM arena.clustered_properties"),
    "cluster_labels": Query("SELECT * FROM arena.cluster_labels"),
    "model_cluster_metrics": Query("SELECT * FROM arena.model_cluster_metrics"),
}
BATTLES = Query("SELECT battle_id, prompt, model_a, model_b, response_a, response_b, winner FROM arena.battles")


@dg.asset(key=["arena", "exports"], group_name="arena", kinds={"python", "file"}, tags=RESULT,
          deps=reads(*TABLES.values(), BATTLES))
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
    stringsight = export_frame(tables["properties"], warehouse.query(BATTLES))
    stringsight.to_json(folder / "stringsight_properties.jsonl", orient="records", lines=True, force_ascii=False)
    return dg.MaterializeResult(metadata={"folder": dg.MetadataValue.path(str(folder))})
