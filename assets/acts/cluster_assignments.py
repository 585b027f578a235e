"""`acts.cluster_assignments` and `acts.cluster_fits`: every layer x method x k, fitted and saved.

For each method and k (k above the number of sentences is skipped with a warning) the method is
fitted with `seed`; its labels are the assignments. `stability_seeds` - 1 more fits with other
seeds give the seed-stability ARI. `acts.cluster_fits` holds the label-free metrics and the
SAE's validation figures; the fitted model (with the centring mean) is saved under
<paths.models>/acts/<model_id>_layer<layer>/<method>_k<k>.joblib, and `assign` places new
sentences with it.
"""

import time
from pathlib import Path

import dagster as dg
import joblib
import numpy as np
import pandas as pd

from analysis import cluster_methods, cluster_metrics
from assets.acts.activations import project
from assets.acts.config import ClustersConfig
from assets.core.tables import Written, table_step
from assets.lineage import MODEL, Query, reads
from resources.warehouse import Warehouse


VECTORS = Query("SELECT layer, sentence_id, vector FROM acts.activations ORDER BY layer, sentence_id")
MEANS = Query("SELECT * FROM acts.activation_means")


def batch_tag(warehouse: Warehouse) -> str:
    """The model and layers a run's batch files belong to (in their names, so runs do not collide)."""
    means = warehouse.query(MEANS)
    return f"{means.model_id.iloc[0]}_layer{'-'.join(str(int(x)) for x in sorted(means.layer))}"


def vectors_of(frame) -> tuple[list[str], np.ndarray]:
    """Sentence ids and their vectors as one float32 matrix, from the rows of VECTORS (one layer's)."""
    return frame.sentence_id.tolist(), np.stack(frame.vector.to_numpy()).astype(np.float32)


def model_path(models_dir: Path, model_id: str, layer: int, method: str, k: int) -> Path:
    return models_dir / "acts" / f"{model_id}_layer{layer}" / f"{method}_k{k}.joblib"


def assign(path: str | Path, raw_vectors: np.ndarray) -> np.ndarray:
    """Clusters of new sentences' raw (uncentred) mean hidden states, with a saved model."""
    bundle = joblib.load(path)
    if raw_vectors.shape[1] != len(bundle["mean"]):
        raise ValueError(f"{path}: vectors have {raw_vectors.shape[1]} dimensions, the model "
                         f"{bundle['model']} layer {bundle['layer']} has {len(bundle['mean'])}")
    return bundle["estimator"].predict(project(raw_vectors.astype(np.float64), bundle["mean"]).astype(np.float32))


def fit_all(x: np.ndarray, config: ClustersConfig, log=None) -> tuple[list[dict], dict]:
    """Fit every method x k; returns fit records (label-free metrics, estimator, labels) and skips."""
    unknown = sorted(set(config.methods) - set(cluster_methods.METHODS))
    if unknown:
        raise ValueError(f"unknown clustering method(s) {unknown}; valid: {', '.join(cluster_methods.METHODS)}")
    bad_k = [k for k in config.clusters if k < 2]
    if bad_k:
        raise ValueError(f"clusters {bad_k}: every k must be at least 2")
    skipped = sorted(k for k in set(config.clusters) if k > len(x))
    if skipped and log:
        log.warning(f"k {skipped} exceed the {len(x)} sentences and are skipped")
    options = dict(n_samples=len(x), n_features=x.shape[1], pca_components=config.pca_components,
                   gmm_covariance=config.gmm_covariance, agglomerative_max_points=config.agglomerative_max_points,
                   sae_topk=config.sae_topk, sae_epochs=config.sae_epochs,
                   sae_validation_fraction=config.sae_validation_fraction)
    fits = []
    for method in config.methods:
        for k in sorted(set(config.clusters) - set(skipped)):
            started = time.perf_counter()
            estimator = cluster_methods.make(method, k, config.seed, **options)
            labels = np.asarray(estimator.fit_predict(x))
            seconds = time.perf_counter() - started
            others = [np.asarray(cluster_methods.make(method, k, config.seed + i, **options).fit_predict(x))
                      for i in range(1, config.stability_seeds)]
            fits.append({"method": method, "k": k, "seed": config.seed, "estimator": estimator, "labels": labels,
                         "fit_seconds": seconds, **estimator.diagnostics(),
                         **cluster_metrics.scores(x, labels, config.seed),
                         "stability_ari": cluster_metrics.seed_stability([labels, *others])})
            if log:
                log.info(f"{method} k={k}: {seconds:.1f} s, silhouette {fits[-1]['silhouette']}")
    return fits, {"skipped_k": skipped}


@table_step(deps=reads(VECTORS, MEANS), layer=MODEL, kinds={"duckdb", "scikitlearn"})
def cluster_assignments(context: dg.AssetExecutionContext, config: ClustersConfig, warehouse: Warehouse) -> Written:
    """Each layer, method and k's cluster per sentence, and each fit's scores and saved model."""
    vectors = warehouse.query(VECTORS)
    means_by_layer = warehouse.query(MEANS).set_index("layer")
    models_dir = Path(warehouse.settings.path("models"))
    assignments, records, skipped_k = [], [], set()
    for layer, of_layer in vectors.groupby("layer", sort=True):
        ids, x = vectors_of(of_layer)
        means = means_by_layer.loc[layer]
        fits, report = fit_all(x, config, context.log)
        skipped_k.update(report["skipped_k"])
        if not fits:
            raise ValueError(f"every k in {config.clusters} exceeds the {len(x)} sentences: nothing to cluster")
        for fit in fits:
            path = model_path(models_dir, means.model_id, int(layer), fit["method"], fit["k"])
            path.parent.mkdir(parents=True, exist_ok=True)
            joblib.dump({"estimator": fit.pop("estimator"), "mean": np.asarray(means["mean"], dtype=np.float64),
                         "model": means.model, "layer": int(layer), "method": fit["method"], "k": fit["k"]}, path)
            labels = fit.pop("labels")
            assignments.append(pd.DataFrame({"layer": int(layer), "method": fit["method"], "k": fit["k"],
                                             "sentence_id": ids, "cluster_id": labels.astype(int)}))
            records.append({"layer": int(layer), **fit, "n_sentences": len(ids), "model_path": str(path)})
    fits_frame = pd.DataFrame(records)
    for column in ("sae_validation_fvu", "sae_dead_latents", "sae_validation_rows"):
        if column not in fits_frame:
            fits_frame[column] = None
    return Written({"cluster_assignments": pd.concat(assignments), "cluster_fits": fits_frame}, {
        "cluster_assignments": {"methods": config.methods, "skipped_k": sorted(skipped_k),
                                "layers": sorted(int(x) for x in means_by_layer.index),
                                "clusters": [k for k in config.clusters if k not in skipped_k]},
        "cluster_fits": {"models": str(models_dir / "acts")}})
