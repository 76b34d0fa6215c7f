"""A graph that takes input from callers it does not trust (served over HTTP): no local paths, capped uploads,
image references confined to their thread; checkpoints that cannot run code; API keys that stay secret."""

import base64
import json
import os
import pickle

import pytest
from conftest import answer, tool_call
from langgraph.checkpoint.memory import InMemorySaver
from PIL import Image

from deepeyes_agent.backends import ScriptedBackend
from deepeyes_agent.graphs import create_visual_agent
from deepeyes_agent.graphs.inputs import LOCAL_PATH_REFUSED
from deepeyes_agent.images import ImageError


def _png_data_url(color=(200, 30, 30), size=(320, 240)) -> str:
    import io

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _graph(processor, store, script, **kwargs):
    return create_visual_agent(ScriptedBackend(processor, script), image_store=store, allow_local_paths=False, **kwargs)


def test_local_paths_are_refused_without_revealing_whether_they_exist(processor, store, scene_path):
    graph = _graph(processor, store, [answer("x")] * 4)
    messages = set()
    for value in (
        str(scene_path),
        f"file://{scene_path}",
        "/no/such/file.png",
        "/etc/passwd",
        "~/.bashrc",
        "relative.png",
    ):
        with pytest.raises(ImageError) as err:
            graph.invoke({"image": value, "question": "q"})
        messages.add(str(err.value))
    assert messages == {LOCAL_PATH_REFUSED}


def test_the_library_default_still_opens_paths(processor, store, scene_path):
    graph = create_visual_agent(ScriptedBackend(processor, [answer("x")]), image_store=store)
    assert graph.invoke({"image": str(scene_path), "question": "q"})["answer"] == "x"


def test_an_image_root_admits_relative_paths_inside_it_only(processor, store, tmp_path, scene_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    Image.new("RGB", (300, 200), "blue").save(root / "sub" / "ok.png")
    (root / "out.png").symlink_to(scene_path)  # a symlink leading out of the root
    graph = _graph(processor, store, [answer("x")] * 8, image_root=root)
    assert graph.invoke({"image": "sub/ok.png", "question": "q"})["answer"] == "x"
    refusals = set()
    for value in (
        "../" + scene_path.name,
        str(root / "sub" / "ok.png"),
        "out.png",
        "sub/missing.png",
        "sub/../../x.png",
    ):
        with pytest.raises(ImageError) as err:
            graph.invoke({"image": value, "question": "q"})
        refusals.add(str(err.value).split(": ", 1)[1])
    assert refusals == {"not an image file under the allowed image root (give a path relative to it)"}


def test_an_oversized_upload_is_refused_before_it_is_decoded(processor, store):
    graph = _graph(processor, store, [answer("x")], max_upload_bytes=1000)
    not_even_base64 = "data:image/png;base64," + "!" * 4000  # decoding would fail differently
    with pytest.raises(ImageError, match="exceeds the upload limit"):
        graph.invoke({"image": not_even_base64, "question": "q"})
    with pytest.raises(ImageError, match="exceeds the upload limit"):
        graph.invoke(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image", "base64": "A" * 4000, "mime_type": "image/png"},
                            {"type": "text", "text": "q"},
                        ],
                    }
                ]
            }
        )


def test_a_thread_may_only_name_the_images_it_produced(processor, store):
    graph = _graph(
        processor,
        store,
        [tool_call([10, 10, 200, 200]), answer("x"), answer("y"), answer("z")],
        checkpointer=InMemorySaver(),
    )
    a, b = {"configurable": {"thread_id": "a"}}, {"configurable": {"thread_id": "b"}}
    first = graph.invoke({"image": _png_data_url(), "question": "q"}, a)
    original, crop = first["trajectory"]["images"]
    # the same thread names its original and its crop again: fine
    assert graph.invoke({"image": original, "question": "again"}, a)["answer"] == "y"
    assert graph.invoke({"image": crop, "question": "the crop"}, a)["answer"] == "z"
    # another thread (another user) cannot, though the image is in the shared store
    assert store.get(original) is not None
    for ref in (original, crop, "sha256:" + "0" * 64):
        with pytest.raises(ImageError) as err:
            graph.invoke({"image": ref, "question": "steal"}, b)
        assert str(err.value) == f"{ref}: unknown image reference"


def test_a_crafted_checkpoint_cannot_run_code_on_resume(tiny_dir, tmp_path):
    """Trainer state is loaded with ``weights_only=True``: a pickle that would run code is refused."""
    import shutil

    from deepeyes_agent.rl.config import TrainConfig
    from deepeyes_agent.rl.trainer import LocalTrainer

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    ckpt = tmp_path / "run" / "checkpoint"
    shutil.copytree(tiny_dir, ckpt)
    with open(ckpt / "trainer_state.pt", "wb") as f:
        pickle.dump({"step": 1, "optimizer": Payload()}, f)
    (ckpt / "COMPLETE").write_text("1")
    rows = tmp_path / "rows.jsonl"
    rows.write_text("")
    with pytest.raises(pickle.UnpicklingError):
        LocalTrainer(TrainConfig(data=rows, out=tmp_path / "run", model=tiny_dir))
    assert not marker.exists()


def test_the_judge_key_stays_in_the_environment(tmp_path, monkeypatch, capsys):
    """An LLM judge's API key reaches the client, but neither the agent settings nor the printed command."""
    from deepeyes_agent.judges import LLMJudge
    from deepeyes_agent.rl.config import TrainConfig
    from deepeyes_agent.rl.openrlhf.command import ClusterConfig
    from deepeyes_agent.rl.openrlhf.launch import prepare_and_launch

    secret = "sk-test-judge-0123456789"
    monkeypatch.setenv("DEEPEYES_JUDGE_API_KEY", secret)
    assert LLMJudge("http://127.0.0.1:9/v1").client.api_key == secret
    Image.new("RGB", (320, 240)).save(tmp_path / "a.png")
    (tmp_path / "rows.jsonl").write_text(json.dumps({"image": "a.png", "question": "q", "options": ["x", "y"]}) + "\n")
    cfg = TrainConfig(
        data=tmp_path / "rows.jsonl",
        out=tmp_path / "run",
        judge="llm",
        judge_url="http://judge:8000/v1",
        prompts_per_step=8,
        rollouts_per_prompt=2,
    )
    assert prepare_and_launch(cfg, ClusterConfig(gpus_per_node=1), dry_run=True) == 0
    printed = capsys.readouterr().out
    files = [p.read_text() for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert "http://judge:8000/v1" in "".join(files)  # the settings were written ...
    assert secret not in printed and not any(secret in text for text in files)  # ... without the key
