"""Words instead of an LLM: what makes a cluster (class-based TF-IDF) and what tells two corpora
apart (log-odds ratios with an informative Dirichlet prior). No model, seconds on a CPU, and the
same meaning whichever LLM (if any) names the clusters.

* `cluster_keywords`: BERTopic's c-TF-IDF. The texts of each cluster are one document; a term's
  weight in cluster c is tf(t, c) * log(1 + A / f(t)), tf normalised to sum to one per cluster,
  A the mean number of terms per cluster and f(t) the term's count over all clusters. 1-2-grams,
  scikit-learn's English stop words (tests/test_keywords.py compares with BERTopic's
  ClassTfidfTransformer).
* `distinguishing_terms`: Monroe, Colaresi and Quinn (2008), "Fightin' Words", section 3.5: with
  counts y_a, y_b (totals n_a, n_b) and a prior a_t (total a_0),
      delta_t = log((y_at + a_t) / (n_a + a_0 - y_at - a_t)) - log((y_bt + a_t) / (n_b + a_0 - y_bt - a_t))
      var_t  ~ 1 / (y_at + a_t) + 1 / (y_bt + a_t),   z_t = delta_t / sqrt(var_t)
  The prior is the pooled counts of both corpora (times `prior_scale`): as in Monroe et al.'s use
  of the whole corpus as background, it shrinks rare words towards no difference without
  pretending to know the language at large.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer

NGRAMS = (1, 2)
TOP_TERMS = 10


def _vectorizer(**kw) -> CountVectorizer:
    return CountVectorizer(ngram_range=NGRAMS, stop_words="english", **kw)


def cluster_keywords(texts, labels, top_n: int = TOP_TERMS) -> dict:
    """{cluster label: its top_n terms by c-TF-IDF, best first} (an empty list where a cluster has
    no term outside the stop words)."""
    frame = pd.DataFrame({"text": pd.Series(texts, dtype=object).fillna("").astype(str).to_numpy(),
                          "label": np.asarray(labels)})
    docs = frame.groupby("label", sort=True).text.agg(" ".join)
    try:
        vectorizer = _vectorizer()
        counts = vectorizer.fit_transform(docs.to_numpy()).toarray().astype(float)
    except ValueError:  # no term at all outside the stop words
        return {label: [] for label in docs.index}
    terms = vectorizer.get_feature_names_out()
    per_cluster = counts.sum(axis=1, keepdims=True)
    tf = np.divide(counts, per_cluster, out=np.zeros_like(counts), where=per_cluster > 0)
    weights = tf * np.log(1 + per_cluster.mean() / counts.sum(axis=0))
    out = {}
    for label, row in zip(docs.index, weights):
        best = np.argsort(-row, kind="stable")[:top_n]
        out[label] = [str(terms[j]) for j in best if row[j] > 0]
    return out


def distinguishing_terms(texts_a, texts_b, prior_scale: float = 1.0, min_count: int = 2,
                         examples: int = 3) -> pd.DataFrame:
    """One row per term seen at least `min_count` times in A and B together: count_a, count_b,
    log_odds (delta, A over B), se, z, and `examples`: indices into texts_a + texts_b of up to
    `examples` texts of the side the term leans to that contain it; sorted by z (A's terms
    first, B's last)."""
    texts_a, texts_b = [str(t) for t in texts_a], [str(t) for t in texts_b]
    vectorizer = _vectorizer()
    try:  # counted per text, so no bigram spans two texts
        counts = vectorizer.fit_transform(texts_a + texts_b)
    except ValueError:
        return pd.DataFrame(columns=["term", "count_a", "count_b", "log_odds", "se", "z"])
    y_a = np.asarray(counts[:len(texts_a)].sum(axis=0), dtype=float).ravel()
    y_b = np.asarray(counts[len(texts_a):].sum(axis=0), dtype=float).ravel()
    pooled = y_a + y_b
    prior, prior_total = prior_scale * pooled, prior_scale * pooled.sum()
    n_a, n_b = y_a.sum(), y_b.sum()
    delta = (np.log((y_a + prior) / (n_a + prior_total - y_a - prior))
             - np.log((y_b + prior) / (n_b + prior_total - y_b - prior)))
    se = np.sqrt(1 / (y_a + prior) + 1 / (y_b + prior))
    frame = pd.DataFrame({"term": vectorizer.get_feature_names_out(), "count_a": y_a.astype(int),
                          "count_b": y_b.astype(int), "log_odds": delta, "se": se, "z": delta / se})
    frame = frame[pooled >= min_count].sort_values("z", ascending=False, kind="stable")
    by_term = counts.tocsc()
    side_of = np.arange(counts.shape[0]) < len(texts_a)  # True: a text of A
    frame["examples"] = [[int(i) for i in by_term[:, t].indices if side_of[i] == (z > 0)][:examples]
                         for t, z in zip(frame.index, frame.z)]
    return frame.reset_index(drop=True)


def uninformative(labels) -> list[bool]:
    """Which labels name nothing: empty, no word of two letters or more (SmolLM2 answers "A" or
    "A.1.1.1.1.1"), or the same as another cluster's at that level."""
    texts = [("" if label is None else str(label)).strip().casefold() for label in labels]
    repeats = pd.Series(texts).duplicated(keep=False).to_numpy()
    return [not re.search(r"[^\W\d_]{2,}", t) or bool(r) for t, r in zip(texts, repeats)]


def shown_names(labels, keywords, words: int = 4) -> tuple[list[str], list[str]]:
    """(the name to show, who named it: "namer" or "keywords") per cluster: the LLM's label where
    it names something, else the cluster's first `words` keywords."""
    names, named_by = [], []
    for label, terms, bad in zip(labels, keywords, uninformative(labels)):
        if bad and len(terms):
            names.append(", ".join(terms[:words]))
            named_by.append("keywords")
        else:
            names.append("" if label is None else str(label))
            named_by.append("namer")
    return names, named_by
