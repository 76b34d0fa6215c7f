"""The DeepEyes reward from structured trajectories, and the judges."""

import itertools

import pytest

from deepeyes_agent.judges import JudgeError, LLMJudge, OptionJudge, Truth, judge_prompt, parse_judgement
from deepeyes_agent.rl.reward import RewardConfig, compute_reward
from deepeyes_agent.trajectory import ActionSegment, ObservationSegment, Trajectory

TRUTH = Truth(answer="red", options=("blue", "red"), answer_index=1, question="Which colour?")


def _traj(answer: str | None, crop: bool, format_error: bool, tool_error: bool = False) -> Trajectory:
    segs = []
    if crop or tool_error:
        segs.append(
            ActionSegment(
                token_ids=[1],
                logprobs=[0.0],
                text="call",
                finish_reason="stop",
                tool_call={"name": "image_zoom_in_tool", "arguments": {}},
            )
        )
        segs.append(
            ObservationSegment(
                token_ids=[2],
                image="sha256:" + "0" * 64 if crop else None,
                error=None if crop else "Error: ZOOM IN ARGUMENTS ARE INVALID",
            )
        )
    segs.append(
        ActionSegment(
            token_ids=[3],
            logprobs=[0.0],
            text="x",
            finish_reason="stop",
            answer=answer,
            format_errors=["unbalanced <think></think>: 1 vs 0"] if format_error else [],
        )
    )
    return Trajectory(
        prompt_ids=[0], segments=segs, answer=answer, stop_reason="answer" if answer is not None else "no_tool_call"
    )


@pytest.mark.parametrize("correct, crop, fmt_err, long", list(itertools.product([True, False], repeat=4)))
def test_reward_table_matches_the_deepeyes_formula(correct, crop, fmt_err, long):
    answer = ("B" if correct else "A") if not long else ("B" + " " * 999 + "x")
    parts = compute_reward(_traj(answer, crop, fmt_err), TRUTH, OptionJudge())
    acc = 1.0 if correct and not long else 0.0
    fmt = -1.0 if fmt_err or long else 0.0
    tool = 1.0 if acc == 1.0 and crop else 0.0
    assert (parts.accuracy, parts.format, parts.tool) == (acc, fmt, tool)
    assert parts.total == pytest.approx(0.8 * acc + 0.2 * fmt + 1.2 * tool)


def test_reward_values_are_the_six_deepeyes_values():
    values = {
        round(compute_reward(_traj(a, c, f), TRUTH, OptionJudge()).total, 6)
        for a, c, f in itertools.product(["B", "A"], [True, False], [True, False])
    }
    assert values == {2.0, 1.8, 0.8, 0.6, 0.0, -0.2}


def test_error_observations_earn_no_tool_bonus():
    parts = compute_reward(_traj("B", crop=False, format_error=False, tool_error=True), TRUTH, OptionJudge())
    assert parts.tool == 0.0 and parts.total == pytest.approx(0.8)


def test_no_answer_is_a_format_error_with_zero_accuracy():
    parts = compute_reward(_traj(None, crop=True, format_error=False), TRUTH, OptionJudge())
    assert (parts.accuracy, parts.format, parts.tool) == (0.0, -1.0, 0.0)
    assert any("no <answer>" in e for e in parts.format_errors)


def test_weights_are_configurable():
    parts = compute_reward(
        _traj("B", True, False), TRUTH, OptionJudge(), RewardConfig(accuracy_weight=1, tool_weight=0.5)
    )
    assert parts.total == pytest.approx(1.5)


class _Fake:
    """An OpenAI-client-shaped object: ``chat.completions.create`` replies from a list (exceptions raise)."""

    def __init__(self, replies):
        self.replies, self.calls = list(replies), 0
        self.chat = self
        self.completions = self

    def create(self, **kwargs):
        self.calls += 1
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        msg = type("M", (), {"content": reply})
        return type("R", (), {"choices": [type("C", (), {"message": msg})]})


def test_llm_judge_retries_then_succeeds():
    fake = _Fake([ConnectionError("refused"), "maybe", "Judgement: 1"])
    judge = LLMJudge("http://127.0.0.1:9", client=fake, backoff=0)
    assert judge("it is red", TRUTH) == 1.0 and fake.calls == 3


def test_llm_judge_raises_after_retries_never_a_silent_zero():
    fake = _Fake([TimeoutError("slow")] * 3)
    judge = LLMJudge("http://127.0.0.1:9", client=fake, retries=2, backoff=0)
    with pytest.raises(JudgeError, match="127.0.0.1:9.*3 times"):
        judge("it is red", TRUTH)


def test_llm_judge_skips_the_call_for_a_letter():
    fake = _Fake([])
    assert LLMJudge("http://x", client=fake)("B", TRUTH) == 1.0 and fake.calls == 0


def test_llm_judge_reads_sentences_itself():
    """A sentence naming an option goes to the LLM (it reads negations), unlike the rule-based option judge."""
    fake = _Fake(["Judgement: 0"])
    assert LLMJudge("http://x", client=fake)("it is not red", TRUTH) == 0.0 and fake.calls == 1


def test_judge_prompt_and_parsing():
    prompt = judge_prompt("Q?", "A. red", "red it is")
    assert prompt.count("Judgement:") == 8 and prompt.endswith("Judgement:")
    assert parse_judgement("Judgement: 1") == 1.0 and parse_judgement("0") == 0.0 and parse_judgement("yes") is None


def test_the_unconditional_tool_bonus_pays_any_crop_for_the_ablation():
    """DeepEyes pays the tool bonus only for a right answer; the ablation pays it for every crop."""
    wrong_with_crop = _traj("A", crop=True, format_error=False)
    assert compute_reward(wrong_with_crop, TRUTH, OptionJudge()).total == pytest.approx(0.0)
    unconditional = RewardConfig(tool_bonus="unconditional")
    assert compute_reward(wrong_with_crop, TRUTH, OptionJudge(), unconditional).total == pytest.approx(1.2)
    no_bonus = RewardConfig(tool_weight=0.0)
    assert compute_reward(
        _traj("B", crop=True, format_error=False), TRUTH, OptionJudge(), no_bonus
    ).total == pytest.approx(0.8)
