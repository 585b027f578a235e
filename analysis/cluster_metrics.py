"""Cluster quality without any LLM call: silhouette (cosine), Davies-Bouldin, cluster-size
entropy, seed stability and centroid orthogonality (a proxy for the graded semantic orthogonality)."""

from itertools import combinations

import numpy as np
from sklearn.metrics import adjusted_rand_score, davies_bouldin_score, silhouette_score

SILHOUETTE_SAMPLE = 5000  # silhouette is O(n^2): a seeded sample above this


def scores(x: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict:
    used, sizes = np.unique(labels, return_counts=True)
    out = {"clusters_used": int(len(used))}
    valid = 2 <= len(used) < len(x)
    out["silhouette"] = (float(silhouette_score(x, labels, metric="cosine", random_state=seed,
                                                sample_size=min(len(x), SILHOUETTE_SAMPLE)))
                         if valid else None)
    out["davies_bouldin"] = float(davies_bouldin_score(x, labels)) if valid else None
    share = sizes / sizes.sum()
    # normalised by log(k used): 1 = equal sizes, 0 = one cluster holds everything
    out["size_entropy"] = float(-(share * np.log(share)).sum() / np.log(len(used))) if len(used) > 1 else 0.0
    centroids = np.stack([x[labels == c].mean(axis=0) for c in used])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    cos = np.abs(centroids @ centroids.T)[np.triu_indices(len(used), 1)]
    out["centroid_orthogonality"] = float(1 - cos.mean()) if len(cos) else None
    return out


def seed_stability(label_sets: list[np.ndarray]) -> float | None:
    """Mean adjusted Rand index over pairs of fits that differ only in their seed."""
    pairs = [adjusted_rand_score(a, b) for a, b in combinations(label_sets, 2)]
    return float(np.mean(pairs)) if pairs else None
