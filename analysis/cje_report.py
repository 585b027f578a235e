"""What the CJE run folder shows, from the warehouse's frames: the results JSON of the source
tool, the calibration curve and the pairwise heatmap (matplotlib), the console table (rich)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from rich.markup import escape
from rich.table import Table

# reason: why v_hat is null (e.g. withheld where the labels are too thin); the CI may still stand
RESULT_FIELDS = ("v_hat", "se", "ci_low", "ci_high", "oracle_truth", "absolute_error", "reason")


def _clean(value):
    """JSON has no NaN: missing numbers are null."""
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


# `auto`: DR where fresh draws give it, else the off-policy estimators in the order the CJE paper
# recommends them without draws (calibrated IPS, then self-normalised IPS)
AUTO_ORDER = ("dr", "cal_ips", "snips")


def headline_estimator(estimates: pd.DataFrame, requested: str) -> tuple[str, str]:
    """The report's headline estimator and the rule that chose it. `auto`: the first of
    AUTO_ORDER that gives an estimate for some policy; where none does, cal_ips, whose rows
    then say why each estimate is withheld."""
    if requested != "auto":
        return requested, f"{requested}, as the run config asks"
    given = estimates[estimates.reason.isna() & np.isfinite(estimates.v_hat.astype(float))]
    for name in AUTO_ORDER:
        if (given.estimator == name).any():
            why = {"dr": "fresh draws give doubly robust estimates",
                   "cal_ips": "no fresh draws for DR: calibrated IPS from the logged rows alone",
                   "snips": "no fresh draws for DR, and calibrated IPS is withheld: self-normalised IPS"}[name]
            return name, f"{name} (auto: {why})"
    return "cal_ips", "cal_ips (auto: no estimator gives an estimate here; each row says why)"


def results_json(estimates: pd.DataFrame, pairwise: pd.DataFrame, guard_rails: pd.DataFrame,
                 headline: str, rule: str = "") -> dict:
    def by_policy(frame: pd.DataFrame) -> dict:
        return {row.policy: {k: _clean(getattr(row, k)) for k in RESULT_FIELDS}
                for row in frame.itertuples()}

    head = pairwise[pairwise.estimator == headline]
    return {
        "estimator": headline,
        "estimator_rule": rule or headline,
        "results": by_policy(estimates[estimates.estimator == headline]),
        "results_by_estimator": {e: by_policy(g) for e, g in estimates.groupby("estimator")},
        "p_values_corrected": {f"{r.policy_a} vs {r.policy_b}": _clean(r.p_holm) for r in head.itertuples()},
        "p_values_corrected_method": "holm",
        "guard_rail_violations": [{k: _clean(v) for k, v in r.items()}
                                  for r in guard_rails.to_dict("records")],
    }


def plot_calibration(curve: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    fit, bins = curve[curve.kind == "fit"], curve[curve.kind == "bin"]
    ax.plot(fit.judge_score, fit.oracle, label="isotonic calibration (all labels)")
    ax.scatter(bins.judge_score, bins.oracle, s=20 + bins.n.astype(float), alpha=0.6,
               label="mean oracle label per judge-score decile")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="judge score", ylabel="oracle label", title="Judge -> oracle calibration")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_heatmap(pairwise: pd.DataFrame, policies: list[str], path: Path, estimator: str) -> None:
    matrix = pd.DataFrame(np.nan, index=policies, columns=policies)
    for r in pairwise.itertuples():
        matrix.loc[r.policy_a, r.policy_b] = matrix.loc[r.policy_b, r.policy_a] = r.p_holm
    fig, ax = plt.subplots(figsize=(1.6 * len(policies) + 2, 1.3 * len(policies) + 1.5))
    image = ax.imshow(matrix.to_numpy(float), cmap="viridis_r", vmin=0, vmax=1)
    ax.set_xticks(range(len(policies)), policies, rotation=30, ha="right")
    ax.set_yticks(range(len(policies)), policies)
    for i in range(len(policies)):
        for j in range(len(policies)):
            v = matrix.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", color="white" if v < 0.5 else "black")
    fig.colorbar(image, ax=ax, label="Holm-adjusted p-value")
    ax.set_title(f"Pairwise differences ({estimator})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_weights(histogram: pd.DataFrame, diagnostics: pd.DataFrame, path: Path) -> None:
    """A panel per policy: its normalized importance weights per quarter decade (log scale), with
    its ESS fraction, top-5% weight share and zero weights in the title."""
    policies = list(diagnostics.policy)
    fig, axes = plt.subplots(len(policies), 1, figsize=(7, 1.9 * len(policies) + 0.6), sharex=True, squeeze=False)
    for ax, d in zip(axes[:, 0], diagnostics.itertuples()):
        h = histogram[histogram.policy == d.policy]
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        if h.empty:  # every weight 0 (or flagged): nothing on a log scale
            ax.text(0.5, 0.5, "no positive weight", transform=ax.transAxes, ha="center", va="center")
        else:
            ax.bar(h.log10_bin + 0.125, h.n, width=0.23, color="tab:red" if d.status == "CRITICAL" else "tab:blue")
            ax.set_yscale("log")
        ax.set_title(f"{d.policy}: ESS {d.ess_fraction:.1%}, top 5% hold {d.top5_weight_share:.1%}, "
                     f"{d.n_weight_zero} zero ({d.status})", fontsize=9)
    axes[-1, 0].set_xlabel("log10 normalized weight (mean 1 at 0)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def console_table(estimates: pd.DataFrame, headline: str, rule: str = "") -> Table:
    table = Table(title=f"CJE estimates: {rule or headline}")
    for col in ("policy", "v_hat", "95% CI", "se", "oracle truth", "|error|", "why withheld"):
        table.add_column(col, justify="left" if col in ("policy", "why withheld") else "right")
    for r in estimates[estimates.estimator == headline].itertuples():
        fmt = lambda x: "n/a" if not np.isfinite(x) else f"{x:.3f}"  # noqa: E731
        reason = getattr(r, "reason", None)
        withheld = isinstance(reason, str)
        table.add_row(r.policy, "withheld" if withheld else fmt(r.v_hat),
                      escape(f"[{fmt(r.ci_low)}, {fmt(r.ci_high)}]") if np.isfinite(r.ci_low) else "n/a",
                      fmt(r.se), fmt(r.oracle_truth), fmt(r.absolute_error), escape(reason) if withheld else "")
    return table
