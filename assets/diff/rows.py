"""`diff.rows`: datasets A and B side by side, balanced, split into seen and unseen rows.

Rows keep their order (sorted by `pair_key` when given, and kept to the key values both sides
have; two Inspect logs pair by `sample`, their sample ids), so row i of A and row i of B form
index position i; batches are made from positions without shuffling. A seeded share of the
positions (`test_fraction`) is `unseen`: the describer never sees them, and the headline metrics
are computed on them. When A and B differ in size, the larger is sampled down (seeded, order
kept) and the materialization reports it.
"""

import dagster as dg
import numpy as np
import pandas as pd

from assets.core.tables import Written, one, table_step
from assets.diff.config import RowsConfig
from assets.lineage import INPUT
from resources.datasets import DatasetError, Datasets, named_input
from resources.warehouse import Warehouse


def _side(datasets: Datasets, source: str, column: str, pair_key: str) -> tuple[pd.DataFrame, list[int]]:
    """The side's rows with text, and the source rows left out for an empty or missing text."""
    keys = [column, *([pair_key] if pair_key else [])]
    frame = datasets.load(source, columns=keys, as_text=keys)
    frame = frame.assign(source_row=np.arange(len(frame)), text=frame[column])
    has_text = frame.text.notna() & frame.text.astype(str).str.strip().ne("")
    empty = frame.source_row[~has_text].tolist()
    frame = frame[has_text]
    if frame.empty:
        raise DatasetError(f"{source}: no non-empty text in column {column!r} ({len(empty)} rows, all empty)")
    if pair_key:
        frame = frame.sort_values(pair_key, kind="stable")
    return frame.reset_index(drop=True), empty


def _paired(a: pd.DataFrame, b: pd.DataFrame, key: str, config: RowsConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Both sides kept to the key values they share (a row without its pair pairs with nothing)."""
    shared = set(a[key].astype(str)) & set(b[key].astype(str))
    if not shared:
        raise DatasetError(f"{config.a} and {config.b}: no {key} value in both (A: {a[key].iloc[0]!r}..., "
                           f"B: {b[key].iloc[0]!r}...); pairing needs the same ids on both sides")
    unpaired = {side: frame[~frame[key].astype(str).isin(shared)] for side, frame in (("a", a), ("b", b))}
    report = {f"unpaired_{side}": len(rows) for side, rows in unpaired.items()}
    report.update({f"unpaired_{side}_keys": rows[key].astype(str).tolist()[:20] for side, rows in unpaired.items() if len(rows)})
    return (a[a[key].astype(str).isin(shared)].reset_index(drop=True),
            b[b[key].astype(str).isin(shared)].reset_index(drop=True), report)


def build_rows(config: RowsConfig, datasets: Datasets) -> tuple[pd.DataFrame, dict]:
    if not 0 < config.test_fraction < 1:
        raise DatasetError(f"test_fraction must be in (0, 1), got {config.test_fraction}")
    for key in ("a", "b"):
        named_input(getattr(config, key), f"diff__rows.{key}", "vibescope diff A B")
    # two Inspect logs pair by sample id unless told otherwise
    pair_key = config.pair_key or ("sample" if config.a.endswith(".eval") and config.b.endswith(".eval") else "")
    a, empty_a = _side(datasets, config.a, config.text_column, pair_key)
    b, empty_b = _side(datasets, config.b, config.text_column_b or config.text_column, pair_key)
    paired = {}
    if pair_key:
        a, b, paired = _paired(a, b, pair_key, config)
    n = min(len(a), len(b), config.max_rows or len(a) + len(b))
    rng = np.random.default_rng(config.seed)
    report = {"rows_a": len(a), "rows_b": len(b), "rows_per_side": n, **({"pair_key": pair_key, **paired} if pair_key else {}),
              "empty_texts_a": len(empty_a), "empty_texts_b": len(empty_b)}
    for side, empty in (("a", empty_a), ("b", empty_b)):
        if empty:  # left out, counted, and named (source row numbers, 0-based)
            report[f"empty_text_rows_{side}"] = empty[:20]
    sides, shared_positions = [], None
    if pair_key and len(a) == len(b) > n:  # paired rows are kept or dropped together
        shared_positions = np.sort(rng.choice(len(a), size=n, replace=False))
    for name, frame in (("A", a), ("B", b)):
        if len(frame) > n:  # balance: keep n rows, in their order
            report[f"sampled_{name}"] = f"{n} of {len(frame)}"
            keep = shared_positions if shared_positions is not None else np.sort(rng.choice(len(frame), size=n, replace=False))
            frame = frame.iloc[keep]
        sides.append(frame.reset_index(drop=True).assign(side=name, idx=np.arange(n)))
    unseen = set(rng.choice(n, size=max(1, round(n * config.test_fraction)), replace=False).tolist())
    if len(unseen) == n:
        raise DatasetError(f"{n} rows per side leave no seen rows at test_fraction {config.test_fraction}")
    rows = pd.concat(sides, ignore_index=True)
    rows["split"] = np.where(rows.idx.isin(unseen), "unseen", "seen")
    rows["row_id"] = rows.side + ":" + rows.idx.astype(str)
    rows["pair_value"] = rows[pair_key].astype(str) if pair_key else None
    rows["n_chars"] = rows.text.astype(str).str.len()
    rows["source"] = np.where(rows.side == "A", config.a, config.b)
    columns = ["row_id", "side", "idx", "split", "text", "n_chars", "pair_value", "source", "source_row"]
    return rows[columns].astype({"text": str}), report


@table_step(layer=INPUT)
def rows(context: dg.AssetExecutionContext, config: RowsConfig, datasets: Datasets,
         warehouse: Warehouse) -> Written:
    """Datasets A and B, balanced, with index positions split into seen and unseen."""
    frame, report = build_rows(config, datasets)
    for side, source in (("a", config.a), ("b", config.b)):
        if report[f"empty_texts_{side}"]:
            context.log.warning(f"{source}: {report[f'empty_texts_{side}']} row(s) with an empty or missing text "
                                f"left out (source rows {report[f'empty_text_rows_{side}']})")
    for side in ("a", "b"):
        if report.get(f"unpaired_{side}"):
            context.log.warning(f"{getattr(config, side)}: {report[f'unpaired_{side}']} row(s) whose "
                                f"{report['pair_key']} the other side lacks left out ({report[f'unpaired_{side}_keys']})")
    if report["rows_a"] != report["rows_b"]:
        context.log.warning(f"A has {report['rows_a']} rows and B {report['rows_b']}: "
                            f"each side sampled to {report['rows_per_side']}")
    return one(frame, {**report, "a": config.a, "b": config.b,
                       "text_column_a": config.text_column,
                       "text_column_b": config.text_column_b or config.text_column,
                       "unseen_positions": int((frame.split == "unseen").sum() // 2)})
