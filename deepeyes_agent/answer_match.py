"""Judges: is a predicted answer right? Multiple-choice letter/option match and normalised exact match.

The option judge follows DeepEyes' V* scoring (docs/deepeyes.md, "Evaluation"): strip ``\\boxed{}``; a single letter, a
letter with a dot, or "A. <option>" decides; otherwise the option text itself (normalised) must match
exactly one option; otherwise a sentence that names exactly one option as a whole phrase picks it — the
rule-based stand-in for DeepEyes' LLM judge, whose own positive example is "left" vs "The barrier is on
the left side of the picture." (a negation like "not left" fools this rule; the LLM judge reads it).
Anything else is wrong — never guessed.
"""

from __future__ import annotations

import re
import string

from .protocol import OPTION_LETTERS

_BOXED = re.compile(r"\\boxed\{(.*)\}", re.DOTALL)
_LEAD_LETTER = re.compile(r"^\(?([A-F])[.:)]")  # "B.", "B)", "(B)", "B: text" — not "A red sign"


def normalise(text: str) -> str:
    text = text.lower().strip()
    text = "".join(c for c in text if c not in string.punctuation)
    return " ".join(text.split())


def chosen_option(
    prediction: str | None, options: list[str] | tuple[str, ...], *, sentences: bool = True
) -> int | None:
    """The index of the option a prediction picks, or None when it picks none (or several). ``sentences=False``:
    letters and exact option text only (an LLM judge reads the rest, negations included)."""
    if prediction is None:
        return None
    text = prediction.strip()
    if m := _BOXED.search(text):
        text = m.group(1).strip()
    n = len(options)
    letter = (
        text if len(text) == 1 and text in OPTION_LETTERS else (m.group(1) if (m := _LEAD_LETTER.match(text)) else None)
    )
    if letter is not None:
        index = OPTION_LETTERS.index(letter)
        return index if index < n else None
    norm, opts = normalise(text), [normalise(o) for o in options]
    matches = [i for i, o in enumerate(opts) if o == norm]
    if matches or not sentences:
        return matches[0] if len(matches) == 1 else None
    named = [i for i, o in enumerate(opts) if o and re.search(rf"\b{re.escape(o)}\b", norm)]
    # "vertical stripes" names "stripes" too: an option inside another named option does not count
    named = [i for i in named if not any(j != i and opts[i] in opts[j] for j in named)]
    return named[0] if len(named) == 1 else None


def option_correct(prediction: str | None, options, answer_index: int) -> bool:
    return chosen_option(prediction, options) == answer_index


def exact_correct(prediction: str | None, truth: str) -> bool:
    return prediction is not None and normalise(prediction) == normalise(truth)
