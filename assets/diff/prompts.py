"""Prompts of the dataset-difference loop: the describer writes, the classifier answers A or B."""

DESCRIBER_SYSTEM = (
    "You compare two datasets of texts, A and B, and describe how they differ, so that someone "
    "who sees a single text could tell which dataset it came from."
)

DESCRIBER = """Here are {n} texts from dataset A and {n} from dataset B.

{rows}
{history}{extra}
Write a short description of how texts of A differ from texts of B: style, length, content,
tone, format. Write it as instructions for a classifier that sees one text at a time and must
say whether it comes from A or B. Answer with the description only."""

HISTORY = """
Earlier descriptions and how well a classifier did with them (accuracy on the texts it was
tested on):
{entries}
Improve on them.
"""

HISTORY_ENTRY = "- (accuracy {accuracy}) {prompt}"

ROW = "[{side}{index}] {text}"

# Label-bias control: every text is classified twice, with the answer tokens swapped
# (label_a, label_b) = ("A", "B") and then ("B", "A"); averaging cancels a bias for one token.
CLASSIFIER = """Two datasets of texts, A and B, differ as follows:
{description}

Text:
{text}

Does this text come from dataset A or dataset B? Answer '{label_a}' if it comes from dataset A
and '{label_b}' if it comes from dataset B. Answer only with '{label_a}' or '{label_b}'."""
