"""Unleash's client-specification documents replayed end to end: imported, served, and evaluated by Unleash's SDKs.

Each document's state goes in through POST /import?format=unleash; the Python SDK (PyPI UnleashClient) and the
Node SDK (npm unleash-client) then read /api/client/features and answer every test of the document. Each answer
must be our OFREP answer for the same context, and the document's expected result unless the import listed the
feature as unmapped. A feature the service cannot hand the SDKs exactly (local_evaluation says why) is not served,
and both SDKs then answer as for an unknown feature.
"""

from __future__ import annotations

import json

import pytest
from UnleashClient import UnleashClient

from tests.api.test_unleash_import import IMPORT, SPECIFICATIONS, VECTORS, enabled, variant
from tests.sdk.test_unleash_sdks import MemoryCache, node_sdk
from tests.support import serving

ENV = "production"
# The SDKs' own context: a document's test that names no appName or environment is answered as Unleash's runner
# answers it (constraints on them then compare against these).
APP = "client-specification"
UNKNOWN = {"name": "disabled", "payload": None, "enabled": False, "feature_enabled": False}


def _variant_answer(answer: dict) -> dict:
    """The parts of a getVariant answer the documents state, the same for both SDKs."""
    return {
        "name": answer["name"],
        "payload": answer.get("payload") or None,
        "enabled": answer["enabled"],
        "feature_enabled": answer.get("feature_enabled", answer.get("featureEnabled")),
    }


def _expected_variant(expected: dict) -> dict:
    return {
        "name": expected["name"],
        "payload": expected.get("payload") or None,
        "enabled": expected["enabled"],
        "feature_enabled": expected.get("feature_enabled", expected.get("featureEnabled")),
    }


def _ofrep_context(context: dict) -> dict:
    """A test's context as an SDK sends it (its appName and environment filled in), in OFREP's form."""
    return {"appName": APP, "environment": "default", **context}


@pytest.mark.parametrize("file_name", SPECIFICATIONS)
def test_client_specification__imported_then_evaluated_by_both_sdks__ours_and_unleash_expected(app, client, file_name):
    # Given: the document's state imported into production, and a server token
    spec = json.loads((VECTORS / file_name).read_text())
    plan = client.post(f"{IMPORT}&dry_run=true", json=spec["state"])
    unmapped = {part["flag"] for part in plan.json["unmapped"]}
    assert client.post(f"{IMPORT}&allow_partial=true", json=spec["state"]).status_code == 200
    served = {feature["name"] for feature in client.get(f"/api/client/features?environment={ENV}").json["features"]}
    token = client.post("/tokens", json={"name": "spec", "role": "server", "environment": ENV}).json["token"]
    cases = [{"flag": test["toggleName"], "variant": False, "context": test["context"],
              "expected": test["expectedResult"], "description": test["description"]}
             for test in spec.get("tests", [])]  # fmt: skip
    cases += [{"flag": test["toggleName"], "variant": True, "context": test["context"],
               "expected": _expected_variant(test["expectedResult"]), "description": test["description"]}
              for test in spec.get("variantTests", [])]  # fmt: skip

    # When: each SDK answers every test of the document from what the service serves
    with serving(app) as base:
        sdk = UnleashClient(url=f"{base}/api", app_name=APP, instance_id="spec", cache=MemoryCache(),
                            custom_headers={"Authorization": token}, disable_metrics=True,
                            disable_registration=True)  # fmt: skip
        sdk.initialize_client()
        try:
            python = [_variant_answer(sdk.get_variant(case["flag"], case["context"])) if case["variant"]
                      else sdk.is_enabled(case["flag"], case["context"]) for case in cases]  # fmt: skip
        finally:
            sdk.destroy()
        job = {"job": "cases", "url": f"{base}/api", "token": token, "appName": APP,
               "cases": [{key: case[key] for key in ("flag", "variant", "context")} for case in cases]}  # fmt: skip
        node = [_variant_answer(answer) if case["variant"] else answer
                for case, answer in zip(cases, node_sdk(job), strict=True)]  # fmt: skip

    # Then: both SDKs answer as OFREP does, and as Unleash expects wherever the feature was imported whole
    compared = 0
    for case, from_python, from_node in zip(cases, python, node, strict=True):
        flag, context = case["flag"], _ofrep_context(case["context"])
        if flag not in served:
            ours = UNKNOWN if case["variant"] else False
        elif case["variant"]:
            ours = _expected_variant(variant(client, flag, context))
        else:
            ours = enabled(client, flag, context) or False
        assert (from_python, from_node) == (ours, ours), case["description"]
        if flag not in unmapped and flag in served:
            assert from_python == case["expected"], case["description"]
            compared += 1
    # And the document proves something: every feature imported whole was served, and some were checked
    whole = {feature["name"] for feature in spec["state"]["features"]} - unmapped
    assert served >= whole
    assert compared > 0 or not whole, plan.json["unmapped"]
