"""Ask the visual agent a question from Python, with the embedded default model:  python examples/ask.py

Pass a local Qwen2.5-VL / Qwen3-VL / DeepEyes-7B folder to ``create_visual_agent`` for a real model; the
graph, prompt protocol and zoom tool stay the same.
"""

from pathlib import Path

from deepeyes_agent import AgentConfig, ImageStore, SamplingParams, Trajectory, create_visual_agent
from deepeyes_agent.picture import save_picture


def main() -> None:
    store = ImageStore()
    greedy = AgentConfig(max_turns=5, sampling=SamplingParams(max_tokens=128, temperature=0.0))
    agent = create_visual_agent(config=greedy, image_store=store)  # the folder's system prompt is kept
    image = Path(__file__).parent / "images" / "signs.png"  # a held-out zoom-world scene
    result = agent.invoke(
        {
            "image": str(image),
            "question": "What pattern is on the orange sign?",
            "options": ["vertical stripes", "diagonal stripes", "checkerboard", "horizontal stripes"],
        }
    )
    traj = Trajectory.from_state(result)
    print(f"answer: {result['answer']!r}")
    print(f"turns: {traj.turns}, crops: {traj.crops}, tool errors: {traj.tool_errors}, stop: {traj.stop_reason}")
    for obs in traj.observations:
        print(f"  zoom: model box {obs.box_model} -> original {obs.box_original} {obs.error or ''}")
    print(f"trace picture: {save_picture(traj, store, Path('out') / 'ask_trace.png')}")


if __name__ == "__main__":
    main()
