"""The installed ``deepeyes-agent`` command on bad input: one line on stderr and a documented exit code
(2 bad input, 3 an unavailable backend), never a traceback — unless ``--debug`` asks for it."""

import http.server
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # starts processes or servers

CLI = Path(sys.executable).with_name("deepeyes-agent")


def _run(*args, tmp_path, env=None):
    env = {**os.environ, "DEEPEYES_AGENT_IMAGE_STORE": str(tmp_path / "images"), **(env or {})}
    return subprocess.run(
        [str(CLI), *map(str, args)], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )


def _one_line_error(out, code: int) -> str:
    assert out.returncode == code, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr and "╭" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, says",
    [
        (["--device", "tpu"], "error: --device tpu: unknown device; one of auto | cpu | cuda | cuda:N"),
        (["--dtype", "int8"], "error: Invalid value for '--dtype': 'int8' is not one of 'auto', 'bfloat16', 'float16', 'float32'."),
        (["--model", "org/not-cached"], "error: --model org/not-cached: not in the local Hugging Face cache"),
        (["--model", "org/not-cached", "--revision", "v9"], "error: --model org/not-cached at revision v9: not in the local"),
        (["--max-turns", "x"], "error: Invalid value for '--max-turns': Input should be a valid integer"),
    ],
)  # fmt: skip
def test_a_bad_setting_is_one_line_in_the_projects_words(args, says, tmp_path):
    line = _one_line_error(_run("ask", Path("examples/images/signs.png").resolve(), "q", *args, tmp_path=tmp_path), 2)
    assert line.startswith(says) and "PlacementConfig" not in line and "Value error" not in line


def test_a_missing_image_is_one_line(tmp_path):
    line = _one_line_error(_run("ask", "no-such.png", "q", tmp_path=tmp_path), 2)
    assert line == "error: Invalid value for 'IMAGE': file 'no-such.png' does not exist."


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    buf = io.BytesIO()
    Image.new("RGB", (800, 600), "red").save(buf, "JPEG")
    (folder / "truncated.jpg").write_bytes(buf.getvalue()[:600])
    (folder / "text.png").write_text("not an image at all")
    Image.new("1", (20000, 20000)).save(folder / "bomb.png", optimize=True)  # 400 MP in a few KB
    Image.new("RGB", (20000, 60), "blue").save(folder / "strip.png")
    return folder


@pytest.mark.parametrize(
    "name, says",
    [
        ("truncated.jpg", "cannot decode image"),
        ("text.png", "cannot decode image"),
        ("bomb.png", "decompression-bomb limit"),
        ("strip.png", "aspect ratio"),
    ],
)
def test_a_hostile_image_is_one_line_and_exit_2(name, says, hostile, tiny_dir, tmp_path):
    line = _one_line_error(_run("ask", hostile / name, "q", "--model", tiny_dir, tmp_path=tmp_path), 2)
    assert name in line and says in line


def test_debug_shows_the_traceback(hostile, tiny_dir, tmp_path):
    out = _run("--debug", "ask", hostile / "text.png", "q", "--model", tiny_dir, tmp_path=tmp_path)
    assert out.returncode != 0 and "Traceback" in out.stderr and "ImageError" in out.stderr


def test_a_missing_model_folder_is_bad_input(hostile, tmp_path):
    line = _one_line_error(_run("ask", hostile / "strip.png", "q", "--model", tmp_path / "nope", tmp_path=tmp_path), 2)
    assert "no such folder" in line


def test_a_bad_row_with_strict_is_one_line(tiny_dir, tmp_path):
    (tmp_path / "rows.jsonl").write_text('{"image": "../../etc/passwd", "question": "q", "options": ["a", "b"]}\n')
    line = _one_line_error(
        _run("eval", "--data", "rows.jsonl", "--out", "ev", "--model", tiny_dir, "--strict", tmp_path=tmp_path), 2
    )
    assert "rows.jsonl:1" in line and "escapes the data root" in line


def test_a_bad_config_value_is_one_line(tmp_path):
    (tmp_path / "rows.jsonl").write_text("")
    (tmp_path / "bad.yaml").write_text("lr: fast\n")
    line = _one_line_error(
        _run("train", "--data", "rows.jsonl", "--out", "run", "--config", "bad.yaml", tmp_path=tmp_path), 2
    )
    assert "lr" in line and "valid number" in line


class _Refusing(http.server.BaseHTTPRequestHandler):
    """A server that is up but failing; it records the Authorization header it was sent."""

    seen: list = []

    def do_POST(self):  # noqa: N802
        self.seen.append(self.headers.get("Authorization"))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"error": {"message": "engine dead"}}).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_an_unavailable_server_is_exit_3_and_its_key_is_sent_but_never_printed(hostile, tiny_dir, tmp_path):
    Image.new("RGB", (320, 240), "green").save(tmp_path / "ok.png")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = "sk-server-key-987654321"
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        out = _run(
            "ask",
            "ok.png",
            "q",
            "--model",
            tiny_dir,
            "--server-url",
            url,
            "--save-json",
            "t.json",
            tmp_path=tmp_path,
            env={"DEEPEYES_SERVER_API_KEY": secret},
        )
    finally:
        server.shutdown()
    line = _one_line_error(out, 3)
    assert url in line and "503" in line
    assert _Refusing.seen and all(h == f"Bearer {secret}" for h in _Refusing.seen)
    assert secret not in out.stdout + out.stderr
    assert not any(secret in p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file())


def test_an_unreachable_server_is_exit_3(tiny_dir, tmp_path):
    Image.new("RGB", (320, 240), "green").save(tmp_path / "ok.png")
    line = _one_line_error(
        _run("ask", "ok.png", "q", "--model", tiny_dir, "--server-url", "http://127.0.0.1:9", tmp_path=tmp_path), 3
    )
    assert "http://127.0.0.1:9 did not answer" in line
