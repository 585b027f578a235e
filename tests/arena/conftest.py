"""The arena tests' shared run: the fictional set with planted behaviours, materialized once."""

import dagster as dg
import pytest

from resources import build_resources
from resources.warehouse import Warehouse

# the style view reads its own battles: the 999 bundled ones (the demo profile's), no LLM
FICTIONAL = {"ops": {"arena__battles": {"config": {"dataset": "fictional", "num_samples": 120}},
                     "arena__battle_differences": {"config": {"describer_source": "planted"}},
                     "arena__property_clusters": {"config": {"enable_dim_reduction": False}},
                     "arena__behaviour_scores": {"config": {"scorer_source": "planted"}}}}
# user-given behaviours beside the discovered ones: `summary` is planted in the text but never in
# the properties the planted describer reads (assets/arena/fictional.py)
GIVEN = """- name: summary
  description: Closes with a one-sentence summary starting "In short"
  desirable: true
- {name: apologetic, description: Apologises before answering, desirable: false}
"""


def fictional_run(folder) -> dict:
    """FICTIONAL with the user-given behaviours file written under `folder`."""
    path = folder / "behaviours.yaml"
    path.write_text(GIVEN)
    return {"ops": {**FICTIONAL["ops"], "arena__rubric_behaviours": {"config": {"behaviours_path": str(path)}}}}


@pytest.fixture(scope="package")  # one arena run for every arena test file
def fictional_warehouse(tmp_path_factory):
    from tests.conftest import write_settings

    folder = tmp_path_factory.mktemp("arena")
    path = write_settings(folder / "dagster_project.toml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIBESCOPE_SETTINGS", str(path))
        import definitions

        result = dg.materialize([*definitions.defs.assets], resources=build_resources(str(path)),
                                selection=dg.AssetSelection.groups("arena"), run_config=fictional_run(folder))
        assert result.success
        yield Warehouse(settings_file=str(path))
