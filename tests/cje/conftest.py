"""Materialize the CJE graph for real (Dagster, DuckDB under tmp_path) on given logged data."""

import json
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from resources.datasets import SAMPLES_DIR
from resources import build_resources
from resources.warehouse import Warehouse

SAMPLE = SAMPLES_DIR / "cje_arena_sample"  # cje-eval's own Arena sample (data/samples/PROVENANCE.md)
REFERENCE_09 = Path(__file__).resolve().parents[2] / ".venv-cje09" / "bin" / "python"


def run_09(script: str, *args: str, stdin: str | None = None):
    """The last stdout line, as JSON, of `script` run by cje-eval 0.9.3 in its own venv."""
    if not REFERENCE_09.exists():
        pytest.fail(f"{REFERENCE_09} missing: `make test` installs cje-eval 0.9.3 there")
    out = subprocess.run([str(REFERENCE_09), "-c", script, *args], input=stdin, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def cje_assets():
    import definitions

    return [a for a in definitions.defs.assets if any(k.path[0] == "cje" for k in a.keys)], \
        [c for c in definitions.defs.asset_checks
         if any(k.asset_key.path[0] == "cje" for k in c.check_keys)]


def materialize_cje(settings_file: Path, raise_on_error: bool = True, **logged_data_config):
    assets, checks = cje_assets()
    config = {"ops": {"cje__logged_data": {"config": logged_data_config}}} if logged_data_config else None
    return dg.materialize([*assets, *checks], resources=build_resources(str(settings_file)),
                          run_config=config, raise_on_error=raise_on_error)


def write_logged(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def sample_rows(n: int | None = None) -> list[dict]:
    rows = [json.loads(line) for line in (SAMPLE / "logged_data.jsonl").read_text().splitlines()]
    return rows[:n] if n else rows


@pytest.fixture(scope="package")  # read only: one run for every CJE test module
def sample_warehouse(tmp_path_factory):
    """The CJE graph on the bundled real sample with every oracle label (oracle_fraction 1)."""
    from tests.conftest import write_settings

    path = write_settings(tmp_path_factory.mktemp("cje") / "dagster_project.toml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIBESCOPE_SETTINGS", str(path))
        result = materialize_cje(path, oracle_fraction=1.0)
        assert result.success
        yield Warehouse(settings_file=str(path)), result
