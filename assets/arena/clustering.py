"""Clustering of embedded texts in swappable steps (as BERTopic does): reduce, cluster, assign
outliers, group clusters into coarser ones, place points in 2-D. Pure numpy/sklearn/hdbscan/umap."""

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import PCA


def scaled_min_cluster_size(requested: int, n: int) -> tuple[int, str | None]:
    """HDBSCAN's min_cluster_size, lowered for small data (at least 2, at most n/5)."""
    size = max(2, min(requested, n // 5))
    warning = (f"min_cluster_size {requested} is large for {n} items: using {size}"
               if size != requested else None)
    return size, warning


def reduce(embeddings: np.ndarray, n_components: int = 10, seed: int = 42) -> np.ndarray:
    """UMAP to a few dimensions (cosine), where density clustering works better than in 384-D."""
    import umap

    n = len(embeddings)
    if n <= n_components + 2:
        return embeddings
    model = umap.UMAP(n_components=n_components, n_neighbors=min(15, n - 1), metric="cosine",
                      min_dist=0.0, random_state=seed)
    return model.fit_transform(embeddings)


def density_clusters(x: np.ndarray, min_cluster_size: int) -> np.ndarray:
    """HDBSCAN labels (-1 = outlier)."""
    import hdbscan

    if len(x) < 3:
        return np.zeros(len(x), dtype=int)
    return hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=1).fit_predict(x)


def centroids(embeddings: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    out = {}
    for k in sorted(set(labels) - {-1}):
        c = embeddings[labels == k].mean(axis=0)
        out[k] = c / (np.linalg.norm(c) or 1.0)
    return out


def assign_outliers(embeddings: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outliers go to the nearest cluster centroid (cosine); returns (labels, was_outlier)."""
    outlier = labels == -1
    cents = centroids(embeddings, labels)
    if not cents or not outlier.any():
        return labels.copy(), outlier
    keys = np.array(list(cents))
    sims = embeddings[outlier] @ np.stack([cents[k] for k in keys]).T
    labels = labels.copy()
    labels[outlier] = keys[sims.argmax(axis=1)]
    return labels, outlier


def coarse_groups(embeddings: np.ndarray, labels: np.ndarray, n_groups: int | None = None) -> dict[int, int]:
    """Fine cluster -> coarse cluster, by agglomerative clustering of fine centroids (cosine)."""
    cents = centroids(embeddings, labels)
    keys = list(cents)
    if len(keys) <= 2:
        return {k: 0 for k in keys}
    n_groups = n_groups or max(2, int(round(np.sqrt(len(keys)))))
    model = AgglomerativeClustering(n_clusters=min(n_groups, len(keys)), metric="cosine", linkage="average")
    groups = model.fit_predict(np.stack([cents[k] for k in keys]))
    return dict(zip(keys, groups.tolist()))


def coordinates(embeddings: np.ndarray, use_umap: bool, seed: int = 42) -> np.ndarray:
    """2-D positions for the map."""
    if use_umap and len(embeddings) > 20:
        return reduce(embeddings, n_components=2, seed=seed)
    if len(embeddings) < 2:
        return np.zeros((len(embeddings), 2))
    return PCA(n_components=2, random_state=seed).fit_transform(embeddings)


@dataclass
class Clustering:
    fine: np.ndarray          # fine cluster per item
    was_outlier: np.ndarray   # HDBSCAN called it noise (then assigned, when asked)
    coarse: dict[int, int]    # fine -> coarse
    min_cluster_size: int
    warning: str | None


def cluster(embeddings: np.ndarray, min_cluster_size: int, enable_dim_reduction: bool = True,
            assign: bool = True, hierarchical: bool = True, seed: int = 42) -> Clustering:
    """Reduce, HDBSCAN, assign outliers, group into coarse clusters (the map's 2-D layout is
    `coordinates`, a step of its own)."""
    size, warning = scaled_min_cluster_size(min_cluster_size, len(embeddings))
    x = reduce(embeddings, seed=seed) if enable_dim_reduction else embeddings
    labels = density_clusters(x, size)
    if (labels == -1).all():  # no dense group at all: one cluster, so every item has a home
        labels = np.zeros(len(labels), dtype=int)
    was_outlier = labels == -1
    if assign:
        labels, was_outlier = assign_outliers(embeddings, labels)
    coarse = coarse_groups(embeddings, labels) if hierarchical else {k: k for k in set(labels)}
    if -1 in set(labels):
        coarse[-1] = -1
    return Clustering(labels, was_outlier, coarse, size, warning)
