"""`memoire mcp` as an agent meets it: the official MCP client, over stdio (the command spawned
as a subprocess, as a desktop agent launches it) and over Streamable HTTP (each request with
its own API key), against the real gRPC server."""

import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from memoire_proto.v1 import account_pb2
from memoire_proto.v1 import account_service_pb2 as apb
from tests.integration.conftest import Server

T = TypeVar("T")
MEMOIRE = str(Path(sys.executable).with_name("memoire"))
TOOLS = {"remember", "recall", "conscious", "history", "forget_memory"}
SAN_FRANCISCO = {
    "content": "Lives in San Francisco",
    "slot": "location.home",
    "value": "San Francisco",
}
DALLAS = {"content": "Lives in Dallas", "slot": "location.home", "value": "Dallas"}

Connect = Callable[[str], AbstractAsyncContextManager[Client]]


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    """Run an async scenario with a bound, so a hung transport fails the test."""

    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), 120)

    return asyncio.run(bounded())


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


def user_key(api_for, app_key: str, user_id: str) -> str:
    """A key that acts for ``user_id`` only, issued with the app's key."""
    accounts = api_for(app_key).accounts
    accounts.CreateUser(apb.CreateUserRequest(user_id=user_id))
    request = apb.CreateApiKeyRequest(scope=account_pb2.API_KEY_SCOPE_USER, user_id=user_id)
    return str(accounts.CreateApiKey(request).secret)


# --- the two transports ---------------------------------------------------------------------


@asynccontextmanager
async def over_stdio(target: str, key: str, *, via_env: bool = False) -> Any:
    """A client of `memoire mcp` spawned as a desktop agent would, with flags or environment."""
    if via_env:
        params = StdioServerParameters(
            command=MEMOIRE, args=["mcp"], env={"MEMOIRE_API_KEY": key, "MEMOIRE_TARGET": target}
        )
    else:
        params = StdioServerParameters(
            command=MEMOIRE, args=["mcp", "--target", target, "--api-key", key]
        )
    with tempfile.TemporaryFile("w+") as errors:
        try:
            async with Client(stdio_client(params, errlog=errors)) as client:
                yield client
        except BaseException:
            errors.seek(0)
            print("memoire mcp stderr:\n" + errors.read(), file=sys.stderr)
            raise


@asynccontextmanager
async def over_http(url: str, key: str) -> Any:
    """A client of the HTTP server that sends ``key`` with every request."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def http_url(server: Server) -> Iterator[str]:
    """`memoire mcp --http --port 0` running as a subprocess; yields its /mcp address."""
    process = subprocess.Popen(
        [MEMOIRE, "mcp", "--http", "--port", "0", "--target", server.target],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:  # keeps draining stderr so the server never blocks on a full pipe
        assert process.stderr is not None
        for line in process.stderr:
            if not found and line.startswith("MCP over HTTP: "):
                found.append(line.removeprefix("MCP over HTTP: ").strip())
                ready.set()
            sys.stderr.write(line)
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(60) and found, "memoire mcp --http did not announce its address"
        yield found[0]
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(params=["stdio", "http"])
def connect(request, server: Server) -> Connect:
    """Opens an MCP client acting with a key, over each transport in turn."""
    if request.param == "stdio":
        return lambda key: over_stdio(server.target, key)
    url = request.getfixturevalue("http_url")
    return lambda key: over_http(url, key)


# --- reading results ------------------------------------------------------------------------


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured result; fails the test on a tool error."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def tool_error(client: Client, tool: str, **arguments: Any) -> str:
    """The text of a tool call that must fail as a tool error (``isError``)."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return " ".join(getattr(block, "text", "") for block in result.content)


def contents(recalled: dict[str, Any]) -> list[str]:
    return [hit["memory"]["content"] for hit in recalled["hits"]]


# --- tests ----------------------------------------------------------------------------------


def test_an_agent_finds_the_memory_tools_and_resources(server: Server, connect: Connect):
    async def scenario() -> None:
        async with connect(server.new_app_key()) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            templates = (await client.list_resource_templates()).resource_templates

        assert set(tools) == TOOLS
        assert tools["recall"].input_schema["required"] == ["query"]
        recall_inputs = tools["recall"].input_schema["properties"]
        assert {"current_only", "categories", "kinds", "as_of"} <= set(recall_inputs)
        assert all(tool.description for tool in tools.values())
        assert tools["forget_memory"].annotations is not None
        assert tools["forget_memory"].annotations.destructive_hint is True
        assert "memoire://users/{user_id}/facts" in {t.uri_template for t in templates}

    run(scenario)


def test_a_new_home_supersedes_the_old_one_and_history_says_why(server: Server, connect: Connect):
    user = new_user()

    async def scenario() -> tuple[dict[str, Any], ...]:
        async with connect(server.new_app_key()) as client:
            old = await call(client, "remember", user_id=user, fact=SAN_FRANCISCO)
            new = await call(client, "remember", user_id=user, fact=DALLAS)
            now = await call(
                client, "recall", user_id=user, query="Where does the user live?",
                current_only=True,
            )  # fmt: skip
            why = await call(client, "history", memory_id=old["memory"]["id"])
        return old, new, now, why

    old, new, now, why = run(scenario)

    assert old["outcome"] == new["outcome"] == "created"
    assert "Lives in Dallas" in contents(now)
    assert "Lives in San Francisco" not in contents(now)
    superseded = [e for e in why["events"] if e["type"] == "superseded"]
    assert superseded, why["events"]
    assert superseded[0]["memory_id"] == old["memory"]["id"]
    assert superseded[0]["related_memory_id"] == new["memory"]["id"]


