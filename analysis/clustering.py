"""Clustering in swappable steps, one protocol for arena and activation clusters (as BERTopic does).

A `ClusterPipeline` holds the steps as objects; any object with the method a step calls will do:

    reduce    fit_transform(x), transform(x)      UMAP, PCA, any sklearn transformer (or None)
    cluster   fit_predict(x), predict(x)          HDBSCAN, k-means, GMM, an SAE ... (-1 = outlier)
    outliers  assign(x, labels) -> labels          e.g. NearestCentroid (or None: outliers stay -1)
    group     group(x, labels) -> {fine: coarse}   e.g. AgglomerativeGroups (or None: one level)
    place     place(x) -> (n, 2)                   2-D positions for a map (or None)

Steps that adapt to small data (a UMAP that is skipped, a min_cluster_size scaled down) say so
in `warning_`, which the result collects. Pure numpy / scikit-learn / hdbscan / umap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import math

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import PCA


def centroids(x: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    """Unit-norm mean of each cluster (outliers, -1, have none)."""
    out = {}
    for k in sorted(set(labels.tolist()) - {-1}):
        c = x[labels == k].mean(axis=0)
        out[k] = c / (np.linalg.norm(c) or 1.0)
    return out


# --- reduce ---------------------------------------------------------------------------------
class UMAPReduction:
    """UMAP (cosine) to a few dimensions, where density clustering works better than in 384-D;
    data too small for it passes through unchanged."""

    def __init__(self, n_components: int = 10, n_neighbors: int = 15, seed: int = 42):
        self.n_components, self.n_neighbors, self.seed = n_components, n_neighbors, seed
        self.model_ = None

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        import umap

        if len(x) <= self.n_components + 2:
            return x
        self.model_ = umap.UMAP(n_components=self.n_components, n_neighbors=min(self.n_neighbors, len(x) - 1),
                                metric="cosine", min_dist=0.0, random_state=self.seed)
        return self.model_.fit_transform(x)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x if self.model_ is None else self.model_.transform(x)


# --- cluster --------------------------------------------------------------------------------
def size_for(n: int) -> int:
    """min_cluster_size from the number of items: round(sqrt(n) / 3), at least 2. On LMM-Vibes'
    published clustering of 201 properties (data/samples/anchors/lmm_vibes_property_clusters.jsonl)
    that is 5: 15 clusters, adjusted Rand 0.38 against theirs, where 15 gives 5 clusters and 0.25
    (tests/arena/test_granularity.py); 2,000 items get 15, the size LMM-Vibes' defaults use."""
    return max(2, round(math.sqrt(n) / 3))


