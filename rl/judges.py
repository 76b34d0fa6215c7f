"""Judges for the accuracy term: multiple-choice, exact match, and an LLM judge on any OpenAI-compatible
endpoint (DeepEyes used Qwen2.5-72B with a 7-shot "Judgement: 1/0" prompt, SPEC §3.1).

A judge returns 1.0 or 0.0. The LLM judge retries with backoff and then raises :class:`JudgeError`:
a failing judge must never turn into a silent zero reward.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Protocol

from deepeyes_agent.judge import chosen_option, exact_correct


class JudgeError(RuntimeError):
    pass


@dataclass(frozen=True)
class Truth:
    """What a row says is right: an option index (with the options) or a free-form answer."""

    answer: str
    options: tuple[str, ...] | None = None
    answer_index: int | None = None
    question: str = ""


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


JUDGE_INSTRUCTION = (
    "Below are two answers to a question. Question is [Question], [Standard Answer] is the standard answer to the "
    "question, and [Model_answer] is the answer extracted from a model's output to this question.  Determine whether "
    "these two answers are consistent.\nNote that [Model Answer] is consistent with [Standard Answer] whenever they are "
    "essentially the same. If the meaning is expressed in the same way, it is considered consistent, for example, "
    "'pink' and 'it is pink'.\nIf they are consistent, Judement is 1; if they are different, Judement is 0. Just "
    "output Judement and don't output anything else.\n\n"
)
JUDGE_EXAMPLES = [
    ("What is the color of the car?", "red", "The car is red.", 1),
    ("Is the barrier on the left or right side of the picture?", "left", "The barrier is on the left side of the picture.", 1),
    ("What is the material of the glove?", "rubber", "leather", 0),
    ("How many people are in the image?", "3", "three", 1),
    ("What is the shape of the sign?", "triangle", "It is a triangle.", 1),
    ("What color is the umbrella?", "blue", "purple", 0),
    ("Which side is the dog on?", "right", "The dog is on the right.", 1),
]


def judge_prompt(question: str, truth: str, prediction: str) -> str:
    shots = "".join(f"[Question]: {q}\n[Standard Answer]: {a}\n[Model_answer] : {m}\nJudgement: {j}\n\n"
                    for q, a, m, j in JUDGE_EXAMPLES)
    return JUDGE_INSTRUCTION + shots + f"[Question]: {question}\n[Standard Answer]: {truth}\n[Model_answer] : {prediction}\nJudgement:"


def parse_judgement(reply: str) -> float | None:
    text = reply.split("Judgement:")[-1].strip()
    if text.startswith("1"):
        return 1.0
    if text.startswith("0"):
        return 0.0
    return None


class LLMJudge:
    """An OpenAI-compatible chat endpoint as judge; unparsable replies count as failures and are retried."""

    def __init__(self, base_url: str, model: str = "judge", api_key: str = "EMPTY", *, retries: int = 4,
                 timeout: float = 60.0, backoff: float = 1.0, temperature: float = 0.3, client=None):
        if client is None:
            from openai import OpenAI

            client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)
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
        prompt = judge_prompt(truth.question, answer, prediction)
        last: Exception | str | None = None
        for attempt in range(self.retries + 1):
            try:
                reply = self.client.chat.completions.create(
                    model=self.model, temperature=self.temperature,
                    messages=[{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": prompt}],
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
