"""`python -m assets.acts plan [settings.toml]`: the LLM calls the configured run will make."""

import sys

from assets.acts.cost import from_settings


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "plan":
        print(__doc__)
        return 2
    calls = from_settings(argv[1] if len(argv) > 1 else None)
    for step, n in calls.items():
        print(f"{step:>12}  {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
