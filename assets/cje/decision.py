"""The analysis's answer: the best policy by the headline estimator and whether the decision is
ready, with what blocks it (analysis/cje_decision.py). The report, `vibescope cje` and the app's
CJE page lead with it."""

import dagster as dg
import pandas as pd

from analysis.cje_decision import decide
from analysis.cje_report import headline_estimator
from assets.cje.config import HEADLINES, DecisionConfig
from assets.core.tables import Written, one, table_step
from assets.lineage import RESULT, Query, reads
from resources.warehouse import Warehouse

ESTIMATES = Query("SELECT policy, estimator, v_hat, ci_low, ci_high, route, reason FROM cje.policy_estimates")
PAIRWISE = Query("SELECT estimator, policy_a, policy_b, diff, p_holm FROM cje.pairwise_tests")
CARDS = Query("SELECT policy, status FROM cje.boundary_cards")
AUDITS = Query("SELECT policy, status FROM cje.transport_audits")
RAILS = Query("SELECT rule, subject, estimator FROM cje.guard_rails")
BASE = Query("SELECT policy FROM cje.policies WHERE is_base")


@table_step(deps=reads(ESTIMATES, PAIRWISE, CARDS, AUDITS, RAILS, BASE), layer=RESULT)
def decision(context: dg.AssetExecutionContext, config: DecisionConfig, warehouse: Warehouse) -> Written:
    if config.estimator not in HEADLINES:
        raise ValueError(f"decision estimator {config.estimator!r}; valid: {', '.join(HEADLINES)}")
    if not 0 < config.alpha < 1:
        raise ValueError(f"cje__decision.alpha must be in (0, 1), got {config.alpha:g}")
    estimates = warehouse.query(ESTIMATES)
    headline, rule = headline_estimator(estimates, config.estimator)
    pairwise = warehouse.query(PAIRWISE)
    status = {name: dict(warehouse.query(q).itertuples(index=False)) for name, q in (("cards", CARDS), ("audits", AUDITS))}
    d = decide(estimates[estimates.estimator == headline], pairwise[pairwise.estimator == headline],
               status["cards"], status["audits"], warehouse.query(RAILS), warehouse.query(BASE).policy.iloc[0],
               headline, config.alpha)
    frame = pd.DataFrame([{"estimator": headline, "estimator_rule": rule, **vars(d)}])
    context.log.debug(d.note)  # in the run log; the table and the commands show it
    return one(frame, {"best_policy": d.best_policy or "", "decision_ready": d.decision_ready,
                       "note": dg.MetadataValue.md(d.note)})
