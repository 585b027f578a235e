"""Figures of the arena analysis, shared by the app page and the standalone HTML export (plotly)."""

import pandas as pd
import plotly.express as px


def property_map(properties: pd.DataFrame, level: str = "fine"):
    """`properties`: rows of arena.clustered_properties."""
    return px.scatter(properties, x="x", y="y", color=f"{level}_label", symbol="model",
                      hover_data=["model", "property_description", "fine_label", "coarse_label"],
                      title=f"Behaviour properties, coloured by {level} cluster", height=600)


def cluster_tree(labels: pd.DataFrame):
    """`labels`: rows of arena.cluster_labels."""
    fine = labels[labels.level == "fine"]
    coarse = labels[labels.level == "coarse"].set_index("cluster_id")["name"]
    frame = fine.assign(coarse=fine.parent_cluster_id.map(coarse).fillna("(no coarse cluster)"))
    return px.treemap(frame, path=["coarse", "name"], values="size", title="Coarse → fine clusters")


def model_bars(metrics: pd.DataFrame, level: str = "coarse"):
    """`metrics`: rows of arena.model_cluster_metrics."""
    shown = metrics[metrics.level == level]
    return px.bar(shown, x="cluster_label", y="proportion", color="model", barmode="group",
                  title="Share of each model's battles showing the behaviour")


def standalone_html(properties: pd.DataFrame, labels: pd.DataFrame, metrics: pd.DataFrame) -> str:
    """The map, the tree and the bars in one HTML page that needs no server or network."""
    figures = [property_map(properties), cluster_tree(labels), model_bars(metrics)]
    body = "\n".join(f.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False)
                     for i, f in enumerate(figures))
    return (f"<html><head><meta charset='utf-8'><title>vibescope: arena behaviours</title></head>"
            f"<body>{body}</body></html>")
