"""`diff.iterations` and `diff.predictions`: the describer writes, a fresh classifier answers.

For each batch of seen index positions (batch_size rows from each side, in order, `epochs`
passes), the describer (role `describer`) sees the rows, the earlier descriptions and their
accuracy, and writes a description; the classifier (role `classifier`, a fresh context per row)
then answers A or B for the batch's rows and the unseen rows. Every row is classified twice with
the answer tokens swapped; P(A) from the softmax of the two tokens' log-probabilities is averaged
over both orders. An order where neither token is among the 20 likeliest is an abstention. The
last description then classifies every row (stage `final`, iteration = the last one). The
baselines it has to beat (length, words) are `diff.baseline_predictions` (baseline_predictions.py).
"""

import math

import dagster as dg
import numpy as np
import pandas as pd

from assets.core.llm_calls import LLM_KIND
from assets.core.pools import model_pool
from assets.core.tables import Written, table_step
from assets.diff import prompts
from assets.diff.config import IterationsConfig
from assets.lineage import MODEL, Query, reads
from assets.progress import Progress
from resources.llm import LLM, RoleClient
from resources.warehouse import Warehouse

ROWS = Query("SELECT * FROM diff.rows ORDER BY side, idx")
ORDERS = (("A", "B"), ("B", "A"))  # (token meaning dataset A, token meaning dataset B)


def classify(client: RoleClient, description: str, text: str) -> dict:
    """P(row is from A) with label-bias control; None where both orders abstained."""
    p_orders, truncated = [], False
    for label_a, label_b in ORDERS:
        message = prompts.CLASSIFIER.format(description=description, text=text,
                                            label_a=label_a, label_b=label_b)
        out = client.choice_logprobs([{"role": "user", "content": message}], options=["A", "B"])
        truncated |= out.truncated
        la, lb = out.logprobs[label_a], out.logprobs[label_b]
        if not (out.in_top(label_a) or out.in_top(label_b)) or (la is None and lb is None):
            p_orders.append(None)
            continue
        la, lb = (-math.inf if la is None else la), (-math.inf if lb is None else lb)
        top = max(la, lb)
        p_orders.append(math.exp(la - top) / (math.exp(la - top) + math.exp(lb - top)))
    return {"p_a_direct": p_orders[0], "p_a_swapped": p_orders[1],
            "p_a": combine(*p_orders), "abstained": p_orders == [None, None],
            "input_truncated": truncated}


def combine(p_direct: float | None, p_swapped: float | None) -> float | None:
    """P(A) averaged over the two label orders (one order alone when the other abstained).
    A classifier that always answers "A" gets 1 and 0 here: 0.5, so it scores 50%."""
    seen = [p for p in (p_direct, p_swapped) if p is not None]
    return float(np.mean(seen)) if seen else None


def describe(client: RoleClient, batch: pd.DataFrame, history: list[tuple[str, float]],
             extra_prompt: str, max_tokens: int) -> tuple[str, bool]:
    shown = "\n".join(prompts.ROW.format(side=r.side, index=r.idx, text=r.text)
                      for r in batch.sort_values(["side", "idx"]).itertuples())
    past = ""
    if history:
        past = prompts.HISTORY.format(entries="\n".join(
            prompts.HISTORY_ENTRY.format(accuracy=f"{acc:.2f}", prompt=p) for p, acc in history))
    message = prompts.DESCRIBER.format(n=len(batch) // 2, rows=shown, history=past,
                                       extra=f"\n{extra_prompt}\n" if extra_prompt else "")
    out = client.chat([{"role": "system", "content": prompts.DESCRIBER_SYSTEM},
                       {"role": "user", "content": message}], max_tokens=max_tokens)
    return out.text.strip(), out.truncated


def batches(seen_positions: list[int], batch_size: int, epochs: int):
    for epoch in range(1, epochs + 1):
        for start in range(0, len(seen_positions), batch_size):
            yield epoch, seen_positions[start:start + batch_size]


@table_step(deps=reads(ROWS), layer=MODEL, kinds={"duckdb", LLM_KIND}, pool=model_pool("describer", "classifier"))
def iterations(context: dg.AssetExecutionContext, config: IterationsConfig, llm: LLM, warehouse: Warehouse) -> Written:
    """The describer's description per iteration, and the classifier's P(A) per row and stage."""
    rows = warehouse.query(ROWS)
    describer = llm.client("describer", context, model=config.model)
    classifier = llm.client("classifier", context, model=config.model)
    seen = sorted(rows.loc[rows.split == "seen", "idx"].unique().tolist())
    unseen = sorted(rows.loc[rows.split == "unseen", "idx"].unique().tolist())
    if config.max_unseen_per_iteration:
        unseen = unseen[: config.max_unseen_per_iteration]
    plan = list(batches(seen, config.batch_size, config.epochs))
    described, predictions, history = [], [], []
    calls = sum(len(rows[rows.idx.isin(p) | rows.idx.isin(unseen)]) for _, p in plan) + len(rows)
    progress = Progress(context, "classifier", calls, every=20)
    for iteration, (epoch, positions) in enumerate(plan, start=1):
        batch = rows[rows.idx.isin(positions)]
        description, truncated = describe(describer, batch, history, config.extra_prompt,
                                          config.description_max_tokens)
        tested = rows[rows.idx.isin(positions) | rows.idx.isin(unseen)]
        for r in tested.itertuples():
            predictions.append({"stage": "loop", "iteration": iteration, "row_id": r.row_id,
                                **classify(classifier, description, r.text)})
            progress.step()
        done = [p for p in predictions[-len(tested):] if p["p_a"] is not None]
        by_id = dict(zip(rows.row_id, rows.side))
        seen_done = [p for p in done if p["row_id"] in set(batch.row_id)]
        accuracy = (np.mean([(p["p_a"] >= 0.5) == (by_id[p["row_id"]] == "A") for p in seen_done])
                    if seen_done else float("nan"))  # shown to the next describer call
        history.append((description, accuracy))
        described.append({"iteration": iteration, "epoch": epoch, "batch_positions": positions,
                           "description": description, "rows_shown": len(batch),
                           "describer_input_truncated": truncated})
        context.log.info(f"iteration {iteration}/{len(plan)}: accuracy on its batch {accuracy:.2f}")
    final = history[-1][0]
    for r in rows.itertuples():
        predictions.append({"stage": "final", "iteration": len(plan), "row_id": r.row_id,
                            **classify(classifier, final, r.text)})
        progress.step()
    frame = pd.DataFrame(predictions)
    return Written({"iterations": pd.DataFrame(described), "predictions": frame}, {"predictions": {
        "abstained": int(frame.abstained.sum()), "input_truncated": int(frame.input_truncated.sum())}})
