"""`memoire up` runs the whole service from nothing, keeps it running, and leaves nothing behind.

Every test drives the real `memoire` command as a subprocess, as a person or a script would.
"""

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from memoire_proto.v1 import memory_service_pb2 as pb
from memoire_proto.v1 import memory_service_pb2_grpc
from memoire_stack.services import free_port
from tests.integration.helpers import BIN, eventually
from tests.integration.test_http_api import Http
from tests.integration.test_http_edge import another_loopback_address, guess_until_throttled


@dataclass
class Stack:
    """A running `memoire up` and what it printed."""

    proc: subprocess.Popen[str]
    data_dir: Path
    target: str
    http: str
    key: str
    banner: str = ""

    def env(self, **extra: str) -> dict[str, str]:
        return {**stack_env(self.data_dir), **extra}


def stack_env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "MEMOIRE_DATA_DIR": str(data_dir)}
    for name in (
        "MEMOIRE_DATABASE_URL",
        "MEMOIRE_REDIS_URL",
        "MEMOIRE_SECRET_KEY",
        "MEMOIRE_TARGET",
        "MEMOIRE_API_KEY",
        "MEMOIRE_GRPC_PORT",
    ):
        env.pop(name, None)
    return env


def start_stack(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Stack:
    proc = subprocess.Popen(
        [str(BIN / "memoire"), "up", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**stack_env(data_dir), **(env or {})},
    )
    # Lines are read on a thread: select() on the pipe would miss lines already read into the
    # text wrapper's buffer (the banner often arrives in one piece with the line before it).
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    output = proc.stdout

    def read() -> None:
        for line in output:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    seen = ""
    deadline = time.monotonic() + 240
    while "Stop with Ctrl-C" not in seen:
        try:
            seen += lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            proc.kill()
            raise AssertionError(f"memoire up did not come up; printed:\n{seen}") from None
    target = re.search(r"gRPC:\s+(\S+)", seen)
    http = re.search(r"HTTP/JSON:\s+(\S+)", seen)
    key = re.search(r"API key:\s+(\S+)", seen)
    assert target and http and key, seen
    return Stack(proc, data_dir, target.group(1), http.group(1), key.group(1), seen)


def stop_stack(stack: Stack) -> int:
    stack.proc.send_signal(signal.SIGINT)
    return stack.proc.wait(60)


def memoire(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "memoire"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )


def cli(*args: str, target: str, key: str) -> Any:
    out = memoire(*args, "--target", target, "--api-key", key, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error a failed command printed: one line, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- processes -------------------------------------------------------------------------------


def children(pid: int) -> dict[int, str]:
    """Every process whose parent is ``pid``, with its command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found[int(entry.name)] = cmdline
    return found


def postmaster(data_dir: Path) -> int:
    return int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])


def the_child(stack: Stack, marker: str) -> int:
    (pid,) = [p for p, line in children(stack.proc.pid).items() if marker in line]
    return pid


def processes_of(stack: Stack) -> dict[str, int]:
    """The stack's processes by name (the watchdog too)."""
    return {
        "redis": the_child(stack, "redis-server"),
        "worker": the_child(stack, "memoire_cli.main worker"),
        "envoy": the_child(stack, "envoy"),
        "watchdog": the_child(stack, "memoire_stack.supervise"),
        "postgres": postmaster(stack.data_dir),
    }


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def healthz(stack: Stack) -> int:
    try:
        with urllib.request.urlopen(stack.http + "/healthz", timeout=5) as response:
            status: int = response.status
            return status
    except (urllib.error.URLError, OSError):
        return 0


# --- serving and keeping data -----------------------------------------------------------------


def test_memoire_up_serves_ingest_and_recall_and_keeps_data_across_restarts(scratch):
    data_dir = scratch / "stack"
    stack = start_stack(data_dir)
    try:
        stored = cli(
            "ingest", "user-123", "I live in Austin, Texas now.", target=stack.target, key=stack.key
        )
        assert len(stored["message_ids"]) == 1
        found = cli(
            "recall", "user-123", "Where do I live? Austin", target=stack.target, key=stack.key
        )
        assert found["hits"][0]["memory"]["content"] == "I live in Austin, Texas now."
    finally:
        assert stop_stack(stack) == 0

    first_key = stack.key
    stack = start_stack(data_dir)
    try:
        assert stack.key == first_key
        found = cli("recall", "user-123", "Austin", target=stack.target, key=stack.key)
        assert found["hits"][0]["memory"]["content"] == "I live in Austin, Texas now."
    finally:
        assert stop_stack(stack) == 0


# --- the CLI against a running stack -----------------------------------------------------------


@pytest.fixture(scope="module")
def stack(scratch: Path) -> Iterator[Stack]:
    running_stack = start_stack(scratch / "cli-stack")
    yield running_stack
    stop_stack(running_stack)


def test_the_cli_finds_the_server_memoire_up_started_without_a_target(stack):
    # The README's "Try it": no --target, no key, on whatever port the stack took.
    stored = memoire("ingest", "user-9", "I keep bees.", env=stack.env())
    assert stored.returncode == 0, stored.stderr

    found = memoire("recall", "user-9", "bees", env=stack.env())

    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["hits"][0]["memory"]["content"] == "I keep bees."


def test_memoire_target_names_the_server(stack, scratch):
    elsewhere = scratch / "no-stack-here"  # no announced target: MEMOIRE_TARGET decides
    env = {**stack_env(elsewhere), "MEMOIRE_TARGET": stack.target, "MEMOIRE_API_KEY": stack.key}

    found = memoire("recall", "user-9", "bees", env=env)

    assert found.returncode == 0, found.stderr


def test_a_server_that_is_down_is_one_line_and_exit_3(stack, scratch):
    env = {**stack_env(scratch / "no-stack-here"), "MEMOIRE_API_KEY": stack.key}
    env["MEMOIRE_GRPC_PORT"] = str(free_port())

    result = memoire("recall", "user-9", "bees", env=env)

    assert result.returncode == 3
    assert "cannot reach the Mémoire server" in one_line_error(result)
    assert "memoire up" in one_line_error(result)


def test_a_wrong_key_is_one_line_and_exit_4(stack):
    result = memoire(
        "recall", "user-9", "bees", "--api-key", "mem_AAAAAAAAAAAA_wrong", env=stack.env()
    )

    assert result.returncode == 4
    assert "refused the API key" in one_line_error(result)
    assert "--api-key" in one_line_error(result)


def test_a_second_memoire_up_on_the_same_data_is_one_line_and_exit_5(stack):
    result = subprocess.run(
        [str(BIN / "memoire"), "up", "--port", "0"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=stack.env(),
    )

    assert result.returncode == 5
    assert f"another `memoire up` (pid {stack.proc.pid})" in one_line_error(result)


def test_a_grpc_port_in_use_is_one_line_and_exit_5(stack, scratch):
    port = stack.target.rsplit(":", 1)[1]
    env = stack_env(scratch / "second-stack")

    result = subprocess.run(
        [str(BIN / "memoire"), "up", "--port", port, "--no-worker", "--no-http"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )

    assert result.returncode == 5
    assert f"port {port} (gRPC) is in use" in one_line_error(result)


def test_an_http_port_in_use_is_one_line_and_exit_5(stack, scratch):
    port = stack.http.rsplit(":", 1)[1]
    env = stack_env(scratch / "third-stack")

    result = subprocess.run(
        [str(BIN / "memoire"), "up", "--port", "0", "--no-worker", "--http-port", port],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )

    assert result.returncode == 5
    assert f"port {port} (HTTP) is in use" in one_line_error(result)


# --- supervision -----------------------------------------------------------------------------


def test_a_process_of_the_stack_that_dies_is_restarted(stack):
    for name in ("redis", "worker", "envoy", "postgres"):
        before = processes_of(stack)[name]
        os.kill(before, signal.SIGKILL)

        after = eventually(_restarted(stack, name, before), timeout=60)

        assert after != before, name
    # And the service works again, end to end, over gRPC and HTTP.
    assert eventually(lambda: healthz(stack) == 200, timeout=30)
    stored = eventually(
        lambda: memoire("ingest", "user-10", "I sail.", env=stack.env()).returncode == 0,
        timeout=30,
    )
    assert stored
    found = memoire("recall", "user-10", "sail", env=stack.env())
    assert json.loads(found.stdout)["hits"][0]["memory"]["content"] == "I sail."


def _restarted(stack: Stack, name: str, before: int) -> Callable[[], int | None]:
    """A probe: the pid of the process that replaced ``before``, once there is one."""

    def probe() -> int | None:
        try:
            now = processes_of(stack)[name]
        except (ValueError, OSError):
            return None  # between the death and the restart
        return now if now != before and running(now) else None

    return probe


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_no_process_outlives_memoire_up(scratch, how):
    stack = start_stack(scratch / f"ending-{how.name}")
    processes = processes_of(stack)

    stack.proc.send_signal(how)
    stack.proc.wait(60)

    left = eventually(
        lambda: not [n for n, pid in processes.items() if running(pid)] or None, timeout=60
    )
    assert left


def test_memoire_up_serves_the_memory_inspector_beside_the_api(stack: Stack):
    with urllib.request.urlopen(f"{stack.http}/inspector/", timeout=10) as page:
        body = page.read().decode()
        assert page.status == 200
        assert page.headers["content-type"].startswith("text/html")
    assert "<html" in body.lower() and "inspector" in body.lower()


# --- the client's address ----------------------------------------------------------------------


# The failed authentications `memoire up` lets one address make in a minute (the default).
AUTH_FAILURES_PER_MINUTE = 30
WRONG_KEY = "mem_AAAAAAAAAAAA_guess"


def test_the_stack_believes_x_forwarded_for_from_its_own_envoy_alone(stack):
    offender, bystander, direct = (another_loopback_address() for _ in range(3))

    # Through Envoy, which names each client in x-forwarded-for: one client is throttled...
    allowed = AUTH_FAILURES_PER_MINUTE
    assert guess_until_throttled(stack.http, offender, allowed=allowed) == allowed
    # ... and not another; were Envoy's header ignored, all its clients would share one count.
    others = Http(stack.http, stack.key, source=bystander)
    assert others.post("/v1/recall", {"user_id": "u1", "query": "x"}) == {"hits": []}

    with (
        relay_from(direct, stack.target) as target,
        grpc.insecure_channel(target) as channel,
    ):
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)

        def recall(key: str, forged: str) -> grpc.StatusCode:
            metadata = (("x-api-key", key), ("x-forwarded-for", forged))
            try:
                stub.Recall(pb.RecallRequest(user_id="u1", query="x"), metadata=metadata)
            except grpc.RpcError as error:
                return error.code()
            return grpc.StatusCode.OK

        # Straight to the gRPC port, naming the throttled client does not get it throttled...
        assert recall(stack.key, forged=offender) == grpc.StatusCode.OK
        # ... and naming a new address each time does not escape the count of the real one.
        codes = [recall(WRONG_KEY, forged=f"203.0.113.{n}") for n in range(1, allowed + 2)]

    assert codes == [grpc.StatusCode.UNAUTHENTICATED] * allowed + [
        grpc.StatusCode.RESOURCE_EXHAUSTED
    ]


@contextlib.contextmanager
def relay_from(source: str, target: str) -> Iterator[str]:
    """A TCP relay to ``target`` whose connections come from ``source`` (a loopback address):
    a gRPC client of an address of its own, which grpc cannot bind by itself."""
    host, port = target.rsplit(":", 1)
    listener = socket.create_server(("127.0.0.1", 0))

    def pump(reader: socket.socket, writer: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := reader.recv(65536):
                writer.sendall(data)
            writer.shutdown(socket.SHUT_WR)

    def relay(client: socket.socket) -> None:
        with client, socket.create_connection((host, int(port)), source_address=(source, 0)) as up:
            back = threading.Thread(target=pump, args=(up, client), daemon=True)
            back.start()
            pump(client, up)
            back.join()

    def accept() -> None:
        with contextlib.suppress(OSError):  # the listener was shut down
            while True:
                client, _ = listener.accept()
                threading.Thread(target=relay, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() above
        listener.close()
