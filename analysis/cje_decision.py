"""Which policy is best, and may the answer be acted on: cje-eval 0.9's best_policy() rules
(cje/data/models.py) applied to vibescope's headline estimates, plus the importance-weight rules
the off-policy estimators need.

The best policy is the highest headline estimate among the policies no gate flags (a REFUSE-LEVEL
boundary card, a FAILed transport audit, or under an importance-weighting estimator a weight guard
rail: low ESS or extreme weights make its point estimate unreliable); a flagged leader is demoted
and named. The decision is ready only when the best policy beats every other policy with an
estimate (the paired test's Holm p below alpha), no policy of the ranking borrows the base's
calibration unverified (a target whose transport audit is not PASS, unless its direct estimate
is augmented by labels of its own, which need no transport), no estimate of the ranking
is withheld, nothing was demoted and, under DR, no policy of the ranking breaks a weight guard
rail (DR's correction term reweights too). The note says what blocks it.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

WEIGHTED = ("ips", "snips", "cal_ips")  # the point estimate is a weighted mean
CORRECTED = ("dr",)                      # the weights enter a correction term
WEIGHT_RULES = ("low_ess", "extreme_weights", "identical_policy_not_identical", "flagged_logprobs")


@dataclass
class Decision:
    best_policy: str | None
    best_estimate: float | None
    demoted_policy: str | None
    decision_ready: bool
    blocking_policies: list[str]
    note: str


def _weight_rails(policy: str, rails: pd.DataFrame, estimator: str) -> list[str]:
    mine = rails[(rails.subject == policy) & rails.rule.isin(WEIGHT_RULES)
                 & (rails.estimator.isna() | (rails.estimator == estimator))]
    return [f"guard rail {r}" for r in sorted(set(mine.rule))]


def _flags(policy: str, cards: dict, audits: dict, rails: pd.DataFrame, estimator: str) -> list[str]:
    flags = []
    if cards.get(policy) == "REFUSE-LEVEL":
        flags.append("a REFUSE-LEVEL boundary card")
    if audits.get(policy) == "FAIL":
        flags.append("a FAILed transport audit")
    return flags + (_weight_rails(policy, rails, estimator) if estimator in WEIGHTED else [])


def _beats(best: str, other: str, pairwise: pd.DataFrame, alpha: float) -> tuple[bool, float]:
    """Whether `best` is above `other` in the paired test, and the Holm p."""
    row = pairwise[((pairwise.policy_a == best) & (pairwise.policy_b == other))
                   | ((pairwise.policy_a == other) & (pairwise.policy_b == best))]
    if row.empty or not np.isfinite(row.p_holm.iloc[0]):
        return False, float("nan")
    r = row.iloc[0]
    diff = r["diff"] if r.policy_a == best else -r["diff"]
    return bool(diff > 0 and r.p_holm < alpha), float(r.p_holm)


def decide(estimates: pd.DataFrame, pairwise: pd.DataFrame, cards: dict, audits: dict, rails: pd.DataFrame,
           base: str, estimator: str, alpha: float = 0.05) -> Decision:
    """`estimates`: the headline estimator's rows (policy, v_hat, reason, and route where the
    estimator has one); `pairwise`: its tests; `cards`/`audits`: status by policy; `rails`: cje.guard_rails."""
    given = estimates[estimates.reason.isna() & np.isfinite(estimates.v_hat.astype(float))]
    withheld = sorted(set(estimates.policy) - set(given.policy))
    own = set(estimates.policy[estimates.get("route", pd.Series(index=estimates.index, dtype=object)) == "augmented"])
    unverified = sorted(p for p in estimates.policy if p != base and p not in own and audits.get(p) != "PASS")
    flags = {p: _flags(p, cards, audits, rails, estimator) for p in given.policy}
    if given.empty:
        return Decision(None, None, None, False, sorted(estimates.policy),
                        f"Not decision-ready: no policy has a {estimator} estimate (each row of cje.policy_estimates "
                        "says why).")
    ranked = given.sort_values("v_hat", ascending=False)
    reliable = ranked[[not flags[p] for p in ranked.policy]]
    leader = ranked.policy.iloc[0]
    best = reliable.policy.iloc[0] if len(reliable) else leader
    demoted = leader if best != leader else None
    reasons = []
    if demoted:
        reasons.append(f"the highest estimate, {demoted}, was demoted ({'; '.join(flags[demoted])})")
    if not len(reliable):
        reasons.append(f"every policy is flagged ({best}: {'; '.join(flags[best])}); name no winner")
    if unverified:
        states = ", ".join(f"{p} {audits.get(p, 'NOT_CHECKED')}" for p in unverified)
        reasons.append(f"the ranking involves {', '.join(unverified)}, whose calibration transfer from {base} is "
                       f"unverified (transport: {states}); label a random slice of each one's responses, or audit "
                       "it on held-out probes until it PASSes")
    weighted = {p: _weight_rails(p, rails, estimator) for p in given.policy} if estimator in CORRECTED else {}
    weighted = {p: r for p, r in weighted.items() if r}
    if weighted:
        reasons.append(f"under {estimator} importance weights break guard rails ("
                       + "; ".join(f"{p}: {', '.join(r)}" for p, r in weighted.items()) + ")")
    if withheld:
        reasons.append(f"no {estimator} estimate for {', '.join(withheld)} (withheld: see its reason)")
    ties = []
    for other in given.policy:
        if other != best:
            wins, p = _beats(best, other, pairwise, alpha)
            if not wins:
                ties.append(f"{other} (Holm p {p:.2g})" if np.isfinite(p) else other)
    if ties:
        reasons.append(f"{best} does not beat {', '.join(ties)} in the paired test at {alpha:g}")
    blocking = sorted(set(unverified) | set(withheld) | set(weighted) | ({demoted} if demoted else set())
                      | {p for p, f in flags.items() if f})
    estimate = float(given.set_index("policy").v_hat[best])
    if reasons:
        note = "Not decision-ready: " + "; ".join(reasons) + "."
    else:
        note = f"Decision-ready: {best} beats every other policy in the paired test at {alpha:g}."
    return Decision(best, estimate, demoted, not reasons, blocking, note)
