"""The arena tests' shared run: the fictional set with planted behaviours, materialized once."""

import dagster as dg
import pytest

from resources import build_resources
from resources.warehouse import Warehouse

# the style view reads its own battles: the 999 bundled ones (the demo profile's), no LLM
FICTIONAL = {"ops": {"arena__battles": {"config": {"dataset": "fictional", "num_samples": 120}},
                     "arena__battle_differences": {"config": {"describer_source": "planted"}},
                     "arena__property_clusters": {"config": {"enable_dim_reduction": False}}}}


@pytest.fixture(scope="package")  # one arena run for every arena test file
def fictional_warehouse(tmp_path_factory):
    from tests.conftest import write_settings

    path = write_settings(tmp_path_factory.mktemp("arena") / "dagster_project.toml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIBESCOPE_SETTINGS", str(path))
        import definitions

        result = dg.materialize([*definitions.defs.assets], resources=build_resources(str(path)),
                                selection=dg.AssetSelection.groups("arena"), run_config=FICTIONAL)
        assert result.success
        yield Warehouse(settings_file=str(path))
