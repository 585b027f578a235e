"""`diff.distinguishing_terms`: the words and word pairs that separate A from B, by the log-odds
ratio with an informative Dirichlet prior (Monroe et al. 2008; analysis/keywords.py), over all
rows of both sides. `z` > 0 leans to A; each side's `top` terms are kept, ranked by |z| within
the side, with up to three example rows of that side that contain the term."""

import dagster as dg
import pandas as pd

from analysis.keywords import distinguishing_terms as log_odds
from assets.core.tables import Written, one, table_step
from assets.diff.config import TermsConfig
from assets.lineage import RESULT, Query, reads
from resources.warehouse import Warehouse

ROWS = Query("SELECT row_id, side, text FROM diff.rows ORDER BY side, idx")


@table_step(deps=reads(ROWS), layer=RESULT)
def distinguishing_terms(context: dg.AssetExecutionContext, config: TermsConfig,
                         warehouse: Warehouse) -> Written:
    """Top terms of each side by log-odds z-score, with example rows."""
    rows = warehouse.query(ROWS)
    a, b = rows[rows.side == "A"], rows[rows.side == "B"]
    terms = log_odds(a.text.tolist(), b.text.tolist(), config.prior_scale, config.min_count)
    row_ids = pd.concat([a.row_id, b.row_id]).to_numpy()
    terms = terms.assign(side=(terms.z > 0).map({True: "A", False: "B"}),
                         example_row_ids=[[str(row_ids[i]) for i in idx] for idx in terms.examples])
    terms["rank"] = terms.z.abs().groupby(terms.side).rank(ascending=False, method="first").astype(int)
    top = terms[terms["rank"] <= config.top].drop(columns="examples").sort_values(["side", "rank"])
    leaders = {side: ", ".join(top[top.side == side].term.head(5)) for side in ("A", "B")}
    return one(top, {"terms_considered": len(terms),
                     "top_a": leaders["A"], "top_b": leaders["B"]})
