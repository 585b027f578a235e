"""The SQL functions every model uses, against scipy and statsmodels on random inputs: one rule each,
in one place (resources/sql_functions.py)."""

import duckdb
import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from resources.sql_functions import register_udfs


def connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    register_udfs(con)
    return con


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.one_of(st.none(), st.floats(0, 1))), min_size=1, max_size=40))
def test_holm_equals_statsmodels_per_family_ties_and_nulls_included(rows):
    frame = pd.DataFrame(rows, columns=["family", "p"])  # noqa: F841 (read by the query)
    out = connection().execute("SELECT family, p, holm(p, list(p) OVER (PARTITION BY family)) AS h FROM frame").df()
    for _, one in out.groupby("family"):
        known = one.p.notna()
        assert one.h[~known].isna().all()
        if known.any():
            np.testing.assert_allclose(one.h[known], multipletests(one.p[known], method="holm")[1], rtol=1e-12)


def test_intervals_and_tests_equal_their_references():
    rng = np.random.default_rng(1)
    k1, k2 = rng.integers(0, 30, 50), rng.integers(0, 30, 50)
    n1, n2 = k1 + rng.integers(1, 30, 50), k2 + rng.integers(1, 30, 50)
    frame = pd.DataFrame({"k1": k1, "n1": n1, "k2": k2, "n2": n2})  # noqa: F841
    out = connection().execute("SELECT wilson_low(k1, n1) AS lo, wilson_high(k1, n1) AS hi, "
                               "two_proportion_z(k1, n1, k2, n2) AS z, norm_sf(1.5) AS sf FROM frame").df()
    lo, hi = proportion_confint(k1, n1, method="wilson")
    np.testing.assert_allclose(out.lo, lo, rtol=1e-9, atol=1e-15)  # a zero rounds to 1e-17 either way
    np.testing.assert_allclose(out.hi, hi, rtol=1e-9, atol=1e-15)
    z = [proportions_ztest([a, b], [m, n])[0] if 0 < a + b < m + n else np.nan for a, m, b, n in zip(k1, n1, k2, n2)]
    np.testing.assert_allclose(out.z.astype(float), z, rtol=1e-9)
    assert abs(out.sf[0] - stats.norm.sf(1.5)) < 1e-15


def test_outcome_of_maps_every_winner_and_side():
    cases = {("model_a", "A"): "win", ("model_a", "B"): "loss", ("model_b", "A"): "loss", ("model_b", "B"): "win",
             ("tie", "A"): "tie", ("tie (bothbad)", "B"): "tie", (None, "A"): None, ("model_a", None): None}
    frame = pd.DataFrame([(w, s) for w, s in cases], columns=["winner", "side"])  # noqa: F841
    out = connection().execute("SELECT winner, side, outcome_of(winner, side) AS o FROM frame").fetchall()
    assert {(w, s): o for w, s, o in out} == cases


def test_each_rule_is_written_once_in_the_sql():
    """Holm and the winner -> outcome mapping live in resources/sql_functions.py; no SQL model writes
    its own (the window that was copied in three files, the CASE that was copied in three)."""
    import re

    from tests.conftest import ROOT

    for path in sorted((ROOT / "sql").rglob("*.sql")):
        text = path.read_text()
        assert "p_rank + 1" not in text and not re.search(r"THEN 'win'", text), path
        for line in text.splitlines():
            if re.search(r"\bAS p_holm\b", line):
                assert "holm(" in line, (path, line)
