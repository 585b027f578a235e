"""A user's behaviours to score (`vibescope arena BATTLES --behaviours FILE`): YAML or JSON, a list
of entries (or {"behaviours": [...]}), each with a `name`, optionally a `description` and whether
the behaviour is `desirable`. StringSight's fixed axes and VibeCheck's vibes come in this shape.
Every mistake is refused naming the file and the entry."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

KEYS = {"name", "description", "desirable"}


def read_behaviours(path: str | Path) -> pd.DataFrame:
    """(name, description, desirable) per entry, in the file's order."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the behaviours file ({exc.strerror})") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml
            data = yaml.safe_load(text)
    except (ValueError, Exception) as exc:  # yaml.YAMLError and json's ValueError alike
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {first}") from None
    if isinstance(data, dict) and set(data) == {"behaviours"}:
        data = data["behaviours"]
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of behaviours (or {{behaviours: [...]}}), got "
                         f"{type(data).__name__}")
    if not data:
        raise ValueError(f"{path}: the list of behaviours is empty")
    rows, seen = [], {}
    for i, entry in enumerate(data, start=1):
        where = f"{path}: entry {i}"
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a mapping with a name, got {type(entry).__name__}")
        unknown = sorted(set(entry) - KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: name, description, desirable")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}: no name (every behaviour needs a non-empty name)")
        name = name.strip()
        if name in seen:
            raise ValueError(f"{where}: duplicate name {name!r} (entry {seen[name]} has it)")
        seen[name] = i
        description = entry.get("description") or ""
        if not isinstance(description, str):
            raise ValueError(f"{where} ({name!r}): description must be text")
        desirable = entry.get("desirable")
        if desirable is not None and not isinstance(desirable, bool):
            raise ValueError(f"{where} ({name!r}): desirable must be true or false, got {desirable!r}")
        rows.append({"name": name, "description": description.strip(), "desirable": desirable})
    return pd.DataFrame(rows)
