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


CHARS_PER_TOKEN = 4      # a rough English average; the plan is an estimate, the call log has the truth
TEMPLATE_TOKENS = 250    # a describer's or scorer's instructions and system prompt
BEHAVIOUR_TOKENS = 30    # one line of the scorer's behaviour list


def arena_calls(battles: int, chars: int, describe: bool, behaviours: int, given: bool, max_tokens: dict,
                models: dict, prices: dict) -> list[dict]:
    """The arena run's per-battle LLM calls: the describer once per battle (where it runs), the
    rubric's scorer twice (both answer orders, every behaviour in one call) where any behaviour is
    scored; `chars`: the battles' prompt and response characters summed (as cut for the calls);
    `behaviours`: discovered ones scored (top_k, an upper bound); `prices`: role -> [prices] entry
    (input, output USD per million tokens) or None. The namers' calls (one per cluster) are left out."""
    text = chars // CHARS_PER_TOKEN + battles * TEMPLATE_TOKENS
    rows = []
    if describe:
        rows.append(("describer", battles, text))
    if behaviours or given:
        rows.append(("scorer", 2 * battles, 2 * (text + battles * BEHAVIOUR_TOKENS * max(behaviours, 1))))
    out = []
    for role, calls, tokens_in in rows:
        tokens_out = calls * max_tokens[role]
        price = prices.get(role)
        cost = None if price is None else (tokens_in * price.input + tokens_out * price.output) / 1e6
        out.append({"role": role, "model": models[role], "calls": calls, "input_tokens": tokens_in,
                    "output_tokens": tokens_out, "cost_usd": cost})
    return out
