import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from memoire_proto.v1 import account_pb2 as _account_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateAppRequest(_message.Message):
    __slots__ = ("name", "key_name")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    key_name: str
    def __init__(self, name: _Optional[str] = ..., key_name: _Optional[str] = ...) -> None: ...

class CreateAppResponse(_message.Message):
    __slots__ = ("app", "api_key", "api_key_secret")
    APP_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    API_KEY_SECRET_FIELD_NUMBER: _ClassVar[int]
    app: _account_pb2.App
    api_key: _account_pb2.ApiKey
    api_key_secret: str
    def __init__(self, app: _Optional[_Union[_account_pb2.App, _Mapping]] = ..., api_key: _Optional[_Union[_account_pb2.ApiKey, _Mapping]] = ..., api_key_secret: _Optional[str] = ...) -> None: ...

class CreateUserRequest(_message.Message):
    __slots__ = ("user_id", "metadata", "issue_api_key")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ISSUE_API_KEY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    metadata: _containers.ScalarMap[str, str]
    issue_api_key: bool
    def __init__(self, user_id: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., issue_api_key: _Optional[bool] = ...) -> None: ...

class CreateUserResponse(_message.Message):
    __slots__ = ("user", "created", "api_key", "api_key_secret")
    USER_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    API_KEY_SECRET_FIELD_NUMBER: _ClassVar[int]
    user: _account_pb2.User
    created: bool
    api_key: _account_pb2.ApiKey
    api_key_secret: str
    def __init__(self, user: _Optional[_Union[_account_pb2.User, _Mapping]] = ..., created: _Optional[bool] = ..., api_key: _Optional[_Union[_account_pb2.ApiKey, _Mapping]] = ..., api_key_secret: _Optional[str] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("scope", "user_id", "name", "expire_time")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    scope: _account_pb2.ApiKeyScope
    user_id: str
    name: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, scope: _Optional[_Union[_account_pb2.ApiKeyScope, str]] = ..., user_id: _Optional[str] = ..., name: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("api_key", "secret")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    api_key: _account_pb2.ApiKey
    secret: str
    def __init__(self, api_key: _Optional[_Union[_account_pb2.ApiKey, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class RotateApiKeyRequest(_message.Message):
    __slots__ = ("key_id", "overlap_seconds")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    overlap_seconds: int
    def __init__(self, key_id: _Optional[str] = ..., overlap_seconds: _Optional[int] = ...) -> None: ...

class RotateApiKeyResponse(_message.Message):
    __slots__ = ("api_key", "secret", "previous")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    api_key: _account_pb2.ApiKey
    secret: str
    previous: _account_pb2.ApiKey
    def __init__(self, api_key: _Optional[_Union[_account_pb2.ApiKey, _Mapping]] = ..., secret: _Optional[str] = ..., previous: _Optional[_Union[_account_pb2.ApiKey, _Mapping]] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class RevokeApiKeyResponse(_message.Message):
    __slots__ = ("api_key",)
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    api_key: _account_pb2.ApiKey
    def __init__(self, api_key: _Optional[_Union[_account_pb2.ApiKey, _Mapping]] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("user_id", "session_id", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    session_id: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, user_id: _Optional[str] = ..., session_id: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CreateSessionResponse(_message.Message):
    __slots__ = ("session", "created")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    session: _account_pb2.Session
    created: bool
    def __init__(self, session: _Optional[_Union[_account_pb2.Session, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...
