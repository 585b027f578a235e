"""Property-based tests of every loader (Hypothesis): shared strategies and assertions."""

import os
import re
from pathlib import Path

from hypothesis import strategies as st

# examples per property and CI run; VIBESCOPE_FUZZ_EXAMPLES raises it for a longer local hunt
EXAMPLES = int(os.environ.get("VIBESCOPE_FUZZ_EXAMPLES", "1000"))

# texts as users' files hold them: any unicode (control characters, emoji, surrogate-free), empty too
text_values = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


def assert_one_line_naming(message: str, path: Path) -> None:
    """A refusal is one line that names the file."""
    assert "\n" not in message.strip(), f"more than one line: {message!r}"
    assert str(path) in message, f"the file is not named: {message!r}"


def line_numbers_named(message: str, path: Path) -> set[int]:
    """The line numbers a message names as `<path>:<line>`."""
    return {int(n) for n in re.findall(re.escape(str(path)) + r":(\d+)", message)}
