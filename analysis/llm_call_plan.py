"""How many LLM calls a configuration makes, before it runs, per layer (each layer of a run is
clustered, named and graded alike) and in all: the namer once per method x k x cluster x repetition; the grader 2 * n_test membership questions, n_test control questions (the
same sentences under a shuffled title) and n_test completeness questions per category, and one
similarity question per pair of categories (k + k^2 growth). These are upper bounds: empty
clusters, clusters smaller than n_test and JSON retries change them."""


def llm_calls(methods: list[str], clusters: list[int], repetitions: int, metrics: list[str], n_test: int,
              layers: list[int] = (12,)) -> dict:
    """Calls per step over all layers, their `total`, and `per_layer` (the same counts for one layer)."""
    per_method = {
        "namer": sum(clusters) * repetitions,
        "membership": sum(clusters) * repetitions * 2 * n_test if "accuracy" in metrics else 0,
        "control": sum(k for k in clusters if k > 1) * repetitions * n_test if "accuracy" in metrics else 0,
        "completeness": sum(clusters) * repetitions * n_test if "completeness" in metrics else 0,
        "similarity": sum(k * (k - 1) // 2 for k in clusters) * repetitions if "orthogonality" in metrics else 0,
    }
    one_layer = {step: n * len(methods) for step, n in per_method.items()}
    one_layer["total"] = sum(one_layer.values())
    layers = sorted(set(layers))
    return {**{step: n * len(layers) for step, n in one_layer.items()}, "layers": layers, "per_layer": one_layer}


def from_configs(assignments: dict, titles: dict, grades: dict, activations: dict | None = None) -> dict:
    """The call count of the run configs of acts.cluster_assignments, acts.cluster_titles,
    acts.grades and acts.activations (its layers; as recorded in core.materializations, or a
    settings section)."""
    layers = (activations or {}).get("layers") or [12]
    return llm_calls(assignments["methods"], assignments["clusters"], titles["repetitions"], grades["metrics"],
                     grades["n_test"], layers)
