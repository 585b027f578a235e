"""The project's SQL files (models, checks, and Python assets' input queries): their text, the
options in their leading `--` comment block, and the tables they read, found with sqlglot."""

import re
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

HEADER_OPTION = re.compile(r"^(severity|blocking|asset|layer)\s*:\s*(\S+)\s*$", re.IGNORECASE)


class SqlError(RuntimeError):
    """SQL that cannot be parsed, or a table named without its schema; the message names the file."""


def tables_read(sql: str, where: str) -> tuple[tuple[str, str], ...]:
    """(schema, table) pairs a query reads, sorted; `where` names the file in errors."""
    try:
        tree = sqlglot.parse_one(sql, dialect="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise SqlError(f"{where}: cannot parse the SQL: {exc}") from None
    if not isinstance(tree, exp.Query):
        raise SqlError(f"{where}: a model is one SELECT (a query), got {tree.key.upper()}")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables = set()
    for t in tree.find_all(exp.Table):
        if not t.name or (not t.db and t.name in ctes):
            continue  # a table function, or a CTE
        if not t.db:
            raise SqlError(f"{where}: table '{t.name}' has no schema; write <schema>.{t.name}")
        tables.add((t.db, t.name))
    return tuple(sorted(tables))


@dataclass(frozen=True)
class SqlFile:
    path: Path
    sql: str
    description: str
    reads: tuple[tuple[str, str], ...]  # (schema, table) pairs, sorted
    options: dict[str, str]

    @property
    def name(self) -> str:
        return self.path.stem

    @classmethod
    def load(cls, path: Path) -> "SqlFile":
        sql = path.read_text()
        description, options = _header(sql)
        return cls(path=path, sql=sql.strip().rstrip(";"), description=description,
                   reads=tables_read(sql, str(path)), options=options)


def _header(sql: str) -> tuple[str, dict[str, str]]:
    lines, options = [], {}
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        text = line[2:].strip()
        option = HEADER_OPTION.match(text)
        if option:
            options[option.group(1).lower()] = option.group(2).lower()
        else:
            lines.append(text)
    return "\n".join(lines).strip(), options


