"""The cluster bootstrap of the direct estimates with the calibrator refitted in every replicate
(cje-eval 0.9's `inference_method="bootstrap"`), on numpy arrays (no I/O, no Dagster).

Replicate b draws a weight e_p ~ Exp(1) for every prompt (mean one, never zero: every label and
every fold stays in the fit; the same draw for every policy, so differences are paired), gives
each calibration label its prompt's weight (a label on a prompt no policy was drawn at gets a
draw of its own), refits the calibrator on the weighted labels (every fold model and the full
model, in the mode asked for: `auto` chooses again), and recomputes each policy's direct
estimate with its draws weighted by their prompt's e: the weighted calibrated mean, plus (where
the policy has labels of its own) their weighted mean residual against the refitted out-of-fold
models. The percentile interval of the B replicates is the CI, their SD the SE. It sees what the
jackknife's additive variance cannot: the calibration and the evaluation resampled together where
they share prompts. Like every refit it is flat beyond the labels (cje_support.py), so the
support bound is not in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import sklearn
from threadpoolctl import threadpool_limits

from analysis.cje_calibration import distinct_rows, fit_calibration


@dataclass
class Draws:
    """One policy's fresh draws: calibration inputs (judge score, covariates), prompt, fold, and
    the oracle label where the direct estimate may use it (NaN elsewhere)."""

    X: np.ndarray
    prompt_ids: np.ndarray
    folds: np.ndarray
    labels: np.ndarray


@dataclass
class Bootstrap:
    replicates: dict[str, np.ndarray]  # policy -> the B replicate estimates

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        tail = (1 - level) / 2
        # an augmented replicate may leave [0, 1] by its residual term; the value cannot
        return pd.DataFrame([{"policy": p, "se": float(np.std(r, ddof=1)),
                              "ci_low": float(np.clip(np.quantile(r, tail), 0, 1)),
                              "ci_high": float(np.clip(np.quantile(r, 1 - tail), 0, 1)),
                              "n_bootstrap": len(r)} for p, r in self.replicates.items()])


def bootstrap_direct(label_X: np.ndarray, label_y: np.ndarray, label_prompts: np.ndarray, label_folds: np.ndarray,
                     draws: dict[str, Draws], mode: str, n_folds: int, n_bootstrap: int, seed: int = 42) -> Bootstrap:
    if n_bootstrap < 2:
        raise ValueError(f"n_bootstrap must be at least 2, got {n_bootstrap}")
    # one index over every prompt: the policies' draws, then any label's prompt none was drawn at
    prompts = pd.Index(pd.unique(np.concatenate([*(d.prompt_ids.astype(object) for d in draws.values()),
                                                 np.asarray(label_prompts, dtype=object)])))
    label_at = prompts.get_indexer(np.asarray(label_prompts, dtype=object))
    prepared = {}
    for policy, d in draws.items():
        at = prompts.get_indexer(d.prompt_ids.astype(object))
        inputs, codes = distinct_rows(d.X)
        codes_of_prompt, _ = pd.factorize(at)
        own = ~np.isnan(d.labels)
        prepared[policy] = (at, inputs, codes, own, np.bincount(codes_of_prompt)[codes_of_prompt])

    def replicate(seed_b: np.random.SeedSequence) -> dict[str, float]:
        e = np.random.default_rng(seed_b).exponential(size=len(prompts))
        # thousands of small refits: sklearn's input checks (of the two-stage ridge) would take much of
        # the time (the setting is per thread)
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            cal = fit_calibration(label_X, label_y, label_folds, n_folds, mode=mode, weights=e[label_at])
        values = {}
        for policy, (at, inputs, codes, own, per_prompt_draws) in prepared.items():
            d = draws[policy]
            mass = e[at] / per_prompt_draws  # a prompt's weight, shared by its draws
            v = float(mass @ cal.predict(inputs)[codes]) / mass.sum()
            if own.any():
                residual = d.labels[own] - cal.oof(d.X[own], d.folds[own])
                v += float(mass[own] @ residual) / mass[own].sum()
            values[policy] = v
        return values

    # a seed per replicate (the same replicates whatever the threads), replicates in parallel: the
    # refits spend their time in numpy and LAPACK, which let go of the GIL; one BLAS thread each
    # (BLAS's own threads on these small matrices oversubscribe the cores: 0.24 s a replicate at
    # 48,000 labels serially, 0.34 s in two threads with BLAS threads, 0.16 s without)
    with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        replicates = list(pool.map(replicate, np.random.SeedSequence(seed).spawn(n_bootstrap)))
    return Bootstrap({p: np.array([r[p] for r in replicates]) for p in draws})
