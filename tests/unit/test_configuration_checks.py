"""Configuration checks made from settings alone: an LLM that cannot work, and a pgvector
build that would crash running HNSW on its CPU."""

import pytest
from pydantic import SecretStr

from memoire_adapters.llm import configuration_problem
from memoire_core.config import Settings
from memoire_core.services.embedding import hnsw_crashes

BUNDLED = "'--prefix=/project/pgbuild/../src/pgserver/pginstall/' '--without-readline'"
DEBIAN = "'--build=x86_64-linux-gnu' '--prefix=/usr' '--with-llvm'"


@pytest.fixture(autouse=True)
def no_provider_keys(monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_no_model_is_no_problem_extraction_is_just_off():
    assert configuration_problem(settings()) is None


def test_a_hosted_model_without_its_key_names_both_settings():
    problem = configuration_problem(settings(llm_model="anthropic/claude-3-5-haiku-latest"))
    assert problem is not None
    assert "MEMOIRE_LLM_API_KEY" in problem
    assert "ANTHROPIC_API_KEY" in problem


def test_the_key_may_come_from_either_setting(monkeypatch):
    model = "gpt-4o-mini"
    assert configuration_problem(settings(llm_model=model, llm_api_key=SecretStr("k"))) is None
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    assert configuration_problem(settings(llm_model=model)) is None


def test_a_local_openai_compatible_server_needs_no_key():
    local = settings(llm_model="openai/llama3.1", llm_api_base="http://localhost:11434/v1")
    assert configuration_problem(local) is None


def test_a_model_no_provider_knows_names_the_model_setting():
    problem = configuration_problem(settings(llm_model="no-such-provider/model"))
    assert problem is not None
    assert problem.startswith("MEMOIRE_LLM_MODEL='no-such-provider/model'")


@pytest.mark.parametrize(
    ("configure", "flags", "crashes"),
    [
        (BUNDLED, frozenset({"sse4_2", "avx2"}), True),
        (BUNDLED, frozenset({"avx2", "avx512f"}), False),
        (BUNDLED, None, True),  # the bundled build on a CPU it does not show: not risked
        (DEBIAN, frozenset({"avx2"}), False),  # packaged pgvector runs on any CPU of its arch
        (None, None, False),  # a server that does not show its build: packaged
    ],
)
def test_only_the_bundled_pgvector_on_a_cpu_without_avx512_is_known_to_crash(
    configure, flags, crashes
):
    assert hnsw_crashes(configure, flags) is crashes
