"""`arena.rubric_behaviours`: the behaviours the rubric scores on every battle.

The `top_k` fine clusters with the most properties (each scored by its name and description; its
most frequent property as an example), and/or the behaviours of a user's file (`behaviours_path`,
assets/arena/behaviours_file.py). `discovered: false` scores the file's alone, as StringSight's
fixed axes do: then no cluster table is read, and the describer need not run.
"""

import dagster as dg
import pandas as pd

from assets.arena.behaviours_file import read_behaviours
from assets.arena.config import RubricConfig
from assets.core.tables import one, table_step
from assets.lineage import MODEL, Query, reads
from resources.warehouse import Warehouse

CLUSTERS = Query("""
    SELECT l.cluster_id, l.name, l.description, count(*) AS support, mode(p.property_description) AS example
    FROM arena.cluster_labels AS l
    JOIN arena.property_clusters AS c ON c.fine_cluster_id = l.cluster_id
    JOIN arena.behavior_properties AS p USING (property_id)
    WHERE l.level = 'fine' AND l.cluster_id <> -1
    GROUP BY ALL
    ORDER BY support DESC, l.cluster_id""")
COLUMNS = ["behaviour", "position", "label", "description", "source", "cluster_id", "desirable", "support", "example"]


@table_step(deps=reads(CLUSTERS), layer=MODEL)
def rubric_behaviours(context: dg.AssetExecutionContext, config: RubricConfig, warehouse: Warehouse):
    """The behaviours to score: the top-k fine clusters and/or a user's file."""
    if not config.discovered and not config.behaviours_path:
        raise ValueError("arena__rubric_behaviours: discovered is false and no behaviours_path: nothing to score")
    parts = []
    if config.behaviours_path:
        given = read_behaviours(config.behaviours_path)
        parts.append(pd.DataFrame({"behaviour": given.name, "label": given.name, "description": given.description,
                                   "source": "file", "cluster_id": pd.NA, "desirable": given.desirable,
                                   "support": pd.NA, "example": None}))
    if config.discovered:
        top = warehouse.query(CLUSTERS).head(config.top_k)
        parts.append(pd.DataFrame({"behaviour": [f"cluster {k}" for k in top.cluster_id], "label": top.name,
                                   "description": top.description.fillna(""), "source": "clusters",
                                   "cluster_id": top.cluster_id, "desirable": None, "support": top.support,
                                   "example": top.example}))
    frame = pd.concat(parts, ignore_index=True)
    if frame.empty:
        raise ValueError("arena__rubric_behaviours: no behaviour to score: no fine cluster (the describer gave no "
                         "property) and no behaviours_path")
    frame["position"] = range(1, len(frame) + 1)
    frame = frame[COLUMNS].astype({"cluster_id": "Int64", "support": "Int64", "desirable": "boolean"})
    return one(frame, {"behaviours": len(frame), "from_file": int((frame.source == "file").sum())})
