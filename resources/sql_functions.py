"""Scalar functions the SQL models need for p-values and intervals, registered on every
connection (writers and readers): vectorised over Arrow arrays, NULL in -> NULL out."""

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


def register_udfs(con: duckdb.DuckDBPyConnection) -> None:
    for name, (fn, arity, _) in UDFS.items():
        con.create_function(
            name, _vectorised(fn, arity), [duckdb.sqltypes.DOUBLE] * arity, duckdb.sqltypes.DOUBLE,
            type="arrow", null_handling="special", side_effects=False,
        )
