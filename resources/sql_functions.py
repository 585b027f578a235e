"""Scalar functions the SQL models need for p-values, intervals and multiple-testing corrections,
registered on every connection (writers and readers): vectorised over Arrow arrays, NULL in ->
NULL out. `holm(p_value, list(p_value) OVER family)` is the one Holm rule every SQL model uses,
`outcome_of(winner, side)` the one mapping of a battle's winner to a side's win, loss or tie."""

import duckdb
import numpy as np
import pyarrow as pa
from scipy import stats


def _vectorised(fn, arity: int):
    """An Arrow UDF of `fn` over float arrays; NULL or NaN in any argument (or out) -> NULL.
    DuckDB reads the argument count from the signature, hence one wrapper per arity."""
    def call(*arrays: pa.Array) -> pa.Array:
        out = fn(*(a.to_numpy(zero_copy_only=False).astype(float) for a in arrays))
        mask = np.isnan(out)
        for a in arrays:
            mask |= a.is_null().to_numpy(zero_copy_only=False)
        return pa.array(out, mask=mask)

    return {1: lambda a: call(a), 2: lambda a, b: call(a, b), 3: lambda a, b, c: call(a, b, c),
            4: lambda a, b, c, d: call(a, b, c, d)}[arity]


def _two_proportion_z(k1: np.ndarray, n1: np.ndarray, k2: np.ndarray, n2: np.ndarray) -> np.ndarray:
    """The pooled two-proportion z statistic (statsmodels' proportions_ztest); NaN where undefined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (k1 + k2) / (n1 + n2)
        z = (k1 / n1 - k2 / n2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return np.where(np.isfinite(z), z, np.nan)


def _wilson(sign: float):
    """Wilson score interval bound for k successes in n trials (95%)."""
    z = stats.norm.ppf(0.975)

    def bound(k: np.ndarray, n: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            p = k / n
            centre = (p + z * z / (2 * n)) / (1 + z * z / n)
            half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
            return np.where(n > 0, centre + sign * half, np.nan)

    return bound


UDFS = {
    # name: (function, argument count, what it is)
    "norm_sf": (stats.norm.sf, 1, "P(Z > z) for a standard normal Z"),
    "norm_cdf": (stats.norm.cdf, 1, "P(Z <= z) for a standard normal Z"),
    "norm_ppf": (stats.norm.ppf, 1, "standard normal quantile"),
    "t_sf": (stats.t.sf, 2, "P(T > t) for Student's t with df degrees of freedom"),
    "t_ppf": (stats.t.ppf, 2, "Student's t quantile with df degrees of freedom"),
    "chi2_sf": (stats.chi2.sf, 2, "P(X > x) for chi-squared with df degrees of freedom"),
    "binom_sf": (stats.binom.sf, 3, "P(X > k) for X ~ Binomial(n, p): binom_sf(k, n, p)"),
    "wilson_low": (_wilson(-1.0), 2, "lower end of the Wilson 95% interval for k of n"),
    "wilson_high": (_wilson(+1.0), 2, "upper end of the Wilson 95% interval for k of n"),
    "two_proportion_z": (_two_proportion_z, 4,
                         "pooled two-proportion z of k1 of n1 against k2 of n2 (NULL where undefined)"),
}
# registered beside them with their own signatures
LIST_UDFS = {"holm": "Holm-adjusted p of p_value within a family: holm(p_value, list(p_value) OVER (PARTITION BY ...))",
             "outcome_of": "a side's outcome, win, loss or tie: outcome_of(winner, 'A')"}


def holm_adjusted(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values of one family (statsmodels' multipletests(method="holm")):
    sorted ascending, (m - i) * p_(i) for i = 0..m-1, running maximum, capped at 1."""
    order = np.argsort(p_values, kind="stable")
    m = len(p_values)
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p_values[order]))
    out = np.empty(m)
    out[order] = stepped
    return out


def _holm(p: pa.Array, family: pa.Array) -> pa.Array:
    """Row i's Holm-adjusted p among the non-null p-values of its family (a list); equal p-values
    get equal adjusted ones, so the value alone says which it is. Families repeat row after row
    (a window's list), so each distinct family is adjusted once."""
    values = p.to_numpy(zero_copy_only=False).astype(float)
    done: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    out = np.full(len(values), np.nan)
    for i, members in enumerate(family.to_pylist()):
        if np.isnan(values[i]) or members is None:
            continue
        key = tuple(sorted(x for x in members if x is not None and x == x))
        if key not in done:
            ps = np.array(key, dtype=float)
            done[key] = (ps, holm_adjusted(ps))
        ps, adjusted = done[key]
        at = np.searchsorted(ps, values[i])
        out[i] = adjusted[at] if at < len(ps) and ps[at] == values[i] else np.nan
    return pa.array(out, mask=np.isnan(out))


def _outcome_of(winner: pa.Array, side: pa.Array) -> pa.Array:
    """A side's outcome in its battle: `win`, `loss` or `tie` (any winner but model_a or model_b is
    no decision), from the battle's winner and the side, A or B."""
    import pyarrow.compute as pc

    won = pc.or_(pc.and_(pc.equal(winner, "model_a"), pc.equal(side, "A")),
                 pc.and_(pc.equal(winner, "model_b"), pc.equal(side, "B")))
    decided = pc.is_in(winner, value_set=pa.array(["model_a", "model_b"]))
    out = pc.if_else(won, "win", pc.if_else(decided, "loss", "tie"))
    return pc.if_else(pc.or_(pc.is_null(winner), pc.is_null(side)), pa.scalar(None, pa.string()), out)


def register_udfs(con: duckdb.DuckDBPyConnection) -> None:
    for name, (fn, arity, _) in UDFS.items():
        con.create_function(
            name, _vectorised(fn, arity), [duckdb.sqltypes.DOUBLE] * arity, duckdb.sqltypes.DOUBLE,
            type="arrow", null_handling="special", side_effects=False,
        )
    con.create_function("holm", _holm, [duckdb.sqltypes.DOUBLE, duckdb.list_type(duckdb.sqltypes.DOUBLE)],
                        duckdb.sqltypes.DOUBLE, type="arrow", null_handling="special", side_effects=False)
    con.create_function("outcome_of", _outcome_of, [duckdb.sqltypes.VARCHAR, duckdb.sqltypes.VARCHAR],
                        duckdb.sqltypes.VARCHAR, type="arrow", null_handling="special", side_effects=False)