def test_a_user_key_asking_for_another_user_gets_a_tool_error_naming_the_reason(
    server: Server, connect: Connect, api_for
):
    app_key = server.new_app_key()
    alice, bob = new_user(), new_user()
    key = user_key(api_for, app_key, alice)

    async def scenario() -> tuple[str, dict[str, Any]]:
        async with connect(key) as client:
            refused = await tool_error(client, "recall", user_id=bob, query="where?")
            own = await call(client, "remember", fact=DALLAS)  # no user_id: the key's own user
        return refused, own

    refused, own = run(scenario)

    assert "USER_SCOPE_MISMATCH" in refused
    assert "PERMISSION_DENIED" in refused
    assert own["memory"]["content"] == "Lives in Dallas"


def test_over_stdio_the_key_and_target_may_come_from_the_environment(server: Server, api_for):
    app_key = server.new_app_key()
    alice, bob = new_user(), new_user()
    key = user_key(api_for, app_key, alice)

    async def scenario() -> str:
        async with over_stdio(server.target, key, via_env=True) as client:
            await call(client, "remember", user_id=alice, fact=DALLAS)
            return await tool_error(client, "conscious", user_id=bob)

    assert "USER_SCOPE_MISMATCH" in run(scenario)


def test_the_resources_show_what_holds_now(server: Server, connect: Connect):
    user = new_user()

    async def scenario() -> tuple[Any, Any]:
        async with connect(server.new_app_key()) as client:
            await call(client, "remember", user_id=user, fact=SAN_FRANCISCO)
            await call(client, "remember", user_id=user, fact=DALLAS)
            facts = await client.read_resource(f"memoire://users/{user}/facts")
            essentials = await client.read_resource(f"memoire://users/{user}/conscious")
        return facts, essentials

    read, essentials = run(scenario)

    assert "Dallas" in essentials.contents[0].text
    assert "San Francisco" not in essentials.contents[0].text
    facts = json.loads(read.contents[0].text)["facts"]
    assert [f["content"] for f in facts] == ["Lives in Dallas"]
    assert facts[0]["slot"] == "location.home"
    assert facts[0]["current"] is True


def test_reading_another_users_facts_with_a_user_key_is_refused_with_the_reason(
    server: Server, connect: Connect, api_for
):
    key = user_key(api_for, server.new_app_key(), new_user())

    async def scenario() -> MCPError:
        async with connect(key) as client:
            with pytest.raises(MCPError) as refused:
                await client.read_resource(f"memoire://users/{new_user()}/facts")
        return refused.value

    refused = run(scenario)

    assert refused.data["reason"] == "USER_SCOPE_MISMATCH"
    assert "USER_SCOPE_MISMATCH" in refused.message


def test_forgetting_a_wrong_fact_restores_the_one_it_had_replaced(server: Server, connect: Connect):
    user = new_user()

    async def scenario() -> tuple[dict[str, Any], ...]:
        async with connect(server.new_app_key()) as client:
            await call(client, "remember", user_id=user, fact=SAN_FRANCISCO)
            wrong = await call(client, "remember", user_id=user, fact=DALLAS)
            gone = await call(client, "forget_memory", memory_id=wrong["memory"]["id"])
            now = await call(
                client, "recall", user_id=user, query="Where does the user live?",
                current_only=True, kinds=["fact"],
            )  # fmt: skip
            essentials = await call(client, "conscious", user_id=user)
        return wrong, gone, now, essentials

    wrong, gone, now, essentials = run(scenario)

    assert gone["memory_id"] == wrong["memory"]["id"]
    assert contents(now) == ["Lives in San Francisco"]
    assert "San Francisco" in essentials["prompt_block"]
    assert "Dallas" not in essentials["prompt_block"]


def test_a_message_is_remembered_and_recalled_at_once(server: Server, connect: Connect):
    user = new_user()

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with connect(server.new_app_key()) as client:
            stored = await call(
                client, "remember", user_id=user, message="I adopted a greyhound called Biscuit."
            )
            found = await call(client, "recall", user_id=user, query="What is my dog called?")
        return stored, found

    stored, found = run(scenario)

    assert stored["stored"] == "message"
    assert stored["message_id"]
    assert "I adopted a greyhound called Biscuit." in contents(found)


def test_history_of_an_unknown_memory_is_a_tool_error_naming_the_reason(
    server: Server, connect: Connect
):
    async def scenario() -> str:
        async with connect(server.new_app_key()) as client:
            return await tool_error(client, "history", memory_id=str(uuid.uuid4()))

    assert "MEMORY_NOT_FOUND" in run(scenario)


def test_an_http_request_without_a_key_is_refused(http_url: str):
    request = urllib.request.Request(
        http_url,
        data=b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}',
        headers={"content-type": "application/json", "accept": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)

    assert refused.value.code == 401
    assert json.loads(refused.value.read())["reason"] == "API_KEY_INVALID"


def test_an_http_request_with_a_bad_key_gets_the_servers_refusal(http_url: str):
    async def scenario() -> str:
        async with over_http(http_url, "mem_nope_nope") as client:
            return await tool_error(client, "recall", user_id="user-123", query="where?")

    assert "UNAUTHENTICATED" in run(scenario)
