"""cje-eval's records (logged data, fresh draws, probe slices) in an in-memory DuckDB, checked by
the field rules of input_rules.sql, and the cje.* input tables built from them by SQL.

The records come from the files (one JSON value per line, read whole by DuckDB: a million logged
rows and four million draws take seconds, bench/cje_scale.py) or from the built logs (the records
`cje_logs/export` writes, analysis/cje_records.py). Either way the same rules refuse the first bad
row, naming its file and line or its table row. What is not a field rule stays here: a file that
is missing, not UTF-8, empty, or has a line that is not JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from resources.datasets import MAX_TEXT_CHARS, DatasetError, utf8_problem

RULES = Path(__file__).with_name("input_rules.sql").read_text()
_KEY = [("prompt_id", pa.string()), ("policy", pa.string()), ("source", pa.string()), ("draw_idx", pa.int64())]
SCHEMAS = {  # the input tables, as written
    "prompts": pa.schema([("prompt_id", pa.string()), ("prompt", pa.string())]),
    "teacher_forced_logprobs": pa.schema([("prompt_id", pa.string()), ("policy", pa.string()), ("logprob", pa.float64())]),
    "responses": pa.schema([*_KEY, ("response", pa.string()), ("token_logprobs", pa.list_(pa.float64()))]),
    "judge_scores": pa.schema([*_KEY, ("judge_score", pa.float64()), ("judge_variance", pa.float64())]),
    "oracle_labels": pa.schema([*_KEY, ("oracle_label", pa.float64()), ("split", pa.string())]),
}
Rows = list[tuple[str, dict]]  # records with where each is (a table row), for the built logs


def draw_files(directory: str, suffix: str) -> dict[str, Path]:
    """The policy -> file map of a fresh-draws or probe folder (file `<policy><suffix>`), in name order."""
    if not directory:
        return {}
    folder = Path(directory)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: folder not found")
    return {p.name.removesuffix(suffix): p for p in sorted(folder.glob(f"*{suffix}"))}


def _lines(path: Path):
    """(line number, text) of each line that holds something, as DuckDB reads them (split at \\n)."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.decode().rstrip("\r\n")
            if line.strip():
                yield number, line


def _first_unreadable_line(path: Path, error: duckdb.Error) -> DatasetError:
    """Where DuckDB cannot read a file: the first line that is too long or not JSON."""
    for number, line in _lines(path):
        if len(line) > 2 * MAX_TEXT_CHARS:  # a prompt and a response, each at most the text limit
            return DatasetError(f"{path}:{number}: {len(line):,} characters in one row; rows over "
                                f"{2 * MAX_TEXT_CHARS:,} are refused")
        try:
            json.loads(line)
        except json.JSONDecodeError as exc:
            return DatasetError(f"{path}:{number}: not JSON ({exc})")
    return DatasetError(f"{path}: cannot be read as JSON lines ({' '.join(str(error).split())})")


