"""OFREP event streams (ADR-0008) over a real loopback server: tickets, events, resume, revocation, re-fetch."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from itsdangerous import URLSafeSerializer

from feature_flags.evaluation.stream_tickets import MAX_TICKET_CHARS
from tests.people.persons import SSO_SETTINGS, session_for
from tests.support import ADMIN_TOKEN, EventStream, auth, serving

HEARTBEAT_SECONDS = 0.3
# Long enough for a loaded machine to deliver a change; every wait below ends as soon as its answer is in.
DEADLINE_SECONDS = 5.0
BULK = "/ofrep/v1/evaluate/flags"
SEGMENT = {"name": "beta-users", "conditions": [{"attribute": "plan", "op": "in", "values": ["beta"]}]}
FLAG = {
    "name": "new-checkout",
    "environments": {"production": True},
    "targeting": {"production": {"rules": [{"when": [{"segment": "beta-users"}], "serve": "on"}], "serve": "off"}},
}


@pytest.fixture
def config(config):
    """Heartbeats every few tenths of a second, so a test sees them without waiting long."""
    return replace(config, stream_heartbeat_seconds=HEARTBEAT_SECONDS)


@pytest.fixture
def flag(client) -> dict:
    """A production flag whose rule names a segment."""
    assert client.post("/segments", json=SEGMENT).status_code == 201
    created = client.post("/flags", json=FLAG)
    assert created.status_code == 201, created.json
    return created.json


def _token(client, environment: str, name: str | None = None) -> dict:
    created = client.post(
        "/tokens", json={"name": name or f"app-{environment}", "role": "client", "environment": environment}
    )
    assert created.status_code == 201, created.json
    return created.json


@pytest.fixture
def production(client) -> dict:
    """A client token bound to production (its id and secret)."""
    return _token(client, "production")


@pytest.fixture
def staging(client) -> dict:
    """A client token bound to staging."""
    return _token(client, "staging")


def _bulk(base: str, token: str, headers: dict | None = None, params: dict | None = None) -> requests.Response:
    return requests.post(f"{base}{BULK}", json={}, headers={**auth(token), **(headers or {})}, params=params, timeout=5)


def _stream_url(base: str, token: str) -> str:
    answer = _bulk(base, token)
    assert answer.status_code == 200, answer.text
    return answer.json()["eventStreams"][0]["url"]


@pytest.fixture
def streams():
    """Open streams, closed at the end of the test."""
    opened: list[EventStream] = []

    def open_stream(url: str, last_event_id: str | None = None) -> EventStream:
        stream = EventStream(url, last_event_id)
        assert stream.status == 200, stream.response.read(2000)
        opened.append(stream)
        return stream

    yield open_stream
    for stream in opened:
        stream.close()


def _refetch(event: dict) -> dict:
    data = json.loads(event["data"])
    assert event["event"] == "message" and data["type"] == "refetchEvaluation"
    assert event["id"] == data["etag"] and isinstance(data["lastModified"], int)
    return data


def test_bulk__event_streams__sse_url_carries_a_ticket_not_the_token(live_server, flag, production):
    # When
    answer = _bulk(live_server, production["token"])

    # Then
    assert answer.status_code == 200
    (entry,) = answer.json()["eventStreams"]
    assert entry["type"] == "sse" and entry["inactivityDelaySec"] == 120
    assert entry["url"].startswith(f"{live_server}/ofrep/v1/flag-changes?ticket=")
    assert production["token"] not in entry["url"] and production["token"] not in answer.text


def test_stream__toggle__only_that_environments_stream_is_told(live_server, client, flag, production, staging, streams):
    # Given
    in_production = streams(_stream_url(live_server, production["token"]))
    in_staging = streams(_stream_url(live_server, staging["token"]))

    # When
    assert client.post("/flags/new-checkout/toggle", json={"environment": "production"}).status_code == 200

    # Then
    event = in_production.next("event")
    assert event is not None
    data = _refetch(event)
    # Re-fetching with the event's etag answers the new state.
    refetched = _bulk(live_server, production["token"], params={"flagConfigEtag": data["etag"]})
    assert [f["value"] for f in refetched.json()["flags"]] == [False]
    assert in_staging.next("comment") is not None, "the staging stream is alive (heartbeats)"
    assert in_staging.next("event", seconds=HEARTBEAT_SECONDS * 2) is None


@pytest.mark.parametrize(
    ("change", "path", "body"),
    [
        ("segment", "/segments/beta-users", {"conditions": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}),
        ("archive", "/flags/new-checkout/archive", None),
    ],
)
def test_stream__segment_or_archive__event(live_server, client, flag, production, streams, change, path, body):
    # Given
    stream = streams(_stream_url(live_server, production["token"]))

    # When
    answer = client.put(path, json=body) if change == "segment" else client.post(path)

    # Then
    assert answer.status_code == 200, answer.json
    assert stream.next("event") is not None


def test_stream__description_or_other_environment__no_event(live_server, client, flag, production, streams):
    # Given
    stream = streams(_stream_url(live_server, production["token"]))

    # When: changes no production answer depends on
    assert client.put("/flags/new-checkout", json={"description": "words"}).status_code == 200
    assert client.post("/flags/new-checkout/toggle", json={"environment": "development"}).status_code == 200

    # Then
    assert stream.next("comment") is not None
    assert stream.next("event", seconds=HEARTBEAT_SECONDS * 2) is None


def test_stream__resume_with_last_event_id__missed_change_sent_at_once(live_server, client, flag, production, streams):
    # Given: a stream that saw one change, then dropped
    url = _stream_url(live_server, production["token"])
    first = streams(url)
    assert client.post("/flags/new-checkout/toggle", json={"environment": "production"}).status_code == 200
    seen = _refetch(first.next("event"))
    first.close()

    # When: another change while away, then a reconnect naming the last event seen
    assert client.post("/flags/new-checkout/toggle", json={"environment": "production"}).status_code == 200
    resumed = streams(url, last_event_id=seen["etag"])

    # Then
    missed = resumed.next("event", seconds=1.0)
    assert missed is not None and _refetch(missed)["etag"] != seen["etag"]
    current = streams(url, last_event_id=missed["id"])
    assert current.next("comment") is not None and current.next("event", seconds=HEARTBEAT_SECONDS * 2) is None


def test_stream__change_between_bulk_and_connect__event_at_once(live_server, client, flag, production, streams):
    # Given: a bulk answer, then a change before its stream is opened
    url = _stream_url(live_server, production["token"])
    assert client.post("/flags/new-checkout/toggle", json={"environment": "production"}).status_code == 200

    # When
    stream = streams(url)

    # Then
    assert stream.next("event", seconds=1.0) is not None


def test_stream__nothing_changes__heartbeat_comments_and_an_id_to_resume_from(live_server, flag, production, streams):
    stream = streams(_stream_url(live_server, production["token"]))

    assert stream.next("comment") == ": ping"
    assert stream.last_id is not None and len(stream.last_id) == 32


def test_stream__token_revoked__stream_ends(live_server, client, flag, production, streams):
    # Given
    stream = streams(_stream_url(live_server, production["token"]))
    assert stream.next("comment") is not None

    # When
    assert client.delete(f"/tokens/{production['id']}").status_code == 204

    # Then: within the second a revocation takes to be seen, plus a heartbeat
    assert stream.ended.wait(DEADLINE_SECONDS)


def test_stream__ten_concurrent__every_one_told(live_server, client, flag, production, streams):
    opened = [streams(_stream_url(live_server, production["token"])) for _ in range(10)]

    assert client.post("/flags/new-checkout/toggle", json={"environment": "production"}).status_code == 200

    events = [stream.next("event") for stream in opened]
    assert all(event is not None for event in events)
    assert len({event["id"] for event in events}) == 1


def _forged(url: str) -> str:
    ticket = parse_qs(urlsplit(url).query)["ticket"][0]
    body, _, signature = ticket.rpartition(".")
    return url.replace(ticket, f"{body}.{signature[::-1]}")


@pytest.mark.parametrize(
    ("make_url", "headers", "status", "code"),
    [
        (_forged, {}, 401, "invalid_ticket"),
        (lambda url: url.split("?")[0], {}, 401, "invalid_ticket"),
        (lambda url: url.split("?")[0] + "?ticket=not-a-ticket", {}, 401, "invalid_ticket"),
        (lambda url: url + "x" * MAX_TICKET_CHARS, {}, 400, "ticket_too_long"),
        (lambda url: url, {"Last-Event-ID": "a" * 65}, 400, "last_event_id_too_long"),
    ],
)
def test_stream__bad_ticket_or_id__json_error_at_once(app, flag, production, make_url, headers, status, code):
    # Given
    anonymous = app.test_client()
    bulk = anonymous.post(BULK, json={}, headers=auth(production["token"]))

    # When
    answer = anonymous.get(make_url(bulk.json["eventStreams"][0]["url"]), headers=headers)

    # Then
    assert answer.status_code == status and answer.json["error"] == code


def test_stream__ticket_expired__401(make_app, client, flag, production):
    # Given: tickets that last one second (at most one and a half)
    expiring = make_app(stream_ticket_seconds=1.0).test_client()
    url = expiring.post(BULK, json={}, headers=auth(production["token"])).json["eventStreams"][0]["url"]

    # When
    time.sleep(1.6)
    answer = expiring.get(url)

    # Then
    assert answer.status_code == 401 and answer.json["error"] == "invalid_ticket"


def test_stream__worker_full__503_json(make_app, client, flag, production):
    # Given: a worker that holds one stream, holding it
    full = make_app(stream_max_per_worker=1).test_client()
    url = full.post(BULK, json={}, headers=auth(production["token"])).json["eventStreams"][0]["url"]
    held = full.get(url, buffered=False)
    assert held.status_code == 200

    # When
    refused = full.get(url)
    held.close()
    after = full.get(url, buffered=False)
    after.close()

    # Then
    assert refused.status_code == 503 and refused.json["error"] == "too_many_streams"
    assert after.status_code == 200


def test_stream__past_a_clients_bound__429_by_address_for_client_tokens_by_token_for_server_tokens(
    make_app, client, flag, production
):
    # Given: two streams per client allowed; a browser's client token, and an editor token servers use
    app = make_app(stream_max_per_client=2)
    editor = client.post("/tokens", json={"name": "deployer", "role": "editor"}).json["token"]

    def visitor(address: str):
        test_client = app.test_client()
        test_client.environ_base["REMOTE_ADDR"] = address
        return test_client

    def open_stream(caller, token: str):
        url = caller.post(BULK, json={}, headers=auth(token)).json["eventStreams"][0]["url"]
        return caller.get(url, buffered=False)

    # When: one address opens three streams with the client token, another address one; then the editor token
    # opens three from three addresses
    first = visitor("198.51.100.7")
    by_address = [open_stream(first, production["token"]) for _ in range(3)]
    elsewhere = open_stream(visitor("203.0.113.9"), production["token"])
    by_token = [open_stream(visitor(f"192.0.2.{n}"), editor) for n in range(3)]

    # Then: the third of each client is refused (429), the other address is not held up
    assert [answer.status_code for answer in by_address] == [200, 200, 429]
    assert by_address[2].json["error"] == "too_many_streams"
    assert elsewhere.status_code == 200
    assert [answer.status_code for answer in by_token] == [200, 200, 429]
    # And a slot given back is taken again
    by_address[0].close()
    again = open_stream(first, production["token"])
    assert again.status_code == 200
    for answer in (*by_address, elsewhere, *by_token, again):
        answer.close()


def test_bulk__flag_config_etag__304_while_current_200_after_a_change(live_server, client, flag, production, streams):
    # Given: a cached answer, and its stream's id (the configuration it reflects)
    token = production["token"]
    cached = _bulk(live_server, token)
    stream = streams(cached.json()["eventStreams"][0]["url"])
    assert stream.next("comment") is not None
    before = {"flagConfigEtag": stream.last_id, "flagConfigLastModified": "1771622898"}

    # When / Then: nothing changed since: 304
    assert _bulk(live_server, token, {"If-None-Match": cached.headers["ETag"]}, before).status_code == 304

    # After a change, the event's etag: the answer in full
    assert client.post("/flags/new-checkout/toggle", json={"environment": "production"}).status_code == 200
    after = {"flagConfigEtag": _refetch(stream.next("event"))["etag"]}
    changed = _bulk(live_server, token, {"If-None-Match": cached.headers["ETag"]}, after)
    assert changed.status_code == 200 and [f["value"] for f in changed.json()["flags"]] == [False]
    assert _bulk(live_server, token, {"If-None-Match": changed.headers["ETag"]}, after).status_code == 304
    # An event older than the configuration now: in full, whatever If-None-Match says (the copy may predate both)
    stale = _bulk(live_server, token, {"If-None-Match": changed.headers["ETag"]}, before)
    assert stale.status_code == 200


@pytest.mark.parametrize("name", ["flagConfigEtag", "flagConfigLastModified"])
def test_bulk__flag_config_parameter_too_long__400_general(live_server, flag, production, name):
    answer = _bulk(live_server, production["token"], params={name: "x" * 200})

    assert answer.status_code == 400 and answer.json()["errorCode"] == "GENERAL"


def test_stream__token_revoked_before_connecting__401(app, client, flag, production):
    # Given: a stream URL whose token is then revoked
    anonymous = app.test_client()
    url = anonymous.post(BULK, json={}, headers=auth(production["token"])).json["eventStreams"][0]["url"]
    assert client.delete(f"/tokens/{production['id']}").status_code == 204

    # When
    answer = anonymous.get(url)

    # Then
    assert answer.status_code == 401 and answer.json["error"] == "unauthorized"


# --- GET /changes: the admin UI's stream of every change ----------------------------------------------------------


def _changes(base: str, token: str) -> dict:
    answer = requests.get(f"{base}/changes", headers=auth(token), timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    return answer.json()


def test_changes__admin_token__etag_and_a_stream_url_with_a_ticket_not_the_token(live_server, flag):
    # When
    body = _changes(live_server, ADMIN_TOKEN)

    # Then
    assert set(body) == {"etag", "stream"} and isinstance(body["etag"], str) and len(body["etag"]) == 32
    stream = urlsplit(body["stream"])
    assert not stream.scheme and not stream.netloc, "a path under the API's base, whatever the proxy sends"
    assert stream.path == "/ofrep/v1/flag-changes" and set(parse_qs(stream.query)) == {"ticket"}
    assert ADMIN_TOKEN not in body["stream"]


def test_changes__no_token__401(live_server):
    assert requests.get(f"{live_server}/changes", timeout=5).status_code == 401


@pytest.mark.parametrize(
    ("change", "path", "body"),
    [
        ("description", "/flags/new-checkout", {"description": "words people read"}),
        ("tags", "/flags/new-checkout", {"tags": ["checkout"]}),
        ("new flag", "/flags", {"name": "another-flag"}),
        ("token", "/tokens", {"name": "ci", "role": "admin"}),
        (
            "segment",
            "/segments",
            {"name": "staff", "conditions": [{"attribute": "team", "op": "in", "values": ["staff"]}]},
        ),
    ],
)
def test_changes_stream__any_change_a_person_sees__event(live_server, client, flag, streams, change, path, body):
    # Given: the stream the admin UI follows
    before = _changes(live_server, ADMIN_TOKEN)
    stream = streams(live_server + before["stream"])

    # When: a change no OFREP environment stream reports (descriptions, tags) or any other
    method = client.put if path == "/flags/new-checkout" else client.post
    made = method(path, json=body)
    assert made.status_code in (200, 201), made.json

    # Then: an event, whose id is the new etag /changes answers too
    event = stream.next("event")
    assert event is not None, change
    data = _refetch(event)
    assert data["etag"] != before["etag"]
    assert data["etag"] == _changes(live_server, ADMIN_TOKEN)["etag"]


def test_changes_stream__toggle_in_any_environment__event(live_server, client, flag, streams):
    stream = streams(live_server + _changes(live_server, ADMIN_TOKEN)["stream"])
    assert client.post("/flags/new-checkout/toggle", json={"environment": "development"}).status_code == 200
    assert stream.next("event") is not None


def test_changes_stream__client_token_revoked__stream_ends(live_server, client, flag, production, streams):
    # Given: a client token's stream of changes
    stream = streams(live_server + _changes(live_server, production["token"])["stream"])

    # When
    assert client.delete(f"/tokens/{production['id']}").status_code == 204

    # Then: the stream ends before its next event or heartbeat
    assert stream.ended.wait(DEADLINE_SECONDS)


def test_changes_ticket__refused_where_an_environment_is_due__bulk_still_answers(live_server, flag, production):
    # Given: a ticket for every change, which names no environment
    url = live_server + _changes(live_server, production["token"])["stream"]

    # When: a bulk answer is asked for as usual, then its stream with the changes ticket in place
    bulk = _stream_url(live_server, production["token"])

    # Then: both are tickets of this service, of different scopes; each opens its stream
    assert parse_qs(urlsplit(url).query)["ticket"] != parse_qs(urlsplit(bulk).query)["ticket"]
    assert requests.get(url, stream=True, timeout=5).status_code == 200


@pytest.mark.parametrize("ending", ["sign-out", "deactivation"])
def test_changes_stream__person_signs_out_or_is_deactivated__stream_ends_and_ticket_refused(make_app, ending):
    # Given: a person signed in, following the admin UI's stream of changes
    app = make_app(**SSO_SETTINGS, stream_heartbeat_seconds=HEARTBEAT_SECONDS)
    secret, csrf = session_for(app, "ada.lovelace@example.com", "editor")
    with serving(app) as base:
        browser = requests.Session()
        browser.cookies.set("ff_session", secret)
        url = base + browser.get(f"{base}/changes", timeout=5).json()["stream"]
        stream = EventStream(url)
        assert stream.status == 200

        # When: they sign out, or an admin deactivates them
        if ending == "sign-out":
            ended = browser.post(f"{base}/auth/logout", headers={"X-CSRF-Token": csrf}, timeout=5)
        else:
            (user,) = requests.get(f"{base}/users", headers=auth(), timeout=5).json()
            ended = requests.patch(f"{base}/users/{user['_id']}", json={"active": False}, headers=auth(), timeout=5)
        assert ended.status_code in (200, 204), ended.text

        # Then: the open stream ends before its next heartbeat, and its URL admits nobody any more
        try:
            assert stream.ended.wait(DEADLINE_SECONDS)
        finally:
            stream.close()
        assert requests.get(url, stream=True, timeout=5).status_code == 401
    # And the URL never held anything personal: the ticket's payload (signed, not hidden) names no one
    _, payload = URLSafeSerializer("any").loads_unsafe(parse_qs(urlsplit(url).query)["ticket"][0])
    # (Words no hexadecimal hash can hold by chance: "ada" alone can, and once did.)
    named = json.dumps(payload)
    assert set(payload) == {"e", "c", "x", "s"} and "lovelace" not in named and "example.com" not in named
    assert "lovelace" not in url
