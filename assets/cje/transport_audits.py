"""Per target policy, whether the judge's calibration (learned on the base's
labels) transports to it, graded on its held-out probes (analysis/cje_transport.py: cje-eval 0.9's
residual audit). A policy without probes is NOT_CHECKED: its estimates borrow the calibration
unverified. Probes must be held out: a probe that is also a calibration label is refused, naming it.
"""

import dagster as dg
import numpy as np
import pandas as pd

from analysis.cje_transport import ACTIONS, audit
from assets.cje.config import TransportConfig
from assets.core.tables import Written, one, table_step
from assets.lineage import MODEL, Query, reads
from resources.datasets import DatasetError
from resources.warehouse import Warehouse

PROBES = Query("""
    SELECT o.policy, o.prompt_id, o.draw_idx, o.oracle_label, r.reward_full AS reward
    FROM cje.oracle_labels AS o
    JOIN cje.calibrated_rewards AS r USING (prompt_id, policy, source, draw_idx)
    WHERE o.source = 'probe'
    ORDER BY o.policy, o.prompt_id, o.draw_idx
""")
# a probe row that is a calibration label: the base's own logged response to the prompt, labelled for
# calibration (another policy's probe is another observation, even where its text is the same)
OVERLAP = Query("""
    SELECT p.policy, p.prompt_id, p.draw_idx
    FROM cje.responses AS p
    JOIN cje.oracle_labels AS probe USING (prompt_id, policy, source, draw_idx)
    JOIN cje.responses AS l ON l.source = 'logged' AND l.prompt_id = p.prompt_id AND l.response = p.response
    JOIN cje.oracle_labels AS cal ON cal.source = 'logged' AND cal.split = 'calibration' AND cal.prompt_id = l.prompt_id
    WHERE p.source = 'probe' AND p.policy = 'base'
    ORDER BY ALL
""")
TARGETS = Query("SELECT policy FROM cje.policies WHERE NOT is_base ORDER BY policy")


@table_step(deps=reads(PROBES, OVERLAP, TARGETS), layer=MODEL)
def transport_audits(context: dg.AssetExecutionContext, config: TransportConfig, warehouse: Warehouse) -> Written:
    if not config.delta_max >= 0:
        raise DatasetError(f"cje__transport_audits.delta_max is a margin on the reward scale, 0 (none) or above; "
                           f"got {config.delta_max:g}")
    if not 0 < config.alpha < 1 or not config.min_effective_clusters >= 1:
        raise DatasetError(f"cje__transport_audits: alpha must be in (0, 1) and min_effective_clusters at least 1; "
                           f"got {config.alpha:g} and {config.min_effective_clusters:g}")
    overlap = warehouse.query(OVERLAP)
    if len(overlap):
        r = overlap.iloc[0]
        raise DatasetError(f"the probe of policy {r.policy} on prompt_id {r.prompt_id} (draw {r.draw_idx}) is also a "
                           f"calibration label ({len(overlap)} such probe row(s)): an audit needs probes held out of "
                           "calibration; remove them from the probe files")
    probes, targets = warehouse.query(PROBES), warehouse.query(TARGETS).policy.tolist()
    audited = [p for p in targets if p in set(probes.policy)]
    rows = []
    for policy in targets:
        row = {"policy": policy, "delta_max": config.delta_max if config.delta_max > 0 else None,
               "alpha": config.alpha, "family_size": len(audited)}
        if policy in audited:
            of = probes[probes.policy == policy]
            a = audit(of.oracle_label.to_numpy() - of.reward.to_numpy(), of.prompt_id.to_numpy(), config.delta_max,
                      config.alpha, len(audited), config.min_effective_clusters)
            row.update(vars(a))
        else:
            row.update(status="NOT_CHECKED", n_probes=0, n_clusters=0, action=ACTIONS["NOT_CHECKED"])
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["policy", "status", "n_probes", "n_clusters", "effective_clusters",
                                        "mean_residual", "se", "ci_low", "ci_high", "delta_max", "alpha",
                                        "family_size", "action"])
    one_cluster = np.isinf(frame.se.astype(float))  # no interval from a single prompt
    frame.loc[one_cluster, ["se", "ci_low", "ci_high"]] = np.nan
    counts = frame.status.value_counts().to_dict()
    return one(frame, {"delta_max": config.delta_max, **{f"n_{k.lower()}": int(v) for k, v in counts.items()}})
