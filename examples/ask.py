"""Ask the visual agent a question from Python, with the embedded default model:  python examples/ask.py

Point ``TransformersBackend.from_pretrained`` at a local Qwen2.5-VL-7B / DeepEyes-7B folder for a real
model; the graph, prompt protocol and zoom tool stay the same.
"""

from pathlib import Path

from deepeyes_agent.backends import SamplingParams, TransformersBackend
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.images import ImageStore
from deepeyes_agent.models import default_model_dir
from deepeyes_agent.trace import save_trace
from deepeyes_agent.trajectory import Trajectory


def main() -> None:
    backend = TransformersBackend.from_pretrained(default_model_dir())
    store = ImageStore()
    agent = create_visual_agent(
        backend, store=store,
        config=AgentConfig.for_model(default_model_dir(), max_turns=5, sampling=SamplingParams(max_tokens=128, temperature=0.0)),
    )
    image = Path(__file__).parent / "images" / "signs.png"  # a held-out zoom-world scene
    result = agent.invoke({
        "image": str(image),
        "question": "What pattern is on the orange sign?",
        "options": ["vertical stripes", "diagonal stripes", "checkerboard", "horizontal stripes"],
    })
    traj = Trajectory.model_validate(result["trajectory"])
    print(f"answer: {result['answer']!r}")
    print(f"turns: {traj.turns}, crops: {traj.crops}, tool errors: {traj.tool_errors}, stop: {traj.stop_reason}")
    for obs in traj.observations:
        print(f"  zoom: model box {obs.box_model} -> original {obs.box_original} {obs.error or ''}")
    print(f"trace picture: {save_trace(traj, store, Path('out') / 'ask_trace.png')}")


if __name__ == "__main__":
    main()
