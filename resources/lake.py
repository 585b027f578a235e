"""DuckLake, the shared warehouse kind: a catalog database (SQLite on one machine, PostgreSQL for
many) that records tables and snapshots, and Parquet files under a data path.

Writers need no lock: each commits its transaction as a new snapshot, and DuckLake retries
commits that touch different tables. Two commits that change the same table (two partitions of a
stage) conflict there, so `retry_commit` runs the whole transaction again, which is safe because
every write here replaces rows by key. Readers attach read-only and each query reads one
committed snapshot; nothing is copied.

DuckDB cannot download extensions on these machines: they come from PyPI packages
(duckdb-extension-ducklake & co., pinned to DuckDB's version) and are loaded from their files.
"""

from __future__ import annotations

import importlib
import os
import random
import time
from pathlib import Path
from typing import Callable, TypeVar

import duckdb

from resources.settings import Settings
from resources.sql_functions import register_udfs

T = TypeVar("T")
COMMIT_ATTEMPTS = 30
ALIAS = "lake"
REMOTE = ("s3://", "gs://", "r2://", "http://", "https://")


def extension_file(package: str) -> str:
    """The .duckdb_extension inside PyPI package duckdb_extension_<package>, for this DuckDB."""
    module = importlib.import_module(f"duckdb_extension_{package}")
    found = sorted(Path(module.__file__).parent.glob(f"extensions/v{duckdb.__version__}/*.duckdb_extension"))
    if not found:
        raise RuntimeError(f"duckdb-extension-{package.replace('_', '-')} has no build for DuckDB "
                           f"{duckdb.__version__}: install the version pinned in requirements.lock")
    return str(found[0])


def catalog_uri(settings: Settings) -> str:
    catalog = settings.lake_path(settings.warehouse.catalog)
    return "ducklake:" + (catalog if catalog.startswith("postgres:") else f"sqlite:{catalog}")


def data_path(settings: Settings) -> str:
    return settings.lake_path(settings.warehouse.data_path).rstrip("/") + "/"


def attach(con: duckdb.DuckDBPyConnection, settings: Settings, read_only: bool = False,
           snapshot_version: int | None = None) -> None:
    """Load DuckLake and the catalog's scanner, attach the lake as `lake` and make it current."""
    uri, remote = catalog_uri(settings), data_path(settings).startswith(REMOTE)
    packages = ["ducklake", "postgres_scanner" if uri.startswith("ducklake:postgres:") else "sqlite_scanner"]
    for package in packages + ["httpfs"] * remote:
        try:
            con.execute(f"LOAD '{extension_file(package)}'")
        except ModuleNotFoundError:
            raise RuntimeError(f"[warehouse] data_path {settings.warehouse.data_path!r} needs DuckDB's {package} "
                               f"extension: pip install duckdb-extension-{package}=={duckdb.__version__}") from None
    if not read_only and not remote:
        Path(data_path(settings)).mkdir(parents=True, exist_ok=True)
        if not uri.startswith("ducklake:postgres:"):
            Path(uri.removeprefix("ducklake:sqlite:")).parent.mkdir(parents=True, exist_ok=True)
    options = [f"DATA_PATH {quote(data_path(settings))}"]
    if read_only:
        options.append("READ_ONLY")
    if snapshot_version is not None:
        options.append(f"SNAPSHOT_VERSION {int(snapshot_version)}")
    try:
        con.execute(f"ATTACH {quote(uri)} AS {ALIAS} ({', '.join(options)})")
    except duckdb.Error as exc:
        raise ConnectionError(f"[warehouse] catalog {settings.warehouse.catalog!r} (settings {settings.file}): "
                              f"{str(exc).splitlines()[0]}") from None
    con.execute(f"USE {ALIAS}")


def connect(settings: Settings, read_only: bool = False, snapshot_version: int | None = None,
            prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
            key: tuple = ()) -> duckdb.DuckDBPyConnection:
    """A cursor on this process's DuckDB instance with the lake attached, made on first use:
    loading the extensions and attaching cost about 0.2 s, a cursor nothing. Each transaction
    reads the lake's newest snapshot (or the pinned `snapshot_version`). `prepare` runs once on a
    new instance (the readers' sandbox, which is instance-wide); `key` tells such instances apart.
    The process id is part of the key: a forked step process makes its own."""
    cache_key = (os.getpid(), catalog_uri(settings), data_path(settings), read_only, snapshot_version, key)
    instance = _INSTANCES.get(cache_key)
    if instance is None:
        instance = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                                      "autoload_known_extensions": False})
        attach(instance, settings, read_only=read_only, snapshot_version=snapshot_version)
        register_udfs(instance)  # instance-wide, like the sandbox's settings
        if prepare is not None:
            prepare(instance)
        _INSTANCES[cache_key] = instance
    cursor = instance.cursor()
    cursor.execute(f"USE {ALIAS}")  # the current database is a connection's own
    return cursor


_INSTANCES: dict[tuple, duckdb.DuckDBPyConnection] = {}


def has_catalog(settings: Settings) -> bool:
    """Whether a lake exists yet (a SQLite catalog is a file; a PostgreSQL one is assumed)."""
    uri = catalog_uri(settings)
    return uri.startswith("ducklake:postgres:") or Path(uri.removeprefix("ducklake:sqlite:")).exists()


def current_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute(f"SELECT id FROM {ALIAS}.current_snapshot()").fetchone()[0])


def is_commit_conflict(exc: BaseException) -> bool:
    """Another writer committed first (same table changed, or the SQLite catalog busy)."""
    text = str(exc)
    return isinstance(exc, duckdb.TransactionException) and (
        "conflict" in text.lower() or "database is locked" in text or "Failed to commit DuckLake" in text)


def retry_commit(attempt: Callable[[], T], attempts: int = COMMIT_ATTEMPTS) -> T:
    """Run `attempt` (a whole transaction) until it commits, backing off while other writers do."""
    for n in range(attempts):
        try:
            return attempt()
        except duckdb.TransactionException as exc:
            if not is_commit_conflict(exc) or n == attempts - 1:
                raise
            time.sleep(random.uniform(0.02, 0.2) * min(n + 1, 10))
    raise AssertionError("unreachable")


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
