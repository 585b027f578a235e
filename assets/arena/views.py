"""Shared figures of the arena analysis (the app page and the standalone HTML export use both),
and the exports: differences and clusters as CSV, JSONL and Parquet, and an interactive HTML map."""

from datetime import datetime, timezone

import dagster as dg
import pandas as pd
import plotly.express as px

from resources.warehouse import Warehouse

PROPERTIES = """
    SELECT p.*, c.fine_cluster_id, c.coarse_cluster_id, c.was_outlier, c.x, c.y,
           lf.label AS fine_label, lc.label AS coarse_label
    FROM arena.behavior_properties p
    JOIN arena.property_clusters c USING (property_id)
    LEFT JOIN arena.cluster_labels lf ON lf.level = 'fine' AND lf.cluster_id = c.fine_cluster_id
    LEFT JOIN arena.cluster_labels lc ON lc.level = 'coarse' AND lc.cluster_id = c.coarse_cluster_id
"""


def property_map(properties: pd.DataFrame, level: str = "fine"):
    color = f"{level}_label"
    return px.scatter(properties, x="x", y="y", color=color, symbol="model",
                      hover_data=["model", "property_description", "fine_label", "coarse_label"],
                      title=f"Behaviour properties, coloured by {level} cluster", height=600)


def cluster_tree(labels: pd.DataFrame):
    fine = labels[labels.level == "fine"]
    coarse = labels[labels.level == "coarse"].set_index("cluster_id").label
    frame = fine.assign(coarse=fine.parent_cluster_id.map(coarse).fillna("(no coarse cluster)"))
    return px.treemap(frame, path=["coarse", "label"], values="size", title="Coarse → fine clusters")


def model_bars(metrics: pd.DataFrame, level: str = "coarse"):
    shown = metrics[metrics.level == level]
    return px.bar(shown, x="cluster_label", y="proportion", color="model", barmode="group",
                  title="Share of each model's battles showing the behaviour")


@dg.asset(key=["arena", "exports"], group_name="arena", kinds={"python", "file"},
          deps=[["arena", "model_cluster_metrics"], ["arena", "cluster_labels"], ["arena", "property_clusters"]])
def exports(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Differences, properties, clusters and metrics as CSV, JSONL and Parquet, plus
    `interactive_cluster_visualization.html` (the map, the tree and the bars, standalone)."""
    folder = (warehouse.settings.path("reports") / "arena"
              / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S"))
    folder.mkdir(parents=True, exist_ok=True)
    properties = warehouse.query(PROPERTIES)
    labels = warehouse.query("SELECT * FROM arena.cluster_labels")
    metrics = warehouse.query("SELECT * FROM arena.model_cluster_metrics")
    tables = {"battle_differences": warehouse.query("SELECT * FROM arena.battle_differences"),
              "properties": properties, "cluster_labels": labels, "model_cluster_metrics": metrics}
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
        frame.to_json(folder / f"{name}.jsonl", orient="records", lines=True)
        frame.to_parquet(folder / f"{name}.parquet")
    figures = [property_map(properties), cluster_tree(labels), model_bars(metrics)]
    html = "\n".join(f.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False)
                     for i, f in enumerate(figures))
    (folder / "interactive_cluster_visualization.html").write_text(
        f"<html><head><meta charset='utf-8'><title>vibescope: arena behaviours</title></head><body>{html}</body></html>")
    return dg.MaterializeResult(metadata={"folder": dg.MetadataValue.path(str(folder))})
