"""The tools of MCP servers (Model Context Protocol) as visual tools, on the official ``mcp`` SDK's own client.

    tools = mcp_tools({"vision": {"transport": "stdio", "command": "python", "args": ["vision_server.py"]},
                       "ocr": {"transport": "streamable_http", "url": "http://127.0.0.1:8000/mcp"}})
    agent = create_visual_agent(tools=["zoom", *tools])

The configuration is ``langchain-mcp-adapters``' ``MultiServerMCPClient`` format (a JSON file of it works too, and
Claude Desktop's ``{"mcpServers": {...}}``). The adapters themselves are not used: their latest release (0.3.2) pins
``mcp<2``, while vLLM 0.32 requires ``mcp>=2`` — the two cannot share an environment. LangChain tools a user built
with the adapters elsewhere still work here, as LangChain tools.

What a model sees and gets:
- a tool's name, description and input schema, as the server lists them; an input property named ``image`` (a
  string) receives the episode's original image as a ``data:image/png;base64,…`` URL, ``images`` every image so
  far — the model writes neither;
- image content (``ImageContent``) is an image observation (it counts for the reward's tool bonus), after the limits
  every input image passes; text content is a text observation; audio and resources become a text saying the model
  cannot see them; a result the server marks ``isError`` is an ``Error: …`` observation.

How it runs: one background thread runs an event loop that owns every session (an MCP session belongs to the loop
that opened it), so graphs on any loop — and ``graph.invoke`` without one — call through it; one session carries
many calls at once (64 one-second calls take about one second). A server is connected when the tools are made: a
malformed config, a command that does not exist or a server that never answers its handshake is an
:class:`~deepeyes_agent.errors.InputError` naming the server (the CLI exits 2) before any episode runs. A server that
dies mid-episode, hangs past ``tool_timeout_s`` or refuses a call gives an error observation and the episode goes
on; the next call reconnects.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import threading
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InputError, ToolError
from ..extras import require
from .base import ToolContext, ToolResult, VisualTool, purpose_of
from .content import content_to_result
from .langchain import image_data_url
from .schema import parameters_schema

INJECTED = ("image", "images")
HTTP = ("streamable_http", "http", "streamable-http")


class ServerSpec(BaseModel):
    """One server of the configuration (``MultiServerMCPClient``'s keys, and this library's time limits)."""

    model_config = ConfigDict(extra="forbid")

    transport: Literal["stdio", "streamable_http", "http", "streamable-http"] = "stdio"
    command: str | None = Field(None, description="stdio: the program that runs the server")
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = Field(None, description="stdio: added to a minimal environment (HOME, PATH, …)")
    cwd: str | None = None
    encoding: str = "utf-8"
    encoding_error_handler: Literal["strict", "ignore", "replace"] = "strict"
    url: str | None = Field(None, description="streamable HTTP: the server's endpoint (…/mcp)")
    headers: dict[str, str] | None = None
    timeout: float = Field(30.0, gt=0, description="streamable HTTP: seconds to connect")
    sse_read_timeout: float = Field(300.0, gt=0, description="streamable HTTP: seconds a response may stream")
    terminate_on_close: bool = True
    startup_timeout_s: float = Field(30.0, gt=0, description="seconds the server may take to answer its handshake")
    tool_timeout_s: float = Field(60.0, gt=0, description="seconds a call may take before it is an error")

    def describe(self) -> str:
        return self.url if self.transport in HTTP else " ".join([self.command or "", *self.args])


def read_servers(config: dict | str | Path) -> dict[str, dict]:
    """The servers of a configuration (a mapping, or a JSON file's path), checked: each server's settings as a plain
    mapping (what :class:`~deepeyes_agent.graphs.AgentConfig` keeps and OpenRLHF's workers receive)."""
    where = "MCP configuration"
    if isinstance(config, (str, Path)):
        where = str(config)
        try:
            config = json.loads(Path(config).read_text())
        except OSError as exc:
            raise InputError(f"--mcp {where}: cannot read it ({exc.strerror or exc})") from exc
        except json.JSONDecodeError as exc:
            raise InputError(f"--mcp {where}: not valid JSON ({exc})") from exc
    if isinstance(config, dict) and isinstance(config.get("mcpServers"), dict):  # Claude Desktop's layout
        config = config["mcpServers"]
    if not isinstance(config, dict) or not config:
        raise InputError(f"{where}: expected a mapping of server names to settings, got {str(config)[:80]}")
    servers = {}
    for name, settings in config.items():
        if not isinstance(settings, dict):
            raise InputError(f"{where}: MCP server {name!r}: expected a mapping of settings")
        settings = dict(settings)
        if "transport" not in settings:  # the Claude Desktop layout names none
            settings["transport"] = "streamable_http" if "url" in settings else "stdio"
        try:
            spec = ServerSpec.model_validate(settings)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
            raise InputError(f"{where}: MCP server {name!r}: {problems}") from exc
        if spec.transport == "stdio" and not spec.command:
            raise InputError(f"{where}: MCP server {name!r}: a stdio server needs a command")
        if spec.transport in HTTP and not spec.url:
            raise InputError(f"{where}: MCP server {name!r}: a streamable HTTP server needs a url")
        servers[name] = spec.model_dump(exclude_defaults=True, mode="json") | {"transport": spec.transport}
    return servers


def mcp_tools(config: dict | str | Path) -> list[McpTool]:
    """Every tool of every server in ``config`` (see the module docstring), the servers connected now."""
    servers = {name: ServerSpec.model_validate(spec) for name, spec in read_servers(config).items()}
    require("mcp", "mcp", "MCP servers' tools")
    connections = [_runtime().connection(name, spec) for name, spec in servers.items()]
    _runtime().run(_gather(*(c.ensure() for c in connections)))
    return [McpTool(c, tool) for c in connections for tool in c.tools]


class McpTool(VisualTool):
    """One tool of a connected MCP server."""

    is_async = True
    args_schema = None

    def __init__(self, connection: _Connection, tool):
        self.connection = connection
        self.name = tool.name
        self.description = (tool.description or tool.name).strip()
        self.purpose = purpose_of(self.description.split("\n")[0])
        self.timeout_s = connection.spec.tool_timeout_s
        schema = dict(tool.input_schema or {})
        properties = dict(schema.get("properties") or {})
        self.injected = [k for k in INJECTED if k in properties]
        for key in self.injected:
            del properties[key]
        required = [k for k in schema.get("required") or [] if k not in self.injected]
        self.schema = {**schema, "properties": properties, "required": required}

    def parameters(self) -> dict:
        return parameters_schema(self.schema)

    async def arun(self, context: ToolContext, arguments: dict) -> ToolResult:
        payload = dict(arguments)
        if "image" in self.injected:
            payload["image"] = image_data_url(context.original)
        if "images" in self.injected:
            payload["images"] = [image_data_url(img) for img in context.images]
        result = await _runtime().acall(self.connection.call(self.name, payload, self.timeout_s))
        if result.is_error:
            text = " ".join(getattr(c, "text", "") for c in result.content).strip() or "the tool reported an error"
            raise ToolError(f"Error: {text}", f"{self.connection.name}/{self.name} reported an error: {text[:200]}")
        return content_to_result(list(result.content), self.name)


class _Connection:
    """One server's session, owned by a task on the runtime's loop (an MCP session must be closed by the task that
    opened it); calls are tasks of their own, so a transport that fails never cancels a caller. Every method runs on
    the runtime's loop."""

    def __init__(self, name: str, spec: ServerSpec):
        self.name, self.spec = name, spec
        self.session = None
        self.tools: list = []
        self.dead = False
        self._owner: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def alive(self) -> bool:
        session = self.session
        return (
            session is not None
            and not self.dead
            and self._owner is not None
            and not self._owner.done()
            # stdio: a server that died leaves the owner waiting at end-of-file; the session knows it is closed
            and not getattr(getattr(session, "_dispatcher", None), "_closed", False)
        )

    async def ensure(self) -> None:
        """Connected (again, after a failure); a server that cannot be reached is an InputError naming it."""
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self.alive:
                return
            await self.close()
            self._stop = asyncio.Event()
            ready = asyncio.get_running_loop().create_future()
            self._owner = asyncio.create_task(self._own(ready), name=f"mcp-{self.name}")
            await ready
            self.dead = False

    async def _own(self, ready: asyncio.Future) -> None:
        import anyio
        from mcp import ClientSession

        try:
            async with AsyncExitStack() as stack:
                read, write = await self._transport(stack)
                session = await stack.enter_async_context(ClientSession(read, write))
                with anyio.fail_after(self.spec.startup_timeout_s):
                    await session.initialize()
                    self.tools = await _list_tools(session)
                self.session = session
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:  # noqa: BLE001 - anyio's exception groups, cancellation: all reported
            if not ready.done():
                ready.set_exception(self._start_error(_leaf(exc)))
        finally:
            self.session = None

    async def _transport(self, stack: AsyncExitStack):
        spec = self.spec
        if spec.transport in HTTP:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    headers=spec.headers,
                    timeout=httpx2.Timeout(spec.timeout, read=spec.sse_read_timeout),
                    limits=httpx2.Limits(max_connections=None, max_keepalive_connections=64),
                )
            )
            return await stack.enter_async_context(
                streamable_http_client(spec.url, http_client=http, terminate_on_close=spec.terminate_on_close)
            )
        import os

        from mcp import StdioServerParameters, stdio_client

        params = StdioServerParameters(
            command=spec.command,
            args=spec.args,
            env=spec.env,
            cwd=spec.cwd,
            encoding=spec.encoding,
            encoding_error_handler=spec.encoding_error_handler,
        )
        errlog = stack.enter_context(open(os.devnull, "w"))  # noqa: SIM115 - a server's log is not the user's output
        return await stack.enter_async_context(stdio_client(params, errlog=errlog))

    def _start_error(self, exc: BaseException) -> InputError:
        server = f"MCP server {self.name!r} ({self.spec.describe()})"
        if isinstance(exc, FileNotFoundError) and self.spec.transport == "stdio":
            missing = "its cwd" if self.spec.cwd and not Path(self.spec.cwd).is_dir() else "its command"
            return InputError(f"{server}: {missing} does not exist ({exc.strerror or exc})")
        if isinstance(exc, TimeoutError):
            return InputError(f"{server} did not answer its handshake within {self.spec.startup_timeout_s:g} s")
        return InputError(f"{server} did not start: {type(exc).__name__}: {exc}")

    async def call(self, tool: str, arguments: dict, timeout: float):
        """One call; a server that is down, closed the connection or timed out is a ToolError (the connection is
        marked dead, so the next call reconnects)."""
        from mcp import MCPError

        try:
            await self.ensure()
        except InputError as exc:
            raise ToolError(f"Error: the {self.name} server is unavailable", str(exc), kind="unavailable") from exc
        try:
            return await self.session.call_tool(tool, arguments, read_timeout_seconds=timeout)
        except MCPError as exc:
            import mcp_types

            if exc.code == mcp_types.REQUEST_TIMEOUT:
                raise ToolError(f"Error: {tool} took longer than {timeout:g} s", f"{self.name}/{tool}: {exc}",
                                kind="timeout") from exc  # fmt: skip
            if exc.code == mcp_types.CONNECTION_CLOSED:
                self.dead = True
                raise ToolError(f"Error: the {self.name} server closed the connection", f"{self.name}/{tool}: {exc}",
                                kind="unavailable") from exc  # fmt: skip
            raise ToolError(f"Error: {exc.message}", f"{self.name}/{tool}: {exc}", kind="failed") from exc
        except (AttributeError, ConnectionError, OSError) as exc:  # the session vanished under the call
            self.dead = True
            raise ToolError(f"Error: the {self.name} server is unavailable", f"{self.name}/{tool}: {exc!r}",
                            kind="unavailable") from exc  # fmt: skip

    async def close(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._owner is not None and not self._owner.done():
            await asyncio.wait({self._owner}, timeout=10)
        self._owner = None


async def _list_tools(session) -> list:
    import mcp_types

    tools, cursor = [], None
    while True:
        page = await session.list_tools(params=mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            return tools


async def _gather(*coroutines) -> list:
    return await asyncio.gather(*coroutines)


def _leaf(exc: BaseException) -> BaseException:
    """The one exception inside anyio's nested exception groups."""
    while len(getattr(exc, "exceptions", None) or ()) == 1:  # BaseExceptionGroup (a backport on Python 3.10)
        exc = exc.exceptions[0]
    return exc


class _Runtime:
    """The background event loop that owns every MCP session of this process, and the bridge to it."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="mcp-client", daemon=True)
        self.thread.start()
        self.connections: dict[str, _Connection] = {}
        self.lock = threading.Lock()
        atexit.register(self.close)

    def connection(self, name: str, spec: ServerSpec) -> _Connection:
        """The connection to a server, shared by every toolbox of this process that names it alike."""
        key = json.dumps([name, spec.model_dump(mode="json")], sort_keys=True)
        with self.lock:
            if key not in self.connections:
                self.connections[key] = _Connection(name, spec)
            return self.connections[key]

    def run(self, coroutine, timeout: float | None = None) -> Any:
        """Run on the runtime's loop and wait (from a thread that is not the runtime's)."""
        if threading.current_thread() is self.thread:
            raise RuntimeError("an MCP call from the MCP client's own thread would wait on itself")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def acall(self, coroutine) -> Any:
        """Await on the runtime's loop from any other loop (cancelling the caller cancels the call)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def close(self) -> None:
        if not self.loop.is_running():
            return
        try:
            self.run(_gather(*(c.close() for c in self.connections.values())), timeout=15)
        except Exception:  # noqa: BLE001 - at exit, a server that will not stop is left to its own end-of-file
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)


_RUNTIME: _Runtime | None = None
_RUNTIME_LOCK = threading.Lock()


def _runtime() -> _Runtime:
    global _RUNTIME
    with _RUNTIME_LOCK:
        if _RUNTIME is None:
            _RUNTIME = _Runtime()
        return _RUNTIME
