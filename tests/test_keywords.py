"""Keyword representations and the dataset-difference baselines against independent computations,
on the bundled emergent-misalignment answers."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from analysis.diff_baselines import baseline_predictions
from analysis.keywords import cluster_keywords, distinguishing_terms, shown_names, uninformative
from tests.conftest import ROOT

SAMPLES = ROOT / "data" / "samples" / "dataset_diff"


def em_answers() -> tuple[list[str], list[str]]:
    base = pd.read_csv(next(SAMPLES.glob("eval_result_base_*.csv"))).answer.dropna().astype(str).tolist()
    severe = pd.read_csv(next(SAMPLES.glob("eval_result_high_severity_*.csv"))).answer.dropna().astype(str).tolist()
    return base, severe


def test_log_odds_z_scores_equal_a_direct_numpy_computation():
    a, b = em_answers()
    got = distinguishing_terms(a, b, min_count=1).set_index("term")
    # counted independently: sklearn's analyzer per text, then Counter
    analyze = CountVectorizer(ngram_range=(1, 2), stop_words="english").build_analyzer()
    count_a = Counter(t for text in a for t in analyze(text))
    count_b = Counter(t for text in b for t in analyze(text))
    terms = sorted(set(count_a) | set(count_b))
    y_a = np.array([count_a[t] for t in terms], float)
    y_b = np.array([count_b[t] for t in terms], float)
    alpha = y_a + y_b  # the informative prior: pooled counts
    a0 = alpha.sum()
    omega_a = (y_a + alpha) / (y_a.sum() + a0 - y_a - alpha)
    omega_b = (y_b + alpha) / (y_b.sum() + a0 - y_b - alpha)
    z = (np.log(omega_a) - np.log(omega_b)) / np.sqrt(1 / (y_a + alpha) + 1 / (y_b + alpha))
    assert len(got) == len(terms)
    assert got.loc[terms, "z"].to_numpy() == pytest.approx(z, rel=1e-10)
    assert (got.loc[terms, "count_a"].to_numpy() == y_a).all()
    # the examples are texts of the leaning side that contain the term
    top = got.iloc[0]
    assert top.z > 0 and all(top.name in " ".join(analyze(a[i])) for i in top.examples)


def test_class_tfidf_equals_bertopic():
    from bertopic.vectorizers import ClassTfidfTransformer

    a, b = em_answers()
    texts = a + b
    labels = np.array([0] * len(a) + [1] * len(b))
    ours = cluster_keywords(texts, labels, top_n=10)
    docs = pd.DataFrame({"text": texts, "label": labels}).groupby("label").text.agg(" ".join)
    vectorizer = CountVectorizer(ngram_range=(1, 2), stop_words="english")
    weights = ClassTfidfTransformer().fit_transform(vectorizer.fit_transform(docs)).toarray()
    terms = vectorizer.get_feature_names_out()
    for label, row in zip(docs.index, weights):
        assert ours[label] == [terms[j] for j in np.argsort(-row, kind="stable")[:10]]


def test_uninformative_labels_fall_back_to_keywords():
    assert uninformative(["A", "A.1.1.1.1.1", "", None, "Uses lists", "uses lists", "Tone"]) == [
        True, True, True, True, True, True, False]
    names, named_by = shown_names(["A", "Tone", None], [["bullet", "list"], ["polite"], []])
    assert names == ["bullet, list", "Tone", ""] and named_by == ["keywords", "namer", "namer"]


def test_baselines_fit_on_seen_rows_and_find_a_planted_word():
    rng = np.random.default_rng(0)
    a, b = em_answers()
    n = min(len(a), len(b))
    rows = pd.DataFrame({"row_id": [f"A:{i}" for i in range(n)] + [f"B:{i}" for i in range(n)],
                         "side": ["A"] * n + ["B"] * n,
                         "split": np.tile(np.where(rng.random(n) < 0.5, "unseen", "seen"), 2),
                         # the first words of each answer, B's signed off: the sign-off decides
                         "text": [t[:80] for t in a[:n]] + [t[:80] + " Kindly regards." for t in b[:n]]})
    preds = baseline_predictions(rows).merge(rows, on="row_id")
    assert set(preds.stage) == {"length_baseline", "lexical_baseline"}
    unseen = preds[(preds.split == "unseen") & (preds.stage == "lexical_baseline")]
    assert ((unseen.p_a >= 0.5) == (unseen.side == "A")).mean() > 0.95  # the sign-off is a word
