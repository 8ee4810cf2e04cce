"""openapi/memoire.v1.yaml is a valid OpenAPI 3 document, generated from the protos' routes.

The document is what scripts/build_openapi.py makes from the google.api.http annotations;
tests/integration/test_http_edge.py checks that every route in it answers through Envoy.
"""

import subprocess
import sys
from pathlib import Path

import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "openapi" / "memoire.v1.yaml"
BUILD = ROOT / "scripts" / "build_openapi.py"


def test_the_openapi_document_is_what_the_protos_generate():
    result = subprocess.run(
        [sys.executable, str(BUILD), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr + "\nrun: make generate"


def test_the_openapi_document_is_valid_openapi_3():
    validate(yaml.safe_load(DOCUMENT.read_text()))


def test_every_rpc_route_of_the_readme_is_in_the_document():
    paths = yaml.safe_load(DOCUMENT.read_text())["paths"]
    assert {"post", "get"} <= {verb for path in paths.values() for verb in path}
    assert paths["/v1/recall"]["post"]["operationId"] == "MemoryService_Recall"
    assert paths["/v1/memories/{memory_id}"].keys() == {"get", "delete"}
    export = paths["/v1/users/{user_id}:export"]["get"]["responses"]["200"]["content"]
    assert list(export) == ["application/x-ndjson"]
