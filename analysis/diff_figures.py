"""Figures of the dataset-difference report (matplotlib, files only)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_iterations(metrics, path: Path) -> None:
    loop = metrics[metrics.stage == "loop"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for split, group in loop.groupby("split"):
        group = group.sort_values("iteration")
        axes[0].errorbar(group.iteration, group.accuracy, marker="o", label=split,
                         yerr=[group.accuracy - group.accuracy_ci_low, group.accuracy_ci_high - group.accuracy])
        axes[1].plot(group.iteration, group.mean_confidence, marker="o", label=split)
    axes[0].axhline(0.5, color="grey", linestyle=":")
    axes[0].set(xlabel="iteration", ylabel="accuracy (95% CI)", ylim=(0, 1), title="Accuracy")
    axes[1].set(xlabel="iteration", ylabel="mean confidence", ylim=(0.5, 1), title="Confidence")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(bins, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    for (stage, split), group in bins.groupby(["stage", "split"]):
        ax.plot(group.mean_predicted, group.share_a, marker="o", label=f"{stage}, {split}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(xlabel="predicted P(A)", ylabel="share of rows from A", title="Reliability of P(A)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
