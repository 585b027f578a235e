"""Build CJE logs with real policies: prompts, responses, teacher forcing, judge and oracle labels."""
