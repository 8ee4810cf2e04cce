"""A key only ever sees its own tenant's data, whatever calls it makes and whatever ids it names.

A hypothesis state machine plays two apps whose users have the same names ("alice" and "bob"),
each with its app-scoped key and the user-scoped keys it issues. It makes random calls of every
RPC that takes a user, memory, extraction, key or session id, naming ids seen in other
tenants' replies as often as its own. Every text written carries its tenant's tag, and recall
queries name every tenant's tag, so a reply holding another tenant's memory, message, job,
session or key is caught; the model also predicts each call's status, so a foreign id must be
NOT_FOUND (or the call refused) and must never act.

A tenant is one user of one app: an app key acts for every user of its app, a user key for its
own user only.
"""

import re
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, ClassVar

import grpc
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from memoire_proto.v1 import account_pb2, memory_pb2
from memoire_proto.v1 import account_service_pb2 as apb
from memoire_proto.v1 import memory_service_pb2 as pb
from tests.integration.conftest import Api, Server
from tests.integration.helpers import failure_of, key_id_of, user_message

APPS = 2
USERS = ("alice", "bob")
SLOTS = ("", "location.home", "pet")
THINGS = ("tomatoes", "a pear tree", "a pond", "roses", "a shed", "bees")
OK = grpc.StatusCode.OK
NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
SERVICES = (
    pb.DESCRIPTOR.services_by_name["MemoryService"],
    apb.DESCRIPTOR.services_by_name["AccountService"],
)
ACCOUNT_METHODS = frozenset(SERVICES[1].methods_by_name)
ANY_TAG = re.compile(r"zq[0-9a-f]{8}a\d(?:alice|bob)")

