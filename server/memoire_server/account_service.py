"""AccountService: users, API keys and sessions over gRPC."""

from typing import Any

import grpc

from memoire_core.services import accounts
from memoire_proto.v1 import account_pb2, account_service_pb2_grpc
from memoire_proto.v1 import account_service_pb2 as pb
from memoire_server import convert
from memoire_server.context import AppContext
from memoire_server.errors import mapped

Ctx = grpc.aio.ServicerContext[Any, Any]


class AccountService(account_service_pb2_grpc.AccountServiceServicer):
    """Account management; secrets appear only in the replies that create them."""

    def __init__(self, app: AppContext) -> None:
        self.app = app

    @mapped
    async def CreateApp(self, request: pb.CreateAppRequest, context: Ctx) -> pb.CreateAppResponse:
        await self.app.require_admin(context)
        async with self.app.sessions() as db, db.begin():
            made = await accounts.create_app(
                db, self.app.server_secret, request.name, request.key_name, self.app.settings.limits
            )
        return pb.CreateAppResponse(
            app=account_pb2.App(
                id=str(made.app_id), name=made.name, create_time=convert.ts(made.created_at)
            ),
            api_key=convert.api_key(made.key.key),
            api_key_secret=made.key.secret,
        )

    @mapped
    async def CreateUser(
        self, request: pb.CreateUserRequest, context: Ctx
    ) -> pb.CreateUserResponse:
        async with self.app.unit_of_work(context) as (db, principal):
            made = await accounts.create_user(
                db,
                principal,
                self.app.server_secret,
                request.user_id,
                dict(request.metadata),
                request.issue_api_key,
                self.app.settings.limits,
            )
        reply = pb.CreateUserResponse(
            user=account_pb2.User(
                id=made.user.external_id,
                metadata=made.metadata,
                create_time=convert.ts(made.created_at),
            ),
            created=made.created,
        )
        if made.key is not None:
            reply.api_key.CopyFrom(convert.api_key(made.key.key))
            reply.api_key_secret = made.key.secret
        return reply

    @mapped
    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: Ctx
    ) -> pb.CreateApiKeyResponse:
        async with self.app.unit_of_work(context) as (db, principal):
            new = await accounts.create_key(
                db,
                principal,
                self.app.server_secret,
                convert.SCOPE_FROM_PB.get(request.scope),
                request.user_id,
                request.name,
                convert.time_of(request, "expire_time"),
                self.app.settings.limits,
            )
        return pb.CreateApiKeyResponse(api_key=convert.api_key(new.key), secret=new.secret)

    @mapped
    async def RotateApiKey(
        self, request: pb.RotateApiKeyRequest, context: Ctx
    ) -> pb.RotateApiKeyResponse:
        seconds = request.overlap_seconds or self.app.settings.key_rotation_overlap_seconds
        async with self.app.unit_of_work(context) as (db, principal):
            new, previous = await accounts.rotate_key(
                db,
                principal,
                self.app.server_secret,
                request.key_id,
                seconds,
                self.app.settings.limits,
            )
        return pb.RotateApiKeyResponse(
            api_key=convert.api_key(new.key), secret=new.secret, previous=convert.api_key(previous)
        )

    @mapped
    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: Ctx
    ) -> pb.RevokeApiKeyResponse:
        async with self.app.unit_of_work(context) as (db, principal):
            revoked = await accounts.revoke_key(db, principal, request.key_id)
        return pb.RevokeApiKeyResponse(api_key=convert.api_key(revoked))

    @mapped
    async def CreateSession(
        self, request: pb.CreateSessionRequest, context: Ctx
    ) -> pb.CreateSessionResponse:
        async with self.app.unit_of_work(context) as (db, principal):
            made = await accounts.create_session(
                db,
                principal,
                request.user_id,
                request.session_id,
                dict(request.metadata),
                self.app.settings.limits,
            )
        return pb.CreateSessionResponse(
            session=account_pb2.Session(
                id=made.external_id,
                user_id=made.user_external_id,
                create_time=convert.ts(made.created_at),
                metadata=made.metadata,
            ),
            created=made.created,
        )
