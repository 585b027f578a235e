"""The LLM call cache and call log: one SQLite file shared by every process.

SQLite in WAL mode with a busy timeout is safe with several writer processes (Dagster's
multiprocess executor). A response is committed as soon as the backend returns it, so a run
killed mid-way resumes without repeating finished calls.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    request_hash TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    call_id INTEGER PRIMARY KEY AUTOINCREMENT,
    called_at REAL NOT NULL,
    run_id TEXT,
    asset TEXT,
    role TEXT,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_s REAL,
    cost_usd REAL,
    cached INTEGER NOT NULL,
    truncated INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
"""


def request_hash(backend: str, model: str, request: dict[str, Any]) -> str:
    canonical = json.dumps(
        {"backend": backend, "model": model, "request": request},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class CallCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conn().executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._conn().execute(
            "SELECT response FROM responses WHERE request_hash = ?", (key,)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, backend: str, model: str, request: dict, response: dict) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
            (key, backend, model, json.dumps(request, ensure_ascii=False),
             json.dumps(response, ensure_ascii=False), time.time()),
        )

    def log(self, **event: Any) -> None:
        event.setdefault("called_at", time.time())
        cols = ", ".join(event)
        marks = ", ".join("?" for _ in event)
        self._conn().execute(f"INSERT INTO calls ({cols}) VALUES ({marks})", tuple(event.values()))

    def calls(self) -> pd.DataFrame:
        frame = pd.read_sql_query("SELECT * FROM calls ORDER BY call_id", self._conn())
        frame["called_at"] = pd.to_datetime(frame["called_at"], unit="s", utc=True)
        frame["cached"] = frame["cached"].astype(bool)
        frame["truncated"] = frame["truncated"].astype(bool)
        return frame

    def count_responses(self) -> int:
        return self._conn().execute("SELECT count(*) FROM responses").fetchone()[0]
