"""Judges for the accuracy term: multiple-choice, exact match, and an LLM judge on any OpenAI-compatible
endpoint (DeepEyes used Qwen2.5-72B with a 7-shot "Judgement: 1/0" prompt, DeepEyes' judge: docs/deepeyes.md).

A judge returns 1.0 or 0.0. The LLM judge retries with backoff and then raises :class:`JudgeError`:
a failing judge must never turn into a silent zero reward.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Protocol

from .answer_match import chosen_option, exact_correct
from .rows import EvalRow


class JudgeError(RuntimeError):
    pass


@dataclass(frozen=True)
class Truth:
    """What a row says is right: an option index (with the options) or a free-form answer."""

    answer: str
    options: tuple[str, ...] | None = None
    answer_index: int | None = None
    question: str = ""

    @classmethod
    def of(cls, row: EvalRow) -> Truth:
        """What the judge compares a prediction with: the right option (with the options), or the free-form answer."""
        question = row.extra.get("judge_question", row.question.strip())
        if row.options is not None:
            return cls(answer=row.truth_text, options=row.options, answer_index=row.answer_index, question=question)
        return cls(answer=row.truth_text, question=question)


class Judge(Protocol):
    def __call__(self, prediction: str | None, truth: Truth) -> float: ...


class OptionJudge:
    """Letter or option-text match (DeepEyes' V* rules); falls back to exact match without options."""

    def __call__(self, prediction: str | None, truth: Truth) -> float:
        if truth.options is not None and truth.answer_index is not None:
            return float(chosen_option(prediction, truth.options) == truth.answer_index)
        return float(exact_correct(prediction, truth.answer))


class ExactJudge:
    def __call__(self, prediction: str | None, truth: Truth) -> float:
        return float(exact_correct(prediction, truth.answer))


# DeepEyes' judge prompt, byte for byte (``vl_agent.py`` for training; ``eval/judge_result.py`` writes the
# standard answers of multiple-choice rows as "A. <option>" and changes two examples accordingly).
JUDGE_INSTRUCTION = (
    "\nBelow are two answers to a question. Question is [Question], [Standard Answer] is the standard answer to the "
    "question, and [Model_answer] is the answer extracted from a model's output to this question.  Determine whether "
    "these two answers are consistent.\nNote that [Model Answer] is consistent with [Standard Answer] whenever they are "
    "essentially the same. If the meaning is expressed in the same way, it is considered consistent, for example, "
    "'pink' and 'it is pink'.\nIf they are consistent, Judement is 1; if they are different, Judement is 0. Just "
    "output Judement and don't output anything else.\n\n\n"
)
JUDGE_EXAMPLES = [  # (question, standard answer, model answer, judgement) — training (vl_agent.py)
    ("Is the countertop tan or blue?", "The countertop is tan.", "tan", 1),
    ("On which side of the picture is the barrier?", "The barrier is on the left side of the picture.", "left", 1),
    ("Is the kite brown and large?", "Yes, the kite is brown and large.", "Yes", 1),
    ("Are the spots on a giraffe?", "No, the spots are on a banana.", "no", 1),
    ("Who is wearing pants?", "The boy is wearing pants.", "The person in the picture is wearing pants.", 1),
    ("Is the man phone both blue and closed?", "Yes, the man phone is both blue and closed.", "No.", 0),
    (
        "What color is the towel in the center of the picture?",
        "The towel in the center of the picture is blue.",
        "The towel in the center of the picture is pink.",
        0,
    ),
]
OPTION_JUDGE_EXAMPLES = [  # the V* eval's variant (judge_result.py): standard answers carry their letter
    ("Is the countertop tan or blue?", "A. The countertop is tan.", "tan", 1),
    ("On which side of the picture is the barrier?", "A. The barrier is on the left side of the picture.", "A", 1),
    ("Is the kite brown and large?", "A. Yes, the kite is brown and large.", "Yes", 1),
    ("Are the spots on a giraffe?", "A. No, the spots are on a banana.", "no", 1),
    ("Who is wearing pants?", "A. The boy is wearing pants.", "C. The girl in the picture is wearing pants.", 0),
    ("Is the man phone both blue and closed?", "A. Yes, the man phone is both blue and closed.", "No.", 0),
    (
        "What color is the towel in the center of the picture?",
        "A. The towel in the center of the picture is blue.",
        "The towel in the center of the picture is pink.",
        0,
    ),
]


def judge_prompt(question: str, truth: str, prediction: str, examples=JUDGE_EXAMPLES) -> str:
    shots = "".join(
        f"\n[Question]: {q}\n[Standard Answer]: {a}\n[Model_answer] : {m}\nJudgement: {j}\n\n\n"
        for q, a, m, j in examples
    )
    return (
        JUDGE_INSTRUCTION
        + shots
        + f"\n[Question]: {question}\n[Standard Answer]: {truth}\n[Model_answer] : {prediction}\nJudgement:"
    )


def parse_judgement(reply: str) -> float | None:
    """DeepEyes' reading: after "Judgement:", a "1" anywhere → 1, else a "0" → 0; without it, exactly "1" or "0".
    Anything else is None — retried here, where DeepEyes counted it 0."""
    reply = reply.strip()
    if "Judgement:" in reply:
        text = reply.split("Judgement:")[-1].strip()
        return 1.0 if "1" in text else 0.0 if "0" in text else None
    return {"1": 1.0, "0": 0.0}.get(reply)


JUDGE_API_KEY_ENV = "DEEPEYES_JUDGE_API_KEY"


class LLMJudge:
    """An OpenAI-compatible chat endpoint as judge; unparsable replies count as failures and are retried.

    The API key comes from ``api_key`` or the environment (``DEEPEYES_JUDGE_API_KEY``), never from a config
    file, so it is not written into run folders, agent settings or printed commands."""

    def __init__(
        self,
        base_url: str,
        model: str = "judge",
        api_key: str | None = None,
        *,
        retries: int = 4,
        timeout: float = 60.0,
        backoff: float = 1.0,
        temperature: float = 0.3,
        client=None,
    ):
        if client is None:
            import os

            from openai import OpenAI

            key = api_key or os.environ.get(JUDGE_API_KEY_ENV) or "EMPTY"
            client = OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=0)
        self.client, self.model, self.base_url = client, model, base_url
        self.retries, self.backoff, self.temperature = retries, backoff, temperature

    def __call__(self, prediction: str | None, truth: Truth) -> float:
        if prediction is None or not prediction.strip():
            return 0.0  # nothing to judge: no answer was given
        answer = truth.answer
        if truth.options is not None and truth.answer_index is not None:
            direct = chosen_option(prediction, truth.options, sentences=False)
            if direct is not None:  # a letter or an exact option: no need to ask
                return float(direct == truth.answer_index)
            answer = f"{'ABCDEF'[truth.answer_index]}. {truth.options[truth.answer_index]}"
        examples = (
            OPTION_JUDGE_EXAMPLES if truth.options is not None and truth.answer_index is not None else JUDGE_EXAMPLES
        )
        prompt = judge_prompt(truth.question, answer, prediction.strip(), examples)
        last: Exception | str | None = None
        for attempt in range(self.retries + 1):
            try:
                reply = self.client.chat.completions.create(
                    model=self.model,
                    temperature=self.temperature,
                    messages=[
                        {"role": "system", "content": "You are a helpful assistant."},
                        {"role": "user", "content": prompt},
                    ],
                )
                verdict = parse_judgement(reply.choices[0].message.content or "")
                if verdict is not None:
                    return verdict
                last = f"unparsable reply {reply.choices[0].message.content!r}"
            except Exception as exc:  # connection refused, timeout, HTTP 5xx, garbage JSON
                last = exc
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt * (1 + random.random() * 0.1))
        raise JudgeError(f"LLM judge at {self.base_url} failed {self.retries + 1} times; last error: {last}")


def make_judge(kind: str = "option", url: str | None = None, model: str = "judge") -> Judge:
    """``option`` (letter / option text, the default), ``exact`` (normalised string), or ``llm`` (an
    OpenAI-compatible endpoint at ``url``)."""
    if kind == "llm":
        if not url:
            raise ValueError("judge 'llm' needs a judge URL (an OpenAI-compatible endpoint)")
        return LLMJudge(url, model)
    if kind == "exact":
        return ExactJudge()
    if kind == "option":
        return OptionJudge()
    raise ValueError(f"unknown judge {kind!r}: option, exact or llm")
