"""How each provider's chat calls carry the end user, the prompt and the reply: what the
memory proxies read from a call and add to it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list | tuple):
        return ""
    parts = [_get(p, "text") for p in content if _get(p, "type") == "text"]
    return "\n".join(p for p in parts if isinstance(p, str) and p)


def last_user_message(kwargs: Mapping[str, Any]) -> str | None:
    """The text of the last message when the user said it (not in a tool-call loop)."""
    messages = kwargs.get("messages")
    if not isinstance(messages, list | tuple) or not messages:
        return None
    last = messages[-1]
    if _get(last, "role") != "user":
        return None
    return _text(_get(last, "content")).strip() or None


class Flavour:
    """How one provider's calls carry the user, the prompt and the reply."""

    def user_id(self, kwargs: Mapping[str, Any]) -> str | None:
        raise NotImplementedError

    def inject(self, kwargs: dict[str, Any], block: str) -> dict[str, Any]:
        raise NotImplementedError

    def reply_text(self, result: Any) -> str:
        raise NotImplementedError

    def chunk_text(self, chunk: Any) -> str:
        raise NotImplementedError


class _OpenAI(Flavour):
    def user_id(self, kwargs: Mapping[str, Any]) -> str | None:
        for name in ("user", "safety_identifier"):
            value = kwargs.get(name)
            if isinstance(value, str) and value:
                return value
        return None

    def inject(self, kwargs: dict[str, Any], block: str) -> dict[str, Any]:
        messages = list(kwargs.get("messages") or [])
        first = messages[0] if messages else None
        if isinstance(first, Mapping) and first.get("role") in ("system", "developer"):
            content = first.get("content")
            if isinstance(content, str):
                messages[0] = {**first, "content": f"{content}\n\n{block}" if content else block}
                return {**kwargs, "messages": messages}
            if isinstance(content, list | tuple):
                messages[0] = {**first, "content": [*content, {"type": "text", "text": block}]}
                return {**kwargs, "messages": messages}
        messages.insert(0, {"role": "system", "content": block})
        return {**kwargs, "messages": messages}

    def reply_text(self, result: Any) -> str:
        choices = _get(result, "choices") or []
        if not choices:
            return ""
        return _text(_get(_get(choices[0], "message"), "content"))

    def chunk_text(self, chunk: Any) -> str:
        for choice in _get(chunk, "choices") or ():
            if (_get(choice, "index") or 0) == 0:
                text = _get(_get(choice, "delta"), "content")
                return text if isinstance(text, str) else ""
        return ""


class _Anthropic(Flavour):
    def user_id(self, kwargs: Mapping[str, Any]) -> str | None:
        value = _get(kwargs.get("metadata"), "user_id")
        return value if isinstance(value, str) and value else None

    def inject(self, kwargs: dict[str, Any], block: str) -> dict[str, Any]:
        system = kwargs.get("system")
        if isinstance(system, str) and system:
            new: Any = f"{system}\n\n{block}"
        elif isinstance(system, list | tuple) and system:
            # Appended, so a cached prefix of the caller's system blocks stays cached.
            new = [*system, {"type": "text", "text": block}]
        else:
            new = block
        return {**kwargs, "system": new}

    def reply_text(self, result: Any) -> str:
        return _text(_get(result, "content"))

    def chunk_text(self, chunk: Any) -> str:
        if _get(chunk, "type") != "content_block_delta":
            return ""
        delta = _get(chunk, "delta")
        text = _get(delta, "text") if _get(delta, "type") == "text_delta" else None
        return text if isinstance(text, str) else ""


OPENAI = _OpenAI()
ANTHROPIC = _Anthropic()