class DensityClusters:
    """HDBSCAN; min_cluster_size 0 is chosen from the data (`size_for`), a given one is lowered for
    small data (at least 2, at most n/5), and data with no dense group at all is one cluster, so that
    every item has a home."""

    def __init__(self, min_cluster_size: int = 15):
        self.min_cluster_size = min_cluster_size
        self.warning_: str | None = None

    def fit_predict(self, x: np.ndarray) -> np.ndarray:
        import hdbscan

        self.size_ = size_for(len(x)) if self.min_cluster_size == 0 else max(2, min(self.min_cluster_size, len(x) // 5))
        if self.min_cluster_size and self.size_ != self.min_cluster_size:
            self.warning_ = f"min_cluster_size {self.min_cluster_size} is large for {len(x)} items: using {self.size_}"
        if len(x) < 3:
            return np.zeros(len(x), dtype=int)
        labels = hdbscan.HDBSCAN(min_cluster_size=self.size_, min_samples=1).fit_predict(x)
        return np.zeros(len(x), dtype=int) if (labels == -1).all() else labels


# --- outliers, group, place -----------------------------------------------------------------
class NearestCentroid:
    """Outliers go to the cluster whose centroid is nearest (cosine)."""

    def assign(self, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
        cents = centroids(x, labels)
        outlier = labels == -1
        if not cents or not outlier.any():
            return labels.copy()
        keys = np.array(list(cents))
        labels = labels.copy()
        labels[outlier] = keys[(x[outlier] @ np.stack([cents[k] for k in keys]).T).argmax(axis=1)]
        return labels


class AgglomerativeGroups:
    """Fine clusters into coarse ones: average-linkage clustering of the fine centroids (cosine),
    about sqrt(number of fine clusters) groups unless `n_groups` is given."""

    def __init__(self, n_groups: int | None = None):
        self.n_groups = n_groups

    def group(self, x: np.ndarray, labels: np.ndarray) -> dict[int, int]:
        cents = centroids(x, labels)
        keys = list(cents)
        if len(keys) <= 2:
            return {k: 0 for k in keys}
        n_groups = min(self.n_groups or max(2, int(round(np.sqrt(len(keys))))), len(keys))
        model = AgglomerativeClustering(n_clusters=n_groups, metric="cosine", linkage="average")
        return dict(zip(keys, model.fit_predict(np.stack([cents[k] for k in keys])).tolist()))


class MapPlacement:
    """2-D positions: UMAP when asked and there are more than 20 points, else PCA."""

    def __init__(self, use_umap: bool = True, seed: int = 42):
        self.use_umap, self.seed = use_umap, seed

    def place(self, x: np.ndarray) -> np.ndarray:
        if self.use_umap and len(x) > 20:
            return UMAPReduction(n_components=2, seed=self.seed).fit_transform(x)
        if len(x) < 2:
            return np.zeros((len(x), 2))
        return PCA(n_components=2, random_state=self.seed).fit_transform(x)


# --- the pipeline ---------------------------------------------------------------------------
@dataclass
class Clustering:
    labels: np.ndarray          # cluster per item (-1 = outlier, when no `outliers` step)
    was_outlier: np.ndarray     # the cluster step called it noise (then assigned, if asked)
    coarse: dict[int, int]      # fine -> coarse (identity without a `group` step; -1 -> -1)
    xy: np.ndarray | None       # 2-D positions, when there is a `place` step
    warnings: list[str] = field(default_factory=list)


@dataclass
class ClusterPipeline:
    cluster: object
    reduce: object | None = None
    outliers: object | None = None
    group: object | None = None
    place: object | None = None

    def steps(self) -> list:
        return [s for s in (self.reduce, self.cluster, self.outliers, self.group, self.place) if s is not None]

    def fit_predict(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).labels

    def fit(self, x: np.ndarray) -> Clustering:
        """Run every step on `x`. Outliers are assigned and groups formed in the original space
        (cosine to centroids), not the reduced one."""
        reduced = self.reduce.fit_transform(x) if self.reduce is not None else x
        labels = np.asarray(self.cluster.fit_predict(reduced))
        was_outlier = labels == -1
        if self.outliers is not None:
            labels = self.outliers.assign(x, labels)
        coarse = self.group.group(x, labels) if self.group is not None else {k: k for k in set(labels.tolist())}
        if -1 in set(labels.tolist()):
            coarse[-1] = -1
        xy = self.place.place(x) if self.place is not None else None
        warnings = [w for w in (getattr(s, "warning_", None) for s in self.steps()) if w]
        return Clustering(labels, was_outlier, coarse, xy, warnings)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Clusters of new items with the fitted reduce and cluster steps."""
        return self.cluster.predict(self.reduce.transform(x) if self.reduce is not None else x)

    def diagnostics(self) -> dict:
        """What the fitted cluster step reports about itself (e.g. an SAE's validation figures)."""
        return dict(getattr(self.cluster, "diagnostics_", {}))


def density_pipeline(min_cluster_size: int, enable_dim_reduction: bool = True, assign_outliers: bool = True,
                     hierarchical: bool = True, place: bool = False, seed: int = 42) -> ClusterPipeline:
    """The arena's pipeline: UMAP, HDBSCAN, outliers to the nearest centroid, agglomerative
    grouping into coarse clusters, a 2-D map; each step on or off as the run config says."""
    return ClusterPipeline(
        reduce=UMAPReduction(seed=seed) if enable_dim_reduction else None,
        cluster=DensityClusters(min_cluster_size),
        outliers=NearestCentroid() if assign_outliers else None,
        group=AgglomerativeGroups() if hierarchical else None,
        place=MapPlacement(enable_dim_reduction, seed) if place else None,
    )