SETTINGS = settings(
    max_examples=8,
    stateful_step_count=35,
    deadline=None,
    database=None,  # every run explores afresh; a failure prints the steps that reproduce it
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Tenant:
    """One user of one app."""

    app: int
    user: str


@dataclass(frozen=True)
class Owned:
    """Whose a thing is, and in which life of that user (ForgetUser starts a new one)."""

    tenant: Tenant
    generation: int


class Key:
    """An API key the model holds, and what it may act for (printed without its secret)."""

    def __init__(self, secret: str, app: int, user: str | None, *, root: bool = False) -> None:
        self.secret = secret
        self.app = app
        self.user = user  # None for an app-scoped key
        self.root = root  # the app's first key, which is never revoked
        self.revoked = False
        self.erased = False  # its user was forgotten, and the key with it

    @property
    def id(self) -> str:
        return key_id_of(self.secret)

    @property
    def usable(self) -> bool:
        return not (self.revoked or self.erased)

    def __repr__(self) -> str:
        return f"Key({self.id}, app{self.app}, {self.user or 'app-scoped'})"


class TenantsMachine(RuleBasedStateMachine):
    """Random calls by several tenants; every reply is checked against what each one wrote."""

    server: ClassVar[Server]
    channel: ClassVar[grpc.Channel]
    sent: ClassVar[Counter[str]]

    def __init__(self) -> None:
        super().__init__()
        self.nonce = uuid.uuid4().hex[:8]
        self.counter = 0
        self.keys: list[Key] = []
        self.apis: dict[str, Api] = {}
        self.generation: dict[Tenant, int] = defaultdict(int)
        self.existing: set[Tenant] = set()
        self.contents: dict[str, Owned] = {}
        self.gone: set[str] = set()  # contents of deleted memories
        self.essential: set[str] = set()
        self.memories: dict[str, Owned] = {}
        self.memory_content: dict[str, str] = {}
        self.deleted: set[str] = set()
        self.messages: dict[str, Owned] = {}
        self.episode_message: dict[str, str] = {}
        self.gone_messages: set[str] = set()  # an episode's deletion takes its message along
        self.extractions: dict[str, Owned] = {}
        self.key_owner: dict[str, tuple[int, str]] = {}
        self.sessions: dict[Tenant, set[str]] = defaultdict(set)
        self.page_tokens: list[str] = []

    @classmethod
    def against(cls, server: Server, channel: grpc.Channel) -> type["TenantsMachine"]:
        bound = {"server": server, "channel": channel, "sent": Counter()}
        return type("BoundTenantsMachine", (cls,), bound)

    # --- the model ----------------------------------------------------------------------

    def tag(self, tenant: Tenant) -> str:
        return f"zq{self.nonce}a{tenant.app}{tenant.user}"

    def text(self, tenant: Tenant, thing: str) -> str:
        """A new text of the tenant's; every text mentions the garden, so queries match all."""
        self.counter += 1
        return f"The garden has {thing} {self.tag(tenant)} n{self.counter}"

    def alive(self, owned: Owned) -> bool:
        return owned.generation == self.generation[owned.tenant]

    def live_contents(self, tenant: Tenant) -> set[str]:
        return {
            content
            for content, owned in self.contents.items()
            if owned.tenant == tenant and self.alive(owned) and content not in self.gone
        }

    def live_messages(self, tenant: Tenant) -> set[str]:
        return {
            m
            for m, owned in self.messages.items()
            if owned.tenant == tenant and self.alive(owned) and m not in self.gone_messages
        }

    def own(self, tenant: Tenant) -> Owned:
        return Owned(tenant, self.generation[tenant])

    @staticmethod
    def sees(key: Key, tenant: Tenant) -> bool:
        return key.app == tenant.app and key.user in (None, tenant.user)

    @staticmethod
    def acting_for(key: Key, user_id: str) -> tuple[Tenant, grpc.StatusCode]:
        """The tenant a call naming ``user_id`` is for, and the status it must get."""
        if key.user is None:
            return Tenant(key.app, user_id or USERS[0]), OK if user_id else INVALID_ARGUMENT
        if user_id in ("", key.user):
            return Tenant(key.app, key.user), OK
        return Tenant(key.app, user_id), PERMISSION_DENIED

    def all_tags(self) -> str:
        return " ".join(self.tag(Tenant(a, u)) for a in range(APPS) for u in USERS)

    # --- checks on replies --------------------------------------------------------------

    def claim(self, table: dict[str, Owned], value: str, tenant: Tenant, what: str) -> None:
        """A reply to ``tenant`` named ``value``: it must be the tenant's, or new."""
        known = table.get(value)
        if known is None:
            table[value] = self.own(tenant)
        else:
            assert known.tenant == tenant, f"{what} {value} of {known.tenant} shown to {tenant}"

    def check_text(self, content: str, tenant: Tenant) -> None:
        owned = self.contents.get(content)
        assert owned is not None, f"a text nobody wrote: {content!r}"
        assert owned.tenant == tenant, f"{owned.tenant}'s text shown to {tenant}: {content!r}"
        assert self.alive(owned), f"a forgotten text came back: {content!r}"
        assert content not in self.gone, f"a deleted memory came back: {content!r}"

    def check_memory(self, memory: Any, tenant: Tenant) -> None:
        self.check_text(memory.content, tenant)
        assert memory.user_id == tenant.user, (memory.user_id, tenant)
        self.claim(self.memories, memory.id, tenant, "memory")
        self.memory_content[memory.id] = memory.content
        if memory.kind == memory_pb2.MEMORY_KIND_EPISODE:
            (self.episode_message[memory.id],) = memory.source_message_ids
        for message_id in memory.source_message_ids:
            self.claim(self.messages, message_id, tenant, "message")
        if memory.superseded_by:
            self.claim(self.memories, memory.superseded_by, tenant, "memory")

    def check_event(self, event: Any, tenant: Tenant) -> None:
        self.claim(self.memories, event.memory_id, tenant, "memory")
        if event.related_memory_id:
            self.claim(self.memories, event.related_memory_id, tenant, "memory")
        if event.extraction_id:
            self.claim(self.extractions, event.extraction_id, tenant, "extraction")

    def check_extraction(self, job: Any, tenant: Tenant) -> None:
        assert job.user_id == tenant.user, (job.user_id, tenant)
        self.claim(self.extractions, job.id, tenant, "extraction")
        for message_id in job.message_ids:
            self.claim(self.messages, message_id, tenant, "message")
        for memory in job.facts:
            self.check_memory(memory, tenant)

    def check_new_key(self, reply_key: Any, secret: str, app: int, user: str | None) -> None:
        assert reply_key.id == key_id_of(secret)
        assert reply_key.id not in self.key_owner, f"key id {reply_key.id} issued twice"
        assert reply_key.user_id == (user or ""), (reply_key.user_id, user)
        self.key_owner[reply_key.id] = (app, user or "")
        self.keys.append(Key(secret, app, user))

    # --- calls --------------------------------------------------------------------------

    def call(self, key: Key, method: str, request: Any, expected: grpc.StatusCode) -> Any:
        """Make one call with ``key``; its status must be ``expected``."""
        api = self.apis.setdefault(key.secret, Api(self.channel, key.secret))
        service = api.accounts if method in ACCOUNT_METHODS else api.memory
        self.sent[method] += 1
        try:
            reply = getattr(service, method)(request)
            if method == "ExportUser":
                reply = list(reply)
        except grpc.RpcError as error:
            got = failure_of(error)
            assert got.code == expected, f"{method} by {key}: {got}, expected {expected.name}"
            return None
        assert expected == OK, f"{method} by {key} succeeded, expected {expected.name}: {request}"
        return reply

    def draw_key(self, data: st.DataObject) -> Key:
        return data.draw(st.sampled_from([k for k in self.keys if k.usable]), label="key")

    def draw_user(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from((*USERS, "")), label="user_id")

    def draw_id(self, data: st.DataObject, known: dict[str, Owned], label: str) -> str:
        """An id from any tenant's replies, or one that was never issued."""
        return data.draw(st.sampled_from([*known, str(uuid.uuid4())]), label=label)

    def note_write(self, tenant: Tenant, session: str) -> None:
        self.existing.add(tenant)
        self.sessions[tenant].add(session or "default")

    # --- the end of each run ------------------------------------------------------------

    def teardown(self) -> None:
        """Last, each tenant's memories are listed and recalled, and every key names a memory
        and a job of a tenant it cannot see: NOT_FOUND each."""
        for key in [k for k in self.keys if k.root]:
            for user in USERS:
                self.check_listing(key, user)
                self.check_recall(key, user)
        for key in [k for k in self.keys if k.usable]:
            memory_id = self.foreign(key, self.memories)
            if memory_id:
                for method in ("GetMemory", "GetMemoryHistory", "DeleteMemory"):
                    request = getattr(pb, f"{method}Request")(memory_id=memory_id)
                    self.call(key, method, request, NOT_FOUND)
            extraction_id = self.foreign(key, self.extractions)
            if extraction_id:
                request = pb.GetExtractionRequest(extraction_id=extraction_id)
                self.call(key, "GetExtraction", request, NOT_FOUND)

    def foreign(self, key: Key, known: dict[str, Owned]) -> str | None:
        """The newest id in ``known`` of a tenant the key cannot see."""
        return next((i for i, o in reversed(known.items()) if not self.sees(key, o.tenant)), None)

    # --- the rules ----------------------------------------------------------------------

    @initialize()
    def make_apps(self) -> None:
        for app in range(APPS):
            secret = self.server.new_app_key()
            self.keys.append(Key(secret, app, None, root=True))
            self.key_owner[key_id_of(secret)] = (app, "")

    @rule(data=st.data())
    def ingest(self, data: st.DataObject) -> None:
        key, user_id = self.draw_key(data), self.draw_user(data)
        tenant, expected = self.acting_for(key, user_id)
        session = data.draw(st.sampled_from(("", "chat-1", f"s-{self.tag(tenant)}")))
        texts = [
            self.text(tenant, t)
            for t in data.draw(st.lists(st.sampled_from(THINGS), min_size=1, max_size=2))
        ]
        request = pb.IngestRequest(
            user_id=user_id, session_id=session, messages=[user_message(t) for t in texts]
        )
        reply = self.call(key, "Ingest", request, expected)
        if reply is None:
            return
        for text in texts:
            self.contents[text] = self.own(tenant)
        for message_id in reply.message_ids:
            assert message_id not in self.messages, f"message id {message_id} issued twice"
            self.messages[message_id] = self.own(tenant)
        assert reply.extraction_id not in self.extractions
        self.extractions[reply.extraction_id] = self.own(tenant)
        self.note_write(tenant, session)

    @rule(data=st.data())
    def add_memories(self, data: st.DataObject) -> None:
        key, user_id = self.draw_key(data), self.draw_user(data)
        tenant, expected = self.acting_for(key, user_id)
        facts = []
        for thing in data.draw(st.lists(st.sampled_from(THINGS), min_size=1, max_size=2)):
            slot = data.draw(st.sampled_from(SLOTS), label="slot")
            # Essential facts have no slot, so none is ever superseded out of Conscious.
            essential = not slot and data.draw(st.booleans(), label="essential")
            facts.append(
                pb.FactInput(content=self.text(tenant, thing), slot=slot, essential=essential)
            )
        reply = self.call(
            key, "AddMemories", pb.AddMemoriesRequest(user_id=user_id, facts=facts), expected
        )
        if reply is None:
            return
        for fact in facts:
            self.contents[fact.content] = self.own(tenant)
            if fact.essential:
                self.essential.add(fact.content)
        assert [m.content for m in reply.memories] == [f.content for f in facts]
        for memory in reply.memories:
            self.check_memory(memory, tenant)
        self.existing.add(tenant)

    @rule(data=st.data())
    def recall(self, data: st.DataObject) -> None:
        key, user_id = self.draw_key(data), self.draw_user(data)
        names = sorted({name for known in self.sessions.values() for name in known})
        session = data.draw(st.sampled_from(["", *names]), label="session_id")
        self.check_recall(key, user_id, session)

    def check_recall(self, key: Key, user_id: str, session: str = "") -> None:
        """Recall, with a query naming every tenant's tag, finds only the caller's tenant's."""
        tenant, expected = self.acting_for(key, user_id)
        query = f"what is in the garden? {self.all_tags()}"
        request = pb.RecallRequest(user_id=user_id, query=query, session_id=session)
        reply = self.call(key, "Recall", request, expected)
        if reply is None:
            return
        for hit in reply.hits:
            self.check_memory(hit.memory, tenant)
        if not session and self.live_contents(tenant):
            assert reply.hits, f"{tenant} recalled nothing of its own"

    @rule(data=st.data())
    def conscious(self, data: st.DataObject) -> None:
        key, user_id = self.draw_key(data), self.draw_user(data)
        tenant, expected = self.acting_for(key, user_id)
        reply = self.call(key, "Conscious", pb.ConsciousRequest(user_id=user_id), expected)
        if reply is None:
            return
        for memory in reply.memories:
            self.check_memory(memory, tenant)
        tags = set(ANY_TAG.findall(reply.prompt_block))
        assert tags <= {self.tag(tenant)}, f"{tenant}'s prompt block names {tags}"
        if self.essential & self.live_contents(tenant):
            assert reply.memories, f"{tenant} lost its essential facts"

    @rule(data=st.data())
    def list_memories(self, data: st.DataObject) -> None:
        key, user_id = self.draw_key(data), self.draw_user(data)
        page_size = data.draw(st.integers(0, 4), label="page_size")
        # Another tenant's page token is only a position: it must not open their pages.
        start = data.draw(st.sampled_from(["", *self.page_tokens]), label="page_token")
        self.check_listing(key, user_id, page_size, start)

    def check_listing(self, key: Key, user_id: str, page_size: int = 0, start: str = "") -> None:
        """ListMemories from the first page lists exactly the tenant's live memories."""
        tenant, expected = self.acting_for(key, user_id)
        token, listed = start, []
        while True:
            request = pb.ListMemoriesRequest(user_id=user_id, page_size=page_size, page_token=token)
            reply = self.call(key, "ListMemories", request, expected)
            if reply is None:
                return
            for memory in reply.memories:
                self.check_memory(memory, tenant)
            listed += [m.content for m in reply.memories]
            if start or not reply.next_page_token:
                break
            token = reply.next_page_token
            self.page_tokens.append(token)
        if not start:
            assert sorted(listed) == sorted(self.live_contents(tenant))

    @rule(data=st.data())
    def get_memory(self, data: st.DataObject) -> None:
        key = self.draw_key(data)
        memory_id = self.draw_id(data, self.memories, "memory_id")
        owned = self.memories.get(memory_id)
        visible = owned is not None and self.sees(key, owned.tenant) and self.alive(owned)
        expected = OK if visible and memory_id not in self.deleted else NOT_FOUND
        reply = self.call(key, "GetMemory", pb.GetMemoryRequest(memory_id=memory_id), expected)
        if reply is not None:
            assert owned is not None
            assert reply.memory.id == memory_id
            self.check_memory(reply.memory, owned.tenant)

    @rule(data=st.data())
    def delete_memory(self, data: st.DataObject) -> None:
        key = self.draw_key(data)
        # Only memories whose text is known, so the model knows what their deletion removes.
        known = {m: owned for m, owned in self.memories.items() if m in self.memory_content}
        memory_id = self.draw_id(data, known, "memory_id")
        owned = self.memories.get(memory_id)
        visible = owned is not None and self.sees(key, owned.tenant) and self.alive(owned)
        expected = OK if visible and memory_id not in self.deleted else NOT_FOUND
        reply = self.call(
            key, "DeleteMemory", pb.DeleteMemoryRequest(memory_id=memory_id), expected
        )
        if reply is not None:
            assert reply.memory_id == memory_id
            self.deleted.add(memory_id)
            self.gone.add(self.memory_content[memory_id])
            if memory_id in self.episode_message:
                self.gone_messages.add(self.episode_message[memory_id])

    @rule(data=st.data())
    def get_memory_history(self, data: st.DataObject) -> None:
        key = self.draw_key(data)
        memory_id = self.draw_id(data, self.memories, "memory_id")
        owned = self.memories.get(memory_id)
        # A deleted memory keeps its history; a forgotten user's is gone.
        visible = owned is not None and self.sees(key, owned.tenant) and self.alive(owned)
        request = pb.GetMemoryHistoryRequest(memory_id=memory_id)
        reply = self.call(key, "GetMemoryHistory", request, OK if visible else NOT_FOUND)
        if reply is not None:
            assert owned is not None
            assert reply.events, f"memory {memory_id} has no history"
            for event in reply.events:
                self.check_event(event, owned.tenant)

    @rule(data=st.data())
    def get_extraction(self, data: st.DataObject) -> None:
        key = self.draw_key(data)
        extraction_id = self.draw_id(data, self.extractions, "extraction_id")
        owned = self.extractions.get(extraction_id)
        visible = owned is not None and self.sees(key, owned.tenant) and self.alive(owned)
        request = pb.GetExtractionRequest(extraction_id=extraction_id)
        reply = self.call(key, "GetExtraction", request, OK if visible else NOT_FOUND)
        if reply is not None:
            assert owned is not None
            assert reply.extraction.id == extraction_id
            self.check_extraction(reply.extraction, owned.tenant)

    @rule(data=st.data())
    def forget_user(self, data: st.DataObject) -> None:
        key, user_id = self.draw_key(data), self.draw_user(data)
        tenant, expected = self.acting_for(key, user_id)
        reply = self.call(key, "ForgetUser", pb.ForgetUserRequest(user_id=user_id), expected)
        if reply is None:
            return
        # Exactly this tenant's rows went: none of a namesake in the other app, nor of a neighbour.
        assert reply.deleted_messages == len(self.live_messages(tenant))
        assert reply.deleted_memories == len(self.live_contents(tenant))
        self.generation[tenant] += 1
        self.existing.discard(tenant)
        self.sessions.pop(tenant, None)
        for k in self.keys:
            if k.app == tenant.app and k.user == tenant.user:
                k.erased = True

    @rule(data=st.data())
    def export_user(self, data: st.DataObject) -> None:
        key, user_id = self.draw_key(data), self.draw_user(data)
        tenant, expected = self.acting_for(key, user_id)
        if expected == OK and tenant not in self.existing and key.user is None:
            expected = NOT_FOUND
        items = self.call(key, "ExportUser", pb.ExportUserRequest(user_id=user_id), expected)
        if items is None:
            return
        contents, message_ids = [], []
        for item in items:
            kind = item.WhichOneof("item")
            if kind == "user":
                assert item.user.id == tenant.user
            elif kind == "session":
                assert item.session.user_id == tenant.user
            elif kind == "message":
                self.check_text(item.message.content, tenant)
                self.claim(self.messages, item.message.id, tenant, "message")
                message_ids.append(item.message.id)
            elif kind == "memory":
                self.check_memory(item.memory, tenant)
                contents.append(item.memory.content)
            elif kind == "event":
                self.check_event(item.event, tenant)
            else:
                self.check_extraction(item.extraction, tenant)
        assert sorted(contents) == sorted(self.live_contents(tenant))
        assert sorted(message_ids) == sorted(self.live_messages(tenant))

    @rule(data=st.data())
    def create_user(self, data: st.DataObject) -> None:
        key = self.draw_key(data)
        user_id = data.draw(st.sampled_from(USERS), label="user_id")
        issue = data.draw(st.booleans(), label="issue_api_key")
        expected = OK if key.user is None else PERMISSION_DENIED
        request = apb.CreateUserRequest(user_id=user_id, issue_api_key=issue)
        reply = self.call(key, "CreateUser", request, expected)
        if reply is None:
            return
        assert reply.user.id == user_id
        tenant = Tenant(key.app, user_id)
        assert reply.created == (tenant not in self.existing)
        self.existing.add(tenant)
        if issue:
            self.check_new_key(reply.api_key, reply.api_key_secret, key.app, user_id)

    @rule(data=st.data())
    def create_api_key(self, data: st.DataObject) -> None:
        key = self.draw_key(data)
        user = data.draw(st.sampled_from((*USERS, None)), label="for_user")
        scope = account_pb2.API_KEY_SCOPE_APP if user is None else account_pb2.API_KEY_SCOPE_USER
        expected = OK if key.user is None else PERMISSION_DENIED
        request = apb.CreateApiKeyRequest(scope=scope, user_id=user or "")
        reply = self.call(key, "CreateApiKey", request, expected)
        if reply is None:
            return
        self.check_new_key(reply.api_key, reply.secret, key.app, user)
        if user is not None:
            self.existing.add(Tenant(key.app, user))

    def may_manage(self, key: Key, target: Key) -> bool:
        same_app = target.app == key.app and not target.erased
        return same_app and (key.user is None or target is key)

    @rule(data=st.data())
    def rotate_api_key(self, data: st.DataObject) -> None:
        key = self.draw_key(data)
        target = data.draw(st.sampled_from(self.keys), label="target")
        ok = self.may_manage(key, target) and not target.revoked
        request = apb.RotateApiKeyRequest(key_id=target.id)
        reply = self.call(key, "RotateApiKey", request, OK if ok else NOT_FOUND)
        if reply is not None:
            assert reply.previous.id == target.id
            self.check_new_key(reply.api_key, reply.secret, target.app, target.user)

    @rule(data=st.data())
    def revoke_api_key(self, data: st.DataObject) -> None:
        key = self.draw_key(data)
        # Each app keeps its first key, so the model always has a way in.
        targets = [k for k in self.keys if not (k.root and k.app == key.app)]
        target = data.draw(st.sampled_from(targets), label="target")
        expected = OK if self.may_manage(key, target) else NOT_FOUND
        reply = self.call(key, "RevokeApiKey", apb.RevokeApiKeyRequest(key_id=target.id), expected)
        if reply is not None:
            assert reply.api_key.id == target.id
            target.revoked = True

    @rule(data=st.data())
    def create_session(self, data: st.DataObject) -> None:
        key, user_id = self.draw_key(data), self.draw_user(data)
        tenant, expected = self.acting_for(key, user_id)
        names = sorted({name for known in self.sessions.values() for name in known})
        session = data.draw(st.sampled_from(["chat-1", *names]), label="session_id")
        request = apb.CreateSessionRequest(user_id=user_id, session_id=session)
        reply = self.call(key, "CreateSession", request, expected)
        if reply is None:
            return
        assert (reply.session.id, reply.session.user_id) == (session, tenant.user)
        assert reply.created == (session not in self.sessions[tenant])
        self.note_write(tenant, session)

    @rule(data=st.data())
    def observe_chat(self, data: st.DataObject) -> None:
        key, user_id = self.draw_key(data), self.draw_user(data)
        tenant, expected = self.acting_for(key, user_id)
        said, answered = self.text(tenant, "mint"), self.text(tenant, "basil")
        turn = f"turn-{self.counter}"
        requests = [
            pb.ObserveChatRequest(
                start=pb.TurnStart(turn_id=turn, user_id=user_id, user_message=said)
            ),
            pb.ObserveChatRequest(end=pb.TurnEnd(turn_id=turn, assistant_message=answered)),
        ]
        self.sent["ObserveChat"] += 1
        api = self.apis.setdefault(key.secret, Api(self.channel, key.secret))
        stream = api.memory.ObserveChat(iter(requests))
        stored = None
        try:
            for response in stream:
                if response.HasField("context"):
                    for memory in response.context.conscious:
                        self.check_memory(memory, tenant)
                    for hit in response.context.recalled:
                        self.check_memory(hit.memory, tenant)
                elif response.HasField("stored"):
                    stored = response.stored
                    break
        except grpc.RpcError as error:
            got = failure_of(error)
            assert got.code == expected, f"ObserveChat by {key}: {got}, expected {expected.name}"
            return
        finally:
            stream.cancel()
        assert expected == OK and stored is not None, (expected, stored)
        for text in (said, answered):
            self.contents[text] = self.own(tenant)
        for message_id in stored.message_ids:
            assert message_id not in self.messages
            self.messages[message_id] = self.own(tenant)
        self.extractions[stored.extraction_id] = self.own(tenant)
        self.note_write(tenant, "")


def test_no_key_ever_sees_or_touches_another_tenants_data(server, channel):
    machine = TenantsMachine.against(server, channel)

    run_state_machine_as_test(machine, settings=SETTINGS)

    print(f"{machine.sent.total()} calls: {dict(machine.sent)}")
