"""How fine the behaviour clusters are, held to a published clustering: LMM-Vibes' own 201
GPT-extracted properties with its fine clusters (data/samples/anchors/lmm_vibes_property_clusters.jsonl,
from its repository's tests/outputs/property_with_clusters.jsonl). The arena's clustering at its
default run config (min_cluster_size chosen from the number of properties) is compared with the
same clustering at the old fixed size 15, on the properties LMM-Vibes put in a cluster."""

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from analysis.clustering import density_pipeline, size_for
from assets.arena.config import ClustersConfig
from resources.datasets import SAMPLES_DIR
from resources.embeddings import Embeddings


def test_the_default_size_follows_the_data_and_agrees_better_with_the_published_clusters(settings_file):
    published = pd.read_json(SAMPLES_DIR / "anchors/lmm_vibes_property_clusters.jsonl", lines=True)
    vectors = Embeddings(settings_file=str(settings_file)).encode(published.property_description.tolist())
    theirs = published.fine_cluster_id.to_numpy()
    clustered = theirs != -1  # their outliers are no cluster to agree with
    config = ClustersConfig()

    def agreement(min_cluster_size: int) -> tuple[int, float]:
        labels = density_pipeline(min_cluster_size, config.enable_dim_reduction, config.assign_outliers,
                                  config.hierarchical, place=False, seed=config.seed).fit(vectors).labels
        return len(set(labels) - {-1}), adjusted_rand_score(theirs[clustered], labels[clustered])

    assert config.min_cluster_size == 0 and size_for(len(published)) == 5
    clusters, ari = agreement(config.min_cluster_size)
    old_clusters, old_ari = agreement(15)
    their_clusters = len(set(theirs) - {-1})
    assert old_clusters <= their_clusters / 3  # the fixed size merges most of their clusters
    assert their_clusters / 2 <= clusters <= 2 * their_clusters
    assert ari > old_ari + 0.1, (ari, old_ari)
    assert np.isclose(size_for(2000), 15) and size_for(3) == 2
