"""A throwaway PostgreSQL server on 127.0.0.1 (Debian's `postgresql` package), the DuckLake
catalog of the shared-warehouse tests. PostgreSQL refuses to run as root, so as root the server
runs as the package's `postgres` user, in a folder handed to it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def postgres_bin() -> Path | None:
    """The newest installed server's bin folder, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_server(port: int, database: str = "lake") -> Iterator[str]:
    """Start a server with a fresh cluster and database `database`; yields the libpq connection
    string; stops the server (fast shutdown) and removes its folder at the end. The folder is a
    new one under the system's temporary folder: pytest's are private to root, so the server's
    user could not enter them."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL is not installed (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="vibescope-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    subprocess.run(_as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "vibescope",
                                    "--no-sync"]), check=True, capture_output=True, text=True)
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(_as_server_user([str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1",
                                               "-p", str(port), "-k", str(folder), "-c", "fsync=off"]),
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                             capture_output=True).returncode != 0:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "vibescope", database],
                       check=True, capture_output=True)
        yield f"host=127.0.0.1 port={port} user=vibescope dbname={database}"
    finally:
        subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                       capture_output=True)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
