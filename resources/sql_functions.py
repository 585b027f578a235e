"""Scalar functions the SQL models need for p-values and intervals, registered on every
connection (writers and readers): vectorised over Arrow arrays, NULL in -> NULL out."""

import duckdb
import numpy as np
import pyarrow as pa
from scipy import stats


def _unary(fn):
    def udf(x: pa.Array) -> pa.Array:
        values = x.to_numpy(zero_copy_only=False).astype(float)
        return pa.array(fn(values), mask=np.isnan(values) | _nulls(x))

    return udf


def _binary(fn):
    def udf(x: pa.Array, df: pa.Array) -> pa.Array:
        a = x.to_numpy(zero_copy_only=False).astype(float)
        b = df.to_numpy(zero_copy_only=False).astype(float)
        out = fn(a, b)
        return pa.array(out, mask=np.isnan(out) | _nulls(x) | _nulls(df))

    return udf


def _nulls(arr: pa.Array) -> np.ndarray:
    return arr.is_null().to_numpy(zero_copy_only=False)


def _ternary(fn):
    def udf(x: pa.Array, y: pa.Array, z: pa.Array) -> pa.Array:
        args = [a.to_numpy(zero_copy_only=False).astype(float) for a in (x, y, z)]
        out = fn(*args)
        return pa.array(out, mask=np.isnan(out) | _nulls(x) | _nulls(y) | _nulls(z))

    return udf


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
    "norm_sf": (_unary(stats.norm.sf), 1, "P(Z > z) for a standard normal Z"),
    "norm_cdf": (_unary(stats.norm.cdf), 1, "P(Z <= z) for a standard normal Z"),
    "norm_ppf": (_unary(stats.norm.ppf), 1, "standard normal quantile"),
    "t_sf": (_binary(stats.t.sf), 2, "P(T > t) for Student's t with df degrees of freedom"),
    "t_ppf": (_binary(stats.t.ppf), 2, "Student's t quantile with df degrees of freedom"),
    "chi2_sf": (_binary(stats.chi2.sf), 2, "P(X > x) for chi-squared with df degrees of freedom"),
    "binom_sf": (_ternary(stats.binom.sf), 3, "P(X > k) for X ~ Binomial(n, p): binom_sf(k, n, p)"),
    "wilson_low": (_binary(_wilson(-1.0)), 2, "lower end of the Wilson 95% interval for k of n"),
    "wilson_high": (_binary(_wilson(+1.0)), 2, "upper end of the Wilson 95% interval for k of n"),
}


def register_udfs(con: duckdb.DuckDBPyConnection) -> None:
    for name, (fn, arity, _) in UDFS.items():
        con.create_function(
            name, fn, [duckdb.sqltypes.DOUBLE] * arity, duckdb.sqltypes.DOUBLE,
            type="arrow", null_handling="special", side_effects=False,
        )
