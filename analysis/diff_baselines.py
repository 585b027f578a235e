"""What an LLM's description of A vs B has to beat: classifiers that need no LLM.

Both are fitted on the `seen` rows only (the rows the describer may see) and predict every row,
so their `unseen` metrics compare with the LLM classifier's on the same rows.

* `length`: logistic regression on log(1 + characters). A description that wins only by length
  is a length confound.
* `lexical`: logistic regression on TF-IDF of word 1-2-grams (sublinear tf, terms in at least two
  seen rows, stop words kept: function words carry style). What words alone can tell.
"""

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer


def _log_length(texts) -> np.ndarray:
    return np.log1p(np.array([len(t) for t in texts], dtype=float)).reshape(-1, 1)


MODELS = {
    "length_baseline": lambda: make_pipeline(FunctionTransformer(_log_length), LogisticRegression()),
    "lexical_baseline": lambda: make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2), LogisticRegression(max_iter=1000)),
}


COLUMNS = ["stage", "iteration", "row_id", "p_a", "p_a_direct", "p_a_swapped", "abstained", "input_truncated"]


def baseline_predictions(rows: pd.DataFrame) -> pd.DataFrame:
    """P(A) of every row under each baseline, in diff.predictions' columns. `rows`: diff.rows."""
    seen = rows[rows.split == "seen"]
    texts, seen_texts = rows.text.astype(str).tolist(), seen.text.astype(str).tolist()
    frames = []
    for stage, build in MODELS.items():
        try:
            model = build().fit(seen_texts, (seen.side == "A").astype(int))
        except ValueError:  # e.g. no word in two seen rows: the baseline cannot be fitted, so it is absent
            continue
        p = model.predict_proba(texts)[:, list(model.classes_).index(1)]
        frames.append(pd.DataFrame({"stage": stage, "iteration": 0, "row_id": rows.row_id, "p_a": p,
                                    "p_a_direct": p, "p_a_swapped": p, "abstained": False,
                                    "input_truncated": False}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
