"""How many LLM calls a configuration makes, before it runs: the namer once per method x k x
cluster x repetition; the grader 2 * n_test membership questions, n_test control questions (the
same sentences under a shuffled title) and n_test completeness questions per category, and one
similarity question per pair of categories (k + k^2 growth). These are upper bounds: empty
clusters, clusters smaller than n_test and JSON retries change them."""


def llm_calls(methods: list[str], clusters: list[int], repetitions: int, metrics: list[str], n_test: int) -> dict:
    per_method = {
        "namer": sum(clusters) * repetitions,
        "membership": sum(clusters) * repetitions * 2 * n_test if "accuracy" in metrics else 0,
        "control": sum(k for k in clusters if k > 1) * repetitions * n_test if "accuracy" in metrics else 0,
        "completeness": sum(clusters) * repetitions * n_test if "completeness" in metrics else 0,
        "similarity": sum(k * (k - 1) // 2 for k in clusters) * repetitions if "orthogonality" in metrics else 0,
    }
    calls = {step: n * len(methods) for step, n in per_method.items()}
    return {**calls, "total": sum(calls.values())}


def from_configs(assignments: dict, titles: dict, grades: dict) -> dict:
    """The call count of the run configs of acts.cluster_assignments, acts.cluster_titles and
    acts.grades (as recorded in core.materializations, or a settings section)."""
    return llm_calls(assignments["methods"], assignments["clusters"], titles["repetitions"], grades["metrics"],
                     grades["n_test"])
