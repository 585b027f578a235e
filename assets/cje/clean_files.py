"""cje-eval's JSONL files read whole by DuckDB, where every row passes the field rules of fields.py
written as SQL predicates: at 1M logged rows and 4M fresh draws this takes seconds where the
row-by-row rules take a minute (bench/cje_scale.py).

Where any row breaks a rule, or DuckDB cannot parse a line, `stage` returns None and logged_data.py
runs the row-by-row rules, which refuse the row naming its file and line (or accept it: a few
legal but unusual rows also go that way, e.g. a non-text prompt id, a draw_idx of 1.0, a null in
token_logprobs, a text over MAX_TEXT_CHARS). Both ways give the same tables
(tests/cje/test_clean_files.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from assets.cje.fields import SCHEMAS
from resources.datasets import MAX_TEXT_CHARS, DatasetError

NUMBER = "('BIGINT', 'UBIGINT', 'DOUBLE')"
PLAIN_NAME = re.compile(r"^[^\"'\\]+$")  # a policy name usable in a JSON path inside SQL as written


def _number_or_null(field: str) -> str:
    """Absent, null, or a JSON number (NaN and infinities are numbers to DuckDB and to Python's json)."""
    return f"({field} IS NULL OR json_type({field}) IN {NUMBER})"


def _double(field: str) -> str:
    """The number as a DOUBLE; absent, null and NaN as NULL (as the row-by-row path stores them)."""
    return f"CASE WHEN json_type({field}) IN {NUMBER} AND NOT isnan({field}::DOUBLE) THEN {field}::DOUBLE END"


def _label_ok(field: str) -> str:
    return f"({_number_or_null(field)} AND ({field} IS NULL OR isnan({field}::DOUBLE) OR {field}::DOUBLE BETWEEN 0 AND 1))"


def _finite(field: str) -> str:
    return f"(json_type({field}) IN {NUMBER} AND isfinite({field}::DOUBLE))"


# Each line is read into JSON-typed columns: DuckDB refuses a line that is not an object or repeats
# a key, and a column is NULL where its key is absent or null (the row-by-row rules treat the two
# alike, but for a probe's oracle_label, which goes row by row when NULL).
LOGGED_COLUMNS = {k: "JSON" for k in ("prompt_id", "prompt", "response", "base_policy_logprob",
                                      "target_policy_logprobs", "judge_score", "oracle_label", "metadata")}
DRAW_COLUMNS = {k: "JSON" for k in ("prompt_id", "prompt", "response", "draw_idx", "judge_score", "oracle_label",
                                    "metadata")}
# metadata.token_logprobs: absent or null, or a list of numbers (a null in it goes row by row)
TOKENS_OK = (f"(tokens IS NULL OR (json_type(tokens) = 'ARRAY' AND "
             f"list_bool_and([json_type(e) IN {NUMBER} for e in json_extract(tokens, '$[*]')]) IS NOT false))")
TOKENS = "CASE WHEN json_type(tokens) = 'ARRAY' THEN tokens::DOUBLE[] END"

LOGGED = f"""
CREATE TABLE logged AS
WITH named AS (
    SELECT rowid AS line, prompt_id AS top_id, metadata, prompt, response, base_policy_logprob AS base,
           target_policy_logprobs AS targets, judge_score AS judge, oracle_label AS oracle,
           json_extract(metadata, '$.prompt_id') AS meta_id, json_extract(metadata, '$.token_logprobs') AS tokens
    FROM raw_logged
)
SELECT
    line,
    CASE WHEN json_type(top_id) = 'VARCHAR' AND (top_id->>'$') <> '' THEN (top_id->>'$') ELSE (meta_id->>'$') END AS prompt_id,
    (prompt->>'$') AS prompt, (response->>'$') AS response, {_double('base')} AS base_logprob, targets,
    judge::DOUBLE AS judge_score, {_double('oracle')} AS oracle_label, {TOKENS} AS token_logprobs,
    base IS NULL AS base_null,  -- legal where the key is there (null), refused where it is absent
    coalesce(json_type(prompt) = 'VARCHAR' AND json_type(response) = 'VARCHAR'
    AND strlen(prompt->>'$') + strlen(response->>'$') <= {MAX_TEXT_CHARS}
    AND (base IS NULL OR json_type(base) IN {NUMBER}) AND {_finite('judge')} AND {_label_ok('oracle')}
    AND (metadata IS NULL OR json_type(metadata) = 'OBJECT')
    AND (top_id IS NULL OR json_type(top_id) = 'VARCHAR')
    AND CASE WHEN json_type(top_id) = 'VARCHAR' AND (top_id->>'$') <> '' THEN true
             ELSE json_type(meta_id) = 'VARCHAR' AND (meta_id->>'$') <> '' END
    AND (targets IS NULL OR json_type(targets) = 'OBJECT')
    AND {TOKENS_OK}, false) AS clean
FROM named
"""

DRAWS = f"""
CREATE TABLE draws AS
WITH named AS (
    SELECT r.rowid AS line, f.rank AS file_rank, f.policy, f.source, r.prompt_id AS pid, r.prompt, r.response,
           r.draw_idx AS draw, r.judge_score AS judge, r.oracle_label AS oracle, r.metadata,
           json_extract(r.metadata, '$.token_logprobs') AS tokens
    FROM raw_draws AS r
    JOIN files AS f ON f.path = r.filename
)
SELECT
    line, file_rank, policy, source, (pid->>'$') AS prompt_id, coalesce(prompt->>'$', '') AS prompt,
    coalesce(response->>'$', '') AS response, coalesce(draw::BIGINT, 0) AS draw_idx,
    CASE WHEN json_type(judge) IN {NUMBER} THEN judge::DOUBLE END AS judge_score,
    {_double('oracle')} AS oracle_label, {TOKENS} AS token_logprobs,
    source = 'probe' AND oracle IS NULL AS label_null,  -- a probe's label: legal when null, refused when absent
    coalesce(json_type(pid) = 'VARCHAR'
    AND (prompt IS NULL OR json_type(prompt) = 'VARCHAR') AND (response IS NULL OR json_type(response) = 'VARCHAR')
    AND (draw IS NULL OR (json_type(draw) IN ('BIGINT', 'UBIGINT') AND draw::BIGINT >= 0))
    AND CASE source WHEN 'fresh' THEN {_finite('judge')}
                    ELSE judge IS NULL OR {_finite('judge')} END
    AND {_label_ok('oracle')}
    AND (metadata IS NULL OR json_type(metadata) = 'OBJECT')
    AND {TOKENS_OK}, false) AS clean
FROM named
"""


def draw_files(directory: str, suffix: str) -> dict[str, Path]:
    """The policy -> file map of a fresh-draws or probe folder (file `<policy><suffix>`), in name order."""
    if not directory:
        return {}
    folder = Path(directory)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: folder not found")
    return {p.name.removesuffix(suffix): p for p in sorted(folder.glob(f"*{suffix}"))}


@dataclass
class Staged:
    """Clean files in an in-memory DuckDB: `logged` and `draws`, a row per line with its values."""

    con: duckdb.DuckDBPyConnection
    targets: list[str]
    n_logged: int

    def labelled_judge_scores(self) -> np.ndarray:
        """Judge scores of the logged rows with an oracle label, in file order (as the calibration
        split expects them)."""
        return self.con.execute("SELECT judge_score FROM logged WHERE oracle_label IS NOT NULL ORDER BY line"
                                ).fetchnumpy()["judge_score"]

    def tables(self, calibration_rows: np.ndarray) -> dict[str, pa.Table]:
        """The cje.* input tables (but cje.policies), given which labelled logged rows (indices in file
        order) calibration may use."""
        con = self.con
        con.execute("CREATE OR REPLACE TABLE calibration_rows AS SELECT unnest(?::BIGINT[]) AS k",
                    [calibration_rows.tolist()])
        # the names pass PLAIN_NAME, so they sit in SQL literals and JSON paths as written
        names, paths = (", ".join(f"'{t}'" for t in self.targets), ", ".join(f"'$.\"{t}\"'" for t in self.targets))
        target_logprobs = (f"""
            SELECT line, prompt_id, unnest(range(1, {len(self.targets) + 1})) AS rank, unnest([{names}]) AS policy,
                   unnest(json_extract(targets, [{paths}])) AS value
            FROM logged""" if self.targets else
                           "SELECT line, prompt_id, 0 AS rank, '' AS policy, targets AS value FROM logged WHERE false")
        queries = {
            "prompts": """
                WITH seen AS (  -- where each prompt is first seen: the logged file, then the draws' files in order
                    SELECT prompt_id, prompt, line AS seen_at FROM logged
                    UNION ALL
                    SELECT prompt_id, prompt, file_rank * 1000000000000 + line FROM draws
                )
                SELECT prompt_id, arg_min(prompt, seen_at) AS prompt
                FROM seen GROUP BY prompt_id ORDER BY min(seen_at)""",
            "teacher_forced_logprobs": f"""
                WITH target_logprobs AS ({target_logprobs})
                SELECT prompt_id, policy, logprob FROM (
                    SELECT line, 0 AS rank, prompt_id, 'base' AS policy, base_logprob AS logprob FROM logged
                    UNION ALL
                    SELECT line, rank, prompt_id, policy, {_double('value')} FROM target_logprobs
                ) ORDER BY line, rank""",
            "responses": """
                SELECT prompt_id, policy, source, draw_idx, response, token_logprobs FROM (
                    SELECT 0 AS file_rank, line, prompt_id, 'base' AS policy, 'logged' AS source, 0 AS draw_idx,
                           response, token_logprobs FROM logged
                    UNION ALL
                    SELECT file_rank, line, prompt_id, policy, source, draw_idx, response, token_logprobs FROM draws
                ) ORDER BY file_rank, line""",
            "judge_scores": """
                SELECT prompt_id, policy, source, draw_idx, judge_score FROM (
                    SELECT 0 AS file_rank, line, prompt_id, 'base' AS policy, 'logged' AS source, 0 AS draw_idx,
                           judge_score FROM logged
                    UNION ALL
                    SELECT file_rank, line, prompt_id, policy, source, draw_idx, judge_score FROM draws
                    WHERE judge_score IS NOT NULL
                ) ORDER BY file_rank, line""",
            "oracle_labels": """
                WITH labelled AS (
                    SELECT line, prompt_id, oracle_label, row_number() OVER (ORDER BY line) - 1 AS k
                    FROM logged WHERE oracle_label IS NOT NULL
                )
                SELECT prompt_id, policy, source, draw_idx, oracle_label, split FROM (
                    SELECT 0 AS file_rank, line, prompt_id, 'base' AS policy, 'logged' AS source, 0 AS draw_idx,
                           oracle_label,
                           CASE WHEN k IN (SELECT k FROM calibration_rows) THEN 'calibration' ELSE 'validation' END
                               AS split
                    FROM labelled
                    UNION ALL
                    SELECT file_rank, line, prompt_id, policy, source, draw_idx, oracle_label, source FROM draws
                    WHERE oracle_label IS NOT NULL
                ) ORDER BY file_rank, line""",
        }
        return {name: con.execute(sql).to_arrow_table().cast(SCHEMAS[name]) for name, sql in queries.items()}


def _key_on_every_line(con: duckdb.DuckDBPyConnection, paths: list[str], key: str) -> bool:
    """Whether every line of the files has `key`, null or not (a JSON-typed column is NULL for both:
    the files are read again, only where a required key was seen NULL)."""
    return con.execute("SELECT bool_and(json_exists(json, ?)) FROM read_ndjson_objects(?)", [f"$.{key}", paths]).fetchone()[0]


def stage(logged_path: Path, fresh: dict[str, Path], probes: dict[str, Path]) -> Staged | None:
    """The files in an in-memory DuckDB, or None where a row needs the row-by-row rules."""
    if not logged_path.is_file():
        return None
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    files = [(str(p.resolve()), rank, policy, source)
             for rank, (source, policy, p) in enumerate(
                 [("fresh", policy, p) for policy, p in fresh.items()] +
                 [("probe", policy, p) for policy, p in probes.items()], start=1)]
    try:
        con.execute("CREATE TABLE raw_logged AS SELECT * FROM read_json(?, format = 'newline_delimited', "
                    "records = true, columns = ?)", [str(logged_path), LOGGED_COLUMNS])
        con.execute(LOGGED)
        con.execute("CREATE TABLE files (path VARCHAR, rank INTEGER, policy VARCHAR, source VARCHAR)")
        if files:
            con.executemany("INSERT INTO files VALUES (?, ?, ?, ?)", files)
            con.execute("CREATE TABLE raw_draws AS SELECT * FROM read_json(?, format = 'newline_delimited', "
                        "records = true, columns = ?, filename = true)", [[f[0] for f in files], DRAW_COLUMNS])
        else:
            con.execute("CREATE TABLE raw_draws (filename VARCHAR, "
                        + ", ".join(f"{k} JSON" for k in DRAW_COLUMNS) + ")")
        con.execute(DRAWS)
        per_file = dict(con.execute("SELECT file_rank, count(*) FROM draws GROUP BY file_rank").fetchall())
        if (con.execute("SELECT count(*) = 0 OR bool_or(NOT clean) OR count(DISTINCT prompt_id) < count(*) FROM logged"
                        ).fetchone()[0]
                or con.execute("SELECT coalesce(bool_or(NOT clean), false) FROM draws").fetchone()[0]
                or any(per_file.get(rank, 0) == 0 for _, rank, _, _ in files)):
            return None
        targets = sorted(t for (t,) in con.execute(
            "SELECT DISTINCT unnest(json_keys(targets)) FROM logged WHERE json_type(targets) = 'OBJECT'").fetchall())
        if not all(PLAIN_NAME.match(t) for t in targets):
            return None
        paths = ", ".join(f"'$.\"{t}\"'" for t in targets)
        if targets and not con.execute(
                f"SELECT coalesce(bool_and(list_bool_and([{_number_or_null('v')} FOR v IN json_extract(targets, [{paths}])])), true) "
                "FROM logged WHERE json_type(targets) = 'OBJECT'").fetchone()[0]:
            return None
        probe_files = [path for path, _, _, source in files if source == "probe"]
        if ((con.execute("SELECT bool_or(base_null) FROM logged").fetchone()[0]
             and not _key_on_every_line(con, [str(logged_path)], "base_policy_logprob"))
                or (con.execute("SELECT coalesce(bool_or(label_null), false) FROM draws").fetchone()[0]
                    and not _key_on_every_line(con, probe_files, "oracle_label"))):
            return None
        return Staged(con, targets, con.execute("SELECT count(*) FROM logged").fetchone()[0])
    except duckdb.Error:  # a line DuckDB cannot parse (not JSON, not UTF-8, a duplicate key, ...)
        return None
