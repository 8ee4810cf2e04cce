"""Calls to a chat model through LiteLLM: JSON out, a timeout on every call, usage recorded.

LiteLLM reaches OpenAI, Anthropic, Gemini, OpenRouter and any OpenAI-compatible server
(Ollama, vLLM, llama.cpp) by model name; keys come from the provider's usual variables
(OPENAI_API_KEY, ANTHROPIC_API_KEY, ...) or from MEMOIRE_LLM_API_KEY. A local
OpenAI-compatible server (``openai/<model>`` with MEMOIRE_LLM_API_BASE) needs no key.
"""

import json
import logging
import os
import time
from typing import Any

from memoire_adapters.embedding import import_litellm
from memoire_adapters.metrics import LLM_CALLS, LLM_COST, LLM_DURATION, LLM_TOKENS
from memoire_core.config import Settings
from memoire_core.ports import Completion, LLMError

log = logging.getLogger(__name__)


# Sent as the key to a local OpenAI-compatible server, which ignores it: the OpenAI client
# refuses to send a request without one.
LOCAL_SERVER_KEY = "no-key-needed"


def _local_openai_server(settings: Settings) -> bool:
    """Whether the model is reached at an OpenAI-compatible server of the user's choosing."""
    return bool(settings.llm_api_base) and settings.llm_model.startswith("openai/")


def configuration_problem(settings: Settings) -> str | None:
    """Why extraction cannot work with these settings, naming the setting to fix; None if
    nothing is known to be wrong. Only what the settings show is checked: no call is made."""
    model = settings.llm_model
    if not model:
        return None
    litellm = import_litellm()
    try:
        litellm.get_llm_provider(model)
    except Exception:  # LiteLLM names no provider for it: every call would fail the same way
        return (
            f"MEMOIRE_LLM_MODEL={model!r} names no provider LiteLLM knows; use e.g. "
            "'gpt-4o-mini', 'anthropic/<model>', or 'openai/<model>' with MEMOIRE_LLM_API_BASE"
        )
    if settings.llm_api_key.get_secret_value() or _local_openai_server(settings):
        return None
    missing = litellm.validate_environment(model).get("missing_keys") or []
    if missing:
        return (
            f"MEMOIRE_LLM_MODEL={model!r} needs a key: set MEMOIRE_LLM_API_KEY or "
            f"{' or '.join(missing)}"
        )
    return None


# LiteLLM's exception classes, by whether a retry can help.
_TRANSIENT = (
    "RateLimitError",
    "Timeout",
    "APIConnectionError",
    "InternalServerError",
    "ServiceUnavailableError",
    "BadGatewayError",
)
_PERMANENT = (
    "AuthenticationError",
    "PermissionDeniedError",
    "BadRequestError",
    "NotFoundError",
    "ContextWindowExceededError",
    "UnprocessableEntityError",
    "ContentPolicyViolationError",
)


def classify(error: BaseException) -> LLMError:
    """Map a provider failure to transient (retry with backoff) or permanent (fail the job)."""
    names = {cls.__name__ for cls in type(error).__mro__}
    status = getattr(error, "status_code", None)
    # The OpenAI client's own refusal to call without a key, which LiteLLM reports as a
    # server error: it fails the same way every time.
    if "Missing credentials" in str(error):
        return LLMError(f"{type(error).__name__}: {error}", transient=False)
    if names & set(_PERMANENT):
        return LLMError(f"{type(error).__name__}: {error}", transient=False)
    if names & set(_TRANSIENT) or (isinstance(status, int) and status >= 500):
        return LLMError(f"{type(error).__name__}: {error}", transient=True)
    if isinstance(error, TimeoutError | ConnectionError):
        return LLMError(f"{type(error).__name__}: {error}", transient=True)
    return LLMError(f"{type(error).__name__}: {error}", transient=False)


class LiteLLMChat:
    """A chat model reached through LiteLLM; the ``LlmClient`` of ``memoire_core.ports``."""

    def __init__(self, settings: Settings) -> None:
        self._model = settings.llm_model
        self._options: dict[str, Any] = {
            "timeout": settings.llm_timeout_seconds,
            "temperature": 0,
            "max_retries": 0,  # retries belong to the worker, with backoff and jitter
        }
        if settings.llm_api_base:
            self._options["api_base"] = settings.llm_api_base
        if settings.llm_api_key.get_secret_value():
            self._options["api_key"] = settings.llm_api_key.get_secret_value()
        elif _local_openai_server(settings) and not os.environ.get("OPENAI_API_KEY"):
            self._options["api_key"] = LOCAL_SERVER_KEY

    @property
    def model(self) -> str:
        return self._model

    async def complete_json(self, system: str, user: str) -> Completion:
        litellm = import_litellm()
        started = time.perf_counter()
        try:
            response: Any = await litellm.acompletion(
                model=self._model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                response_format={"type": "json_object"},
                **self._options,
            )
        except Exception as error:
            failure = classify(error)
            self._record_failure(failure, time.perf_counter() - started)
            raise failure from error
        latency_ms = (time.perf_counter() - started) * 1000
        text = response.choices[0].message.content or ""
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        self._record_usage(response, prompt_tokens, completion_tokens, latency_ms / 1000)
        try:
            data = json.loads(_strip_fences(text))
        except json.JSONDecodeError as error:
            # Models sometimes answer with prose; another attempt usually gives JSON.
            raise LLMError(
                f"the model did not answer with JSON: {text[:200]!r}", transient=True
            ) from error
        return Completion(
            data=data,
            model=str(getattr(response, "model", self._model) or self._model),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=latency_ms,
        )

    def _record_usage(
        self, response: Any, prompt_tokens: int, completion_tokens: int, seconds: float
    ) -> None:
        """Count an answered call: its tokens, its estimated cost and how long it took.

        The label is the configured model, not the one the provider reports, so that a
        provider's dated model names cannot multiply the series.
        """
        LLM_CALLS.labels(self._model, "ok").inc()
        LLM_DURATION.labels(self._model).observe(seconds)
        LLM_TOKENS.labels(self._model, "prompt").inc(prompt_tokens)
        LLM_TOKENS.labels(self._model, "completion").inc(completion_tokens)
        cost = _estimated_cost(response)
        if cost > 0:
            LLM_COST.labels(self._model).inc(cost)

    def _record_failure(self, failure: LLMError, seconds: float) -> None:
        LLM_CALLS.labels(self._model, "transient" if failure.transient else "permanent").inc()
        LLM_DURATION.labels(self._model).observe(seconds)


def _estimated_cost(response: Any) -> float:
    """LiteLLM's price for a response; 0 for models its price table does not know."""
    try:
        cost = import_litellm().completion_cost(completion_response=response)
    except Exception:  # an unknown model, a local server: there is no price to count
        log.debug("no price known for this completion", exc_info=True)
        return 0.0
    return float(cost or 0.0)


def _strip_fences(text: str) -> str:
    """Drop a Markdown code fence some models wrap JSON in."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0]
    return stripped
