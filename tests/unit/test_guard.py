"""A guard builds each method's guarded handler once, not on every call."""

import asyncio
from typing import Any

import grpc

from memoire_server.guard import Guard, Handler, guarded

RECALL = "/memoire.v1.MemoryService/Recall"
INGEST = "/memoire.v1.MemoryService/Ingest"


class Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


class CountingGuard(Guard):
    def __init__(self) -> None:
        super().__init__()
        self.built: list[str] = []

    def guard(self, handler: Handler, method: str) -> Handler:
        self.built.append(method)
        return guarded(handler, admit)


async def admit(request: Any, context: Any) -> None:
    return None


async def echo(request: Any, context: Any) -> Any:
    return request


def handlers_for(guard: Guard, calls: list[tuple[str, Handler]]) -> list[Handler]:
    async def run() -> list[Handler]:
        found = []
        for method, handler in calls:

            async def continuation(_: Any, handler: Handler = handler) -> Handler:
                return handler

            found.append(await guard.intercept_service(continuation, Details(method)))
        return found

    return asyncio.run(run())


def test_every_call_of_a_method_gets_the_handler_guarded_for_its_first():
    handler = grpc.unary_unary_rpc_method_handler(echo)
    guard = CountingGuard()

    first, second, third = handlers_for(guard, [(RECALL, handler)] * 3)

    assert first is second is third
    assert first is not handler
    assert guard.built == [RECALL]


def test_each_method_and_each_new_handler_is_guarded_afresh():
    recall, ingest = (grpc.unary_unary_rpc_method_handler(echo) for _ in range(2))
    replaced = grpc.unary_unary_rpc_method_handler(echo)
    guard = CountingGuard()

    handlers_for(guard, [(RECALL, recall), (INGEST, ingest), (INGEST, ingest), (RECALL, replaced)])

    assert guard.built == [RECALL, INGEST, RECALL]
