"""Every clustering method on synthetic activations with known structure: well-separated
Gaussian blobs on the unit sphere."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, davies_bouldin_score, silhouette_score

from assets.acts.cluster_assignments import fit_all
from assets.acts.config import METHODS, ClustersConfig
from analysis.cluster_metrics import scores

TRUE_K, KS = 6, [3, 4, 5, 6, 7, 8, 9]


def blobs(n_per: int = 80, dim: int = 32, spread: float = 0.25, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(TRUE_K, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth = np.repeat(np.arange(TRUE_K), n_per)
    x = centres[truth] + rng.normal(scale=spread / np.sqrt(dim), size=(len(truth), dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), truth


@pytest.fixture(scope="module")
def fits():
    x, truth = blobs()
    config = ClustersConfig(methods=list(METHODS), clusters=KS, seed=0, stability_seeds=2, pca_components=10,
                            sae_epochs=60)
    found, _ = fit_all(x, config)
    return x, truth, found


@pytest.mark.parametrize("method", METHODS)
def test_every_method_recovers_the_blobs_at_the_true_k(fits, method):
    _, truth, found = fits
    fit = next(f for f in found if f["method"] == method and f["k"] == TRUE_K)
    ari = adjusted_rand_score(truth, fit["labels"])
    print(f"{method}: ARI {ari:.3f} at k={TRUE_K}")
    assert ari >= 0.9
    assert fit["stability_ari"] >= 0.9


@pytest.mark.parametrize("method", METHODS)
def test_label_free_metrics_pick_the_true_k(fits, method):
    _, _, found = fits
    mine = {f["k"]: f for f in found if f["method"] == method}
    silhouettes = {k: f["silhouette"] for k, f in mine.items()}
    davies_bouldin = {k: f["davies_bouldin"] for k, f in mine.items()}
    print(method, {k: round(v, 3) for k, v in silhouettes.items()})
    assert max(silhouettes, key=silhouettes.get) == TRUE_K
    assert min(davies_bouldin, key=davies_bouldin.get) == TRUE_K


def test_label_free_scores_equal_sklearn_and_numpy():
    x, truth = blobs(n_per=30)
    labels = truth.copy()
    labels[:10] = 1  # not a perfect partition
    out = scores(x, labels)
    assert out["silhouette"] == pytest.approx(silhouette_score(x, labels, metric="cosine"), abs=1e-6)
    assert out["davies_bouldin"] == pytest.approx(davies_bouldin_score(x, labels), rel=1e-9)
    share = np.bincount(labels) / len(labels)
    assert out["size_entropy"] == pytest.approx(-(share * np.log(share)).sum() / np.log(TRUE_K), rel=1e-12)


def test_sae_reports_validation_figures(fits):
    _, _, found = fits
    sae = next(f for f in found if f["method"] == "sae_topk" and f["k"] == TRUE_K)
    assert 0 <= sae["sae_validation_fvu"] < 1
    assert sae["sae_dead_latents"] == 0 and sae["sae_validation_rows"] == 48


def test_bad_method_and_k(fits):
    x, _, _ = fits
    with pytest.raises(ValueError, match="unknown clustering method.*'kmedoids'.*valid: gmm"):
        fit_all(x, ClustersConfig(methods=["kmedoids"], clusters=[3]))
    with pytest.raises(ValueError, match="at least 2"):
        fit_all(x, ClustersConfig(methods=["pca_kmeans"], clusters=[1]))
    found, report = fit_all(x[:5], ClustersConfig(methods=["pca_kmeans"], clusters=[2, 9], stability_seeds=1))
    assert report["skipped_k"] == [9] and [f["k"] for f in found] == [2]


def test_saved_model_refuses_vectors_of_another_width(fits, tmp_path):
    import joblib

    from assets.acts.cluster_assignments import assign

    x, _, found = fits
    fit = next(f for f in found if f["method"] == "spherical_kmeans" and f["k"] == TRUE_K)
    path = tmp_path / "m.joblib"
    joblib.dump({"estimator": fit["estimator"], "mean": np.zeros(x.shape[1]), "model": "m", "layer": 3}, path)
    assert np.array_equal(assign(path, x), fit["labels"])
    with pytest.raises(ValueError, match=r"m.joblib: vectors have 16 dimensions, the model m layer 3 has 32"):
        assign(path, x[:, :16])


def test_unknown_grading_metric_lists_valid_ones():
    import pandas as pd

    from assets.acts.config import GradesConfig
    from assets.acts.grades import grading_requests

    with pytest.raises(ValueError, match="unknown grading metric.*'f2'.*valid: accuracy, completeness, orthogonality"):
        grading_requests(GradesConfig(metrics=["f2"]), pd.DataFrame(), pd.DataFrame(), pd.Series(dtype=str))
