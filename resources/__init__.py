"""Dagster resources: warehouse, llm, embeddings, hidden_states, datasets; built from the settings."""

from resources.datasets import Datasets
from resources.embeddings import Embeddings
from resources.hidden_states import HiddenStates
from resources.llm import LLM
from resources.warehouse import Warehouse


def build_resources(settings_file: str = "") -> dict:
    """Every resource, reading `settings_file` (default: dagster_project.toml or $VIBESCOPE_SETTINGS)."""
    return {
        "warehouse": Warehouse(settings_file=settings_file),
        "llm": LLM(settings_file=settings_file),
        "embeddings": Embeddings(settings_file=settings_file),
        "hidden_states": HiddenStates(settings_file=settings_file),
        "datasets": Datasets(),
    }
