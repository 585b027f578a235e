"""The records of a W&B run's transaction log (`run-<id>.wandb`), read back for the tests: the
file is a LevelDB-style log (32 KiB blocks of checksummed chunks) after a 7-byte W&B header, each
record a `wandb_internal_pb2.Record`. wandb 0.31 writes it from its Go core and no longer ships a
Python reader, and an offline run writes nothing else of its history or config."""

from pathlib import Path

BLOCK, HEADER = 32768, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path}: not a W&B transaction log")
    pos, chunks, pending = HEADER, [], b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # a block's tail too short for a chunk header is padding
            pos += left
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        chunk, pos = data[pos + HEADER:pos + HEADER + length], pos + HEADER + length
        if kind == FULL:
            chunks.append(chunk)
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            chunks.append(pending + chunk)
    out = []
    for chunk in chunks:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(chunk)
        out.append(record)
    return out


def logged(folder: Path) -> tuple[dict, dict]:
    """(history: key -> value of its last log, config: key -> value) of one offline run folder."""
    import json

    history, config = {}, {}
    for path in folder.glob("run-*.wandb"):
        for record in records(path):
            kind = record.WhichOneof("record_type")
            if kind == "history":
                history.update({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item})
            elif kind in ("config", "run"):  # init's config rides on the run record
                items = record.config.update if kind == "config" else record.run.config.update
                config.update({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items})
    return history, config