class Records:
    """The records in `raw_logged` (k, row_name, obj) and `raw_draws` (file_rank, policy, source, k, row_name,
    obj): k counts a file's records from 0; `row_name` names a built-log row, NULL for a file's."""

    def __init__(self, where: str):
        self.where = where  # the logged data, as messages name it
        self.files: dict[int, Path] = {}  # file_rank (0: the logged data) -> path
        self.con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
        self.con.execute("SET VARIABLE max_text_chars = ?", [MAX_TEXT_CHARS])
        self.con.execute("CREATE TABLE raw_logged (k BIGINT, row_name VARCHAR, obj JSON)")
        self.con.execute("CREATE TABLE raw_draws (file_rank INTEGER, policy VARCHAR, source VARCHAR, k BIGINT, "
                         "row_name VARCHAR, obj JSON)")

    @classmethod
    def from_files(cls, logged: Path, fresh: dict[str, Path], probes: dict[str, Path]) -> Records:
        records = cls(str(logged))
        records._read(0, logged, None, None)
        draws = [("fresh", p, path) for p, path in fresh.items()] + [("probe", p, path) for p, path in probes.items()]
        for rank, (source, policy, path) in enumerate(draws, start=1):
            records._read(rank, path, policy, source)
        return records

    def _read(self, rank: int, path: Path, policy: str | None, source: str | None) -> None:
        if not path.is_file():
            raise DatasetError(f"{path}: file not found")
        problem = utf8_problem(path)
        if problem:
            raise DatasetError(f"{path}: not UTF-8 text ({problem}); save it as UTF-8")
        con = self.con
        try:
            con.execute("CREATE OR REPLACE TEMP TABLE one AS SELECT json AS obj FROM read_ndjson_objects(?)",
                        [str(path)])
        except duckdb.Error as exc:
            raise _first_unreadable_line(path, exc) from None
        if rank == 0:
            con.execute("INSERT INTO raw_logged SELECT rowid, NULL, obj FROM one")
        else:
            con.execute("INSERT INTO raw_draws SELECT ?, ?, ?, rowid, NULL, obj FROM one", [rank, policy, source])
        if not con.execute("SELECT count(*) FROM one").fetchone()[0]:
            raise DatasetError(f"{path}: no rows")
        self.files[rank] = path

    @classmethod
    def from_rows(cls, where: str, logged: Rows, fresh: dict[str, Rows], probes: dict[str, Rows]) -> Records:
        """Records that are not read from files (the built logs), each with where it is."""
        records = cls(where)
        records._insert("raw_logged", [(k, at, json.dumps(r)) for k, (at, r) in enumerate(logged)])
        draws = [("fresh", p, rows) for p, rows in fresh.items()] + [("probe", p, rows) for p, rows in probes.items()]
        records._insert("raw_draws", [(rank, policy, source, k, at, json.dumps(r))
                                      for rank, (source, policy, rows) in enumerate(draws, start=1)
                                      for k, (at, r) in enumerate(rows)])
        return records

    def _insert(self, table: str, rows: list[tuple]) -> None:
        if rows:
            width = len(rows[0])
            self.con.executemany(f"INSERT INTO {table} VALUES ({', '.join(['?'] * width)})", rows)

    def _location(self, rank: int, k: int, row_name: str | None) -> str:
        if row_name is not None:
            return row_name
        path = self.files[rank]
        line = next(number for i, (number, _) in enumerate(_lines(path)) if i == k)
        return f"{path}:{line}"

    def check(self) -> None:
        """Run the field rules; refuse the first bad row, then repeated prompt ids and unlabelled logs."""
        con = self.con
        con.execute(RULES)
        bad = con.execute("""
            SELECT 0 AS rank, k, row_name, problem FROM logged WHERE problem IS NOT NULL
            UNION ALL
            SELECT file_rank, k, row_name, problem FROM draws WHERE problem IS NOT NULL
            ORDER BY rank, k LIMIT 1""").fetchone()
        if bad:
            rank, k, row_name, problem = bad
            raise DatasetError(f"{self._location(rank, k, row_name)}: {problem}")
        if not con.execute("SELECT count(*) FROM logged").fetchone()[0]:
            raise DatasetError(f"{self.where}: no rows")
        dupes = [d for (d,) in con.execute("SELECT prompt_id FROM logged GROUP BY prompt_id HAVING count(*) > 1 "
                                           "ORDER BY min(k)").fetchall()]
        if dupes:
            raise DatasetError(f"{self.where}: duplicate prompt_id(s) {', '.join(dupes[:5])}"
                               f"{' ...' if len(dupes) > 5 else ''}: each logged prompt must appear once")
        con.execute("""
            CREATE TABLE targets AS
            SELECT policy, row_number() OVER (ORDER BY policy) AS rank FROM (
                SELECT DISTINCT t.key AS policy FROM logged, json_each(logged.targets) AS t
                WHERE json_type(logged.targets) = 'OBJECT')""")

    @property
    def targets(self) -> list[str]:
        return [t for (t,) in self.con.execute("SELECT policy FROM targets ORDER BY rank").fetchall()]

    def labelled_judge_scores(self) -> np.ndarray:
        """Judge scores of the logged rows with an oracle label, in file order (as the calibration
        split expects them)."""
        return self.con.execute("SELECT judge_score FROM logged WHERE oracle_label IS NOT NULL ORDER BY k"
                                ).fetchnumpy()["judge_score"]

    @property
    def n_logged(self) -> int:
        return self.con.execute("SELECT count(*) FROM logged").fetchone()[0]

    def tables(self, calibration_rows: np.ndarray) -> dict[str, pa.Table]:
        """The cje.* input tables (but cje.policies), given which labelled logged rows (indices in file
        order) calibration may use."""
        con = self.con
        con.execute("CREATE OR REPLACE TABLE calibration_rows AS SELECT unnest(?::BIGINT[]) AS i",
                    [calibration_rows.tolist()])
        queries = {
            "prompts": """
                WITH seen AS (  -- where each prompt is first seen: the logged file, then the draws' files in order
                    SELECT prompt_id, prompt, 0 AS file_rank, k FROM logged
                    UNION ALL
                    SELECT prompt_id, prompt, file_rank, k FROM draws
                )
                SELECT prompt_id, arg_min(prompt, (file_rank, k)) AS prompt
                FROM seen GROUP BY prompt_id ORDER BY min((file_rank, k))""",
            "teacher_forced_logprobs": """
                WITH target_values AS (
                    SELECT k, t.key AS policy, t.value FROM logged, json_each(logged.targets) AS t
                    WHERE json_type(logged.targets) = 'OBJECT'
                )
                SELECT prompt_id, policy, logprob FROM (
                    SELECT k, 0 AS rank, prompt_id, 'base' AS policy, base_logprob AS logprob FROM logged
                    UNION ALL
                    SELECT l.k, t.rank, l.prompt_id, t.policy, as_double(v.value)
                    FROM logged AS l CROSS JOIN targets AS t
                    LEFT JOIN target_values AS v ON v.k = l.k AND v.policy = t.policy
                ) ORDER BY k, rank""",
            "responses": """
                SELECT prompt_id, policy, source, draw_idx, response, token_logprobs FROM (
                    SELECT 0 AS file_rank, k, prompt_id, 'base' AS policy, 'logged' AS source, 0 AS draw_idx,
                           response, token_logprobs FROM logged
                    UNION ALL
                    SELECT file_rank, k, prompt_id, policy, source, draw_idx, response, token_logprobs FROM draws
                ) ORDER BY file_rank, k""",
            "judge_scores": """
                SELECT prompt_id, policy, source, draw_idx, judge_score, judge_variance FROM (
                    SELECT 0 AS file_rank, k, prompt_id, 'base' AS policy, 'logged' AS source, 0 AS draw_idx,
                           judge_score, judge_variance FROM logged
                    UNION ALL
                    SELECT file_rank, k, prompt_id, policy, source, draw_idx, judge_score, judge_variance FROM draws
                    WHERE judge_score IS NOT NULL
                ) ORDER BY file_rank, k""",
            "oracle_labels": """
                WITH labelled AS (
                    SELECT k, prompt_id, oracle_label, row_number() OVER (ORDER BY k) - 1 AS i
                    FROM logged WHERE oracle_label IS NOT NULL
                )
                SELECT prompt_id, policy, source, draw_idx, oracle_label, split FROM (
                    SELECT 0 AS file_rank, k, prompt_id, 'base' AS policy, 'logged' AS source, 0 AS draw_idx,
                           oracle_label,
                           CASE WHEN i IN (SELECT i FROM calibration_rows) THEN 'calibration' ELSE 'validation' END
                               AS split
                    FROM labelled
                    UNION ALL
                    SELECT file_rank, k, prompt_id, policy, source, draw_idx, oracle_label, source FROM draws
                    WHERE oracle_label IS NOT NULL
                ) ORDER BY file_rank, k""",
        }
        return {name: con.execute(sql).to_arrow_table().cast(SCHEMAS[name]) for name, sql in queries.items()}
