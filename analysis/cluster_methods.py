"""The activation-clustering methods: each `make(method, k, ...)` is a `ClusterPipeline`
(analysis/clustering.py) whose cluster step is a scikit-learn style estimator with `fit_predict`
and `predict`, so a fitted one can assign new sentences; the `pca_` variants put a PCA in its
reduce step. Add a method to METHODS and `make`.

- gmm / pca_gmm: Gaussian mixtures (diagonal covariance on the raw vectors by default, full after PCA)
- spherical_kmeans: unit-norm centroids, cosine assignment (k-means++ seeding, best of n_init)
- pca_kmeans: PCA then Euclidean k-means
- agglomerative / pca_agglomerative: Ward linkage; it cannot assign new points, so the fitted
  clusters' centroids do (nearest centroid); above `max_points` it is fitted on a seeded subsample
- sae_topk: a top-k sparse autoencoder with k latents; a sentence's cluster is its strongest latent
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import AgglomerativeClustering, KMeans, kmeans_plusplus
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestCentroid

from analysis.clustering import ClusterPipeline

METHODS = ("gmm", "pca_gmm", "spherical_kmeans", "pca_kmeans", "agglomerative", "pca_agglomerative", "sae_topk")


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class SphericalKMeans(BaseEstimator, ClusterMixin):
    """k-means on the unit sphere: centroids are renormalised means, points go to the centroid of
    highest cosine similarity; the run with the highest total similarity of n_init wins."""

    def __init__(self, n_clusters: int = 8, n_init: int = 3, max_iter: int = 100, random_state: int = 0):
        self.n_clusters, self.n_init, self.max_iter, self.random_state = n_clusters, n_init, max_iter, random_state

    def fit_predict(self, x, y=None):
        x = _unit(np.asarray(x, dtype=np.float64))
        rng = np.random.default_rng(self.random_state)
        best = (-np.inf, None, None)
        for _ in range(self.n_init):
            centres, _ = kmeans_plusplus(x, self.n_clusters, random_state=int(rng.integers(2**31)))
            centres = _unit(centres)
            labels = np.full(len(x), -1)
            for _ in range(self.max_iter):
                new = (x @ centres.T).argmax(axis=1)
                if np.array_equal(new, labels):
                    break
                labels = new
                for j in range(self.n_clusters):
                    members = x[labels == j]
                    # an emptied cluster restarts at the point its centroid fits worst
                    centres[j] = members.sum(axis=0) if len(members) else x[(x @ centres.T).max(axis=1).argmin()]
                centres = _unit(centres)
            score = (x @ centres.T).max(axis=1).sum()
            if score > best[0]:
                best = (score, centres, labels)
        self.cluster_centers_, self.labels_ = best[1], best[2]
        return self.labels_

    def fit(self, x, y=None):
        self.fit_predict(x)
        return self

    def predict(self, x):
        return (_unit(np.asarray(x, dtype=np.float64)) @ self.cluster_centers_.T).argmax(axis=1)


class WardClusters(BaseEstimator, ClusterMixin):
    """Ward agglomerative clustering that can assign new points (nearest fitted centroid)."""

    def __init__(self, n_clusters: int = 8, max_points: int = 10_000, random_state: int = 0):
        self.n_clusters, self.max_points, self.random_state = n_clusters, max_points, random_state

    def fit_predict(self, x, y=None):
        x = np.asarray(x)
        fit_on = np.arange(len(x))
        if len(x) > self.max_points:
            fit_on = np.sort(np.random.default_rng(self.random_state).choice(len(x), self.max_points, replace=False))
        labels = AgglomerativeClustering(n_clusters=self.n_clusters, linkage="ward").fit_predict(x[fit_on])
        self.centroids_ = NearestCentroid().fit(x[fit_on], labels)
        self.labels_ = self.centroids_.predict(x)
        self.labels_[fit_on] = labels
        return self.labels_

    def fit(self, x, y=None):
        self.fit_predict(x)
        return self

    def predict(self, x):
        return self.centroids_.predict(np.asarray(x))


class TopKSAE(BaseEstimator, ClusterMixin):
    """A top-k sparse autoencoder (torch) whose `n_clusters` latents are the clusters.

    Encoder ReLU(W_e (x - b_d) + b_e), of which only the `topk` largest stay; decoder rows of
    unit norm, started at k-means++ seeds (centred). Trained with Adam on MSE; a seeded
    `validation_fraction` is held out for the reported fraction of variance unexplained and the
    dead-latent count (latents never among the top k on validation data).
    """

    def __init__(self, n_clusters: int = 8, topk: int = 3, epochs: int = 100, lr: float = 1e-3,
                 batch_size: int = 256, validation_fraction: float = 0.1, random_state: int = 0):
        self.n_clusters, self.topk, self.epochs, self.lr = n_clusters, topk, epochs, lr
        self.batch_size, self.validation_fraction, self.random_state = batch_size, validation_fraction, random_state

    def _encode(self, x):
        import torch

        pre = torch.relu((x - self.b_dec_) @ self.w_enc_.T + self.b_enc_)
        top = pre.topk(min(self.topk, self.n_clusters), dim=1)
        return pre, torch.zeros_like(pre).scatter(1, top.indices, top.values)

    def fit_predict(self, x, y=None):
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        gen = torch.Generator().manual_seed(self.random_state)
        data = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        order = torch.randperm(len(data), generator=gen)
        n_val = int(len(data) * self.validation_fraction) if len(data) >= 20 else 0
        train, val = data[order[n_val:]].to(device), data[order[:n_val]].to(device)
        # decoder rows start at k-means++ seeds: spread over the data, so no latent starts dead
        seeds, _ = kmeans_plusplus(np.asarray(x, dtype=np.float32)[order[n_val:].numpy()], self.n_clusters,
                                   random_state=self.random_state)
        start = torch.as_tensor(seeds, device=device) - train.mean(dim=0)
        w_dec = torch.nn.Parameter(start / start.norm(dim=1, keepdim=True).clamp_min(1e-12))
        self.w_enc_ = torch.nn.Parameter(w_dec.detach().clone())
        self.b_enc_ = torch.nn.Parameter(torch.zeros(self.n_clusters, device=device))
        self.b_dec_ = torch.nn.Parameter(train.mean(dim=0))
        self.w_dec_ = w_dec
        opt = torch.optim.Adam([self.w_enc_, self.b_enc_, self.b_dec_, self.w_dec_], lr=self.lr)
        for _ in range(self.epochs):
            for idx in torch.randperm(len(train), generator=gen).split(self.batch_size):
                batch = train[idx.to(device)]
                _, code = self._encode(batch)
                loss = ((code @ self.w_dec_ + self.b_dec_ - batch) ** 2).sum(dim=1).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    self.w_dec_ /= self.w_dec_.norm(dim=1, keepdim=True).clamp_min(1e-12)
        for p in (self.w_enc_, self.b_enc_, self.b_dec_, self.w_dec_):
            p.requires_grad_(False)
        self.diagnostics_ = self._diagnostics(val if n_val else train)
        for name in ("w_enc_", "b_enc_", "b_dec_", "w_dec_"):  # kept on the CPU so a saved model loads anywhere
            setattr(self, name, getattr(self, name).detach().cpu())
        self.labels_ = self.predict(x)
        return self.labels_

    def _diagnostics(self, val) -> dict:
        _, code = self._encode(val)
        recon = code @ self.w_dec_ + self.b_dec_
        fvu = float(((val - recon) ** 2).sum() / ((val - val.mean(dim=0)) ** 2).sum().clamp_min(1e-12))
        active = int((code > 0).any(dim=0).sum())
        return {"sae_validation_fvu": fvu, "sae_dead_latents": self.n_clusters - active,
                "sae_validation_rows": len(val)}

    def fit(self, x, y=None):
        self.fit_predict(x)
        return self

    def predict(self, x):
        import torch

        with torch.no_grad():
            pre, _ = self._encode(torch.as_tensor(np.asarray(x), dtype=torch.float32))
        return pre.argmax(dim=1).numpy()


# cluster step of each method, by its name without "pca_"; o holds make()'s keyword options
CLUSTER_STEPS = {
    "gmm": lambda k, seed, o: GaussianMixture(k, covariance_type=o["covariance"], reg_covar=1e-4, n_init=1,
                                              random_state=seed),
    "kmeans": lambda k, seed, o: KMeans(k, n_init=3, random_state=seed),
    "spherical_kmeans": lambda k, seed, o: SphericalKMeans(k, random_state=seed),
    "agglomerative": lambda k, seed, o: WardClusters(k, max_points=o["agglomerative_max_points"], random_state=seed),
    "sae_topk": lambda k, seed, o: TopKSAE(k, topk=o["sae_topk"], epochs=o["sae_epochs"],
                                           validation_fraction=o["sae_validation_fraction"], random_state=seed),
}


def make(method: str, k: int, seed: int, *, n_samples: int, n_features: int, pca_components: int = 100,
         gmm_covariance: str = "diag", agglomerative_max_points: int = 10_000, sae_topk: int = 3,
         sae_epochs: int = 100, sae_validation_fraction: float = 0.1) -> ClusterPipeline:
    """An unfitted pipeline for `method` with `k` clusters (a GMM after PCA has full covariance)."""
    if method not in METHODS:
        raise ValueError(f"unknown clustering method {method!r}; valid: {', '.join(METHODS)}")
    options = {"covariance": "full" if method == "pca_gmm" else gmm_covariance,
               "agglomerative_max_points": agglomerative_max_points, "sae_topk": sae_topk,
               "sae_epochs": sae_epochs, "sae_validation_fraction": sae_validation_fraction}
    reduce = None
    if method.startswith("pca_"):
        reduce = PCA(max(1, min(pca_components, n_samples - 1, n_features)), random_state=seed)
    return ClusterPipeline(cluster=CLUSTER_STEPS[method.removeprefix("pca_")](k, seed, options), reduce=reduce)
