"""GET /flags for people and scripts: filters, natural order, paging with Link and X-Total-Count; GET /tags."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from feature_flags.extensions import get_store


def create(client, name, **fields):
    response = client.post("/flags", json={"name": name, **fields})
    assert response.status_code == 201, response.json
    return response.json


def names(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [flag["name"] for flag in response.json]


def next_link(response) -> str | None:
    """Return the rel="next" URL of a Link header (RFC 8288), or None."""
    header = response.headers.get("Link")
    if header is None:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', header)
    assert match, header
    return match.group(1)


@pytest.fixture
def catalogue(client):
    """Six flags of several kinds, tags and states."""
    create(client, "payments-api", description="Card payments", tags=["payments", "backend"], type="release")
    create(client, "Payments-UI", tags=["payments", "frontend"], type="experiment", environments={"production": True})
    create(client, "search", description="New PAYMENTS search box", type="operational")
    create(client, "kill-all", type="kill-switch", environments={"production": True, "staging": True})
    create(client, "beta-access", tags=["backend"], type="permission")
    create(client, "retired", tags=["payments"])
    client.post("/flags/retired/archive")


def test_list__no_parameters__every_live_flag_in_natural_order_with_total(client, catalogue):
    response = client.get("/flags")
    assert names(response) == ["beta-access", "kill-all", "payments-api", "Payments-UI", "search"]
    assert response.headers["X-Total-Count"] == "5"
    assert "Link" not in response.headers


def test_list__names__sort_naturally_and_case_insensitively(client):
    for name in ["feature-10", "feature-100", "feature-1000", "feature-105", "Feature-2", "feature-1", "feature-9"]:
        create(client, name)
    expected = ["feature-1", "Feature-2", "feature-9", "feature-10", "feature-100", "feature-105", "feature-1000"]
    assert names(client.get("/flags")) == expected
    assert names(client.get("/flags?sort=name")) == expected
    assert names(client.get("/flags?sort=-name")) == expected[::-1]


def test_list__q__case_insensitive_substring_of_name_or_description(client, catalogue):
    assert names(client.get("/flags?q=payments")) == ["payments-api", "Payments-UI", "search"]
    assert names(client.get("/flags?q=CARD")) == ["payments-api"]
    assert names(client.get("/flags?q=nothing-like-it")) == []


def test_list__tags__every_one_must_match(client, catalogue):
    assert names(client.get("/flags?tag=payments")) == ["payments-api", "Payments-UI"]
    assert names(client.get("/flags?tag=payments&tag=backend")) == ["payments-api"]
    assert names(client.get("/flags?tag=backend")) == ["beta-access", "payments-api"]
    assert names(client.get("/flags?tag=unused")) == []


def test_list__type__only_that_type(client, catalogue):
    assert names(client.get("/flags?type=kill-switch")) == ["kill-all"]
    assert names(client.get("/flags?type=release")) == ["payments-api"]


def test_list__state__in_the_chosen_environment(client, catalogue):
    assert names(client.get("/flags?state=on&environment=production")) == ["kill-all", "Payments-UI"]
    assert names(client.get("/flags?state=on&environment=staging")) == ["kill-all"]
    assert names(client.get("/flags?state=off&environment=production")) == ["beta-access", "payments-api", "search"]
    # enabled says the same environment's state
    assert all(flag["enabled"] for flag in client.get("/flags?state=on&environment=production").json)


def test_list__stale__true_and_false_split_the_flags(client, catalogue):
    client.put("/flags/search", json={"stale": True})
    assert names(client.get("/flags?stale=true")) == ["search"]
    assert names(client.get("/flags?stale=false")) == ["beta-access", "kill-all", "payments-api", "Payments-UI"]


def test_list__archived_true__archived_flags_only(client, catalogue):
    response = client.get("/flags?archived=true")
    assert names(response) == ["retired"]
    assert response.json[0]["archived_at"] is not None
    assert names(client.get("/flags?archived=false")) == names(client.get("/flags"))
    assert names(client.get("/flags?archived=true&tag=payments")) == ["retired"]


def test_list__filters_combine(client, catalogue):
    assert names(client.get("/flags?q=pay&tag=payments&type=experiment&state=on&environment=production")) == [
        "Payments-UI"
    ]


def test_list__sort_by_times__oldest_or_newest_first(client, catalogue):
    created = names(client.get("/flags?sort=created_at"))
    assert created == ["payments-api", "Payments-UI", "search", "kill-all", "beta-access"]
    assert names(client.get("/flags?sort=-created_at")) == created[::-1]
    client.put("/flags/payments-api", json={"description": "changed last"})
    assert names(client.get("/flags?sort=-updated_at"))[0] == "payments-api"
    assert names(client.get("/flags?sort=updated_at"))[-1] == "payments-api"


def test_list__limit__first_page_with_total_and_next_link(client, catalogue):
    response = client.get("/flags?limit=2")
    assert names(response) == ["beta-access", "kill-all"]
    assert response.headers["X-Total-Count"] == "5"
    link = urlsplit(next_link(response))
    assert link.scheme == "http" and link.path == "/flags"
    query = parse_qs(link.query)
    assert query["limit"] == ["2"] and len(query["cursor"]) == 1


def test_list__paging_1200_flags_with_link__every_flag_exactly_once_in_each_order(app, client):
    store = get_store(app)
    with store.bounded(60):
        # Batches of 300 share a creation time: ties in the time orders go by name, and no page repeats or skips one.
        store.create_flags([{"name": f"flag-{n}"} for n in range(1200)], actor="test", batch=300)

    for sort in ["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"]:
        everything = names(client.get(f"/flags?sort={sort}"))
        assert len(everything) == 1200
        seen: list[str] = []
        url = f"/flags?sort={sort}&limit=200"
        pages = 0
        while url is not None:
            response = client.get(url)
            assert response.headers["X-Total-Count"] == "1200"
            seen += names(response)
            url = next_link(response)
            pages += 1
        assert pages == 6, sort
        assert seen == everything, sort
        assert len(set(seen)) == 1200
    assert names(client.get("/flags?limit=3")) == ["flag-0", "flag-1", "flag-2"]
    assert names(client.get("/flags?sort=-name&limit=1")) == ["flag-1199"]


def test_list__paging_with_filter__link_keeps_the_filter(app, client):
    get_store(app).create_flags(
        [{"name": f"f-{n}", "tags": ["even"] if n % 2 == 0 else []} for n in range(50)], actor="test"
    )
    seen: list[str] = []
    url = "/flags?tag=even&limit=7"
    while url is not None:
        response = client.get(url)
        assert response.headers["X-Total-Count"] == "25"
        seen += names(response)
        url = next_link(response)
    assert seen == [f"f-{n}" for n in range(0, 50, 2)]


def test_list__page_after_a_flag_is_deleted__continues_without_repeats(client):
    for n in range(6):
        create(client, f"f-{n}")
    first = client.get("/flags?limit=3")
    assert names(first) == ["f-0", "f-1", "f-2"]
    # The last flag of the page goes before the next page is asked for: the cursor is a position, not an offset.
    client.delete("/flags/f-2")
    assert names(client.get(next_link(first))) == ["f-3", "f-4", "f-5"]


def test_list__client_token__filters_within_its_own_environment(client, anonymous, catalogue):
    secret = client.post("/tokens", json={"name": "app", "role": "client", "environment": "production"}).json["token"]
    response = anonymous.get("/flags?state=on&limit=1", headers={"Authorization": f"Bearer {secret}"})
    assert names(response) == ["kill-all"]
    assert response.json[0]["environments"] == {"production": True}
    assert list(response.json[0]["last_evaluated_at"]) == ["production"]
    assert response.headers["X-Total-Count"] == "2"
    assert anonymous.get("/flags?environment=staging", headers={"Authorization": f"Bearer {secret}"}).status_code == 403


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("sort=size", "sort"),
        ("state=maybe", "state"),
        ("stale=perhaps", "stale"),
        ("archived=2", "archived"),
        ("type=forever", "type"),
        ("tag=has%20space", "tag.0"),
        ("q=" + "x" * 201, "q"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=eyJzIjoibmFtZSJ9", "cursor"),
        ("page=2", "page"),
        ("limit=1&limit=2", "limit"),
    ],
)
def test_list__bad_value__400_naming_the_parameter(client, catalogue, query, parameter):
    response = client.get(f"/flags?{query}")
    assert response.status_code == 400, response.json
    assert response.json["error"] == "validation_error"
    assert parameter in {item["field"] for item in response.json["details"]}
    assert response.json["message"].startswith(parameter)


def test_list__cursor_of_another_sort__400(client, catalogue):
    link = next_link(client.get("/flags?limit=1&sort=name"))
    cursor = parse_qs(urlsplit(link).query)["cursor"][0]
    response = client.get(f"/flags?sort=-created_at&cursor={cursor}")
    assert response.status_code == 400 and response.json["details"][0]["field"] == "cursor"


def test_list__unknown_environment__400(client, catalogue):
    response = client.get("/flags?environment=moon&limit=2")
    assert response.status_code == 400 and response.json["error"] == "unknown_environment"


def test_tags__every_live_tag_with_its_count_in_natural_order(client, catalogue):
    response = client.get("/tags")
    assert response.status_code == 200
    # "retired" is archived: its tag count leaves it out
    assert response.json == [
        {"tag": "backend", "flags": 2},
        {"tag": "frontend", "flags": 1},
        {"tag": "payments", "flags": 2},
    ]
    client.put("/flags/search", json={"tags": ["frontend", "payments"]})
    assert {"tag": "payments", "flags": 3} in client.get("/tags").json


def test_tags__needs_a_token(anonymous):
    assert anonymous.get("/tags").status_code == 401


def test_openapi__documents_the_list_parameters_headers_and_new_operations(client):
    document = client.get("/openapi.json").json
    listing = document["paths"]["/flags"]["get"]
    parameters = {parameter["name"]: parameter["schema"] for parameter in listing["parameters"]}
    assert set(parameters) == {
        "environment",
        "q",
        "tag",
        "type",
        "state",
        "stale",
        "archived",
        "sort",
        "limit",
        "cursor",
    }
    assert parameters["limit"]["minimum"] == 1 and parameters["limit"]["maximum"] == 1000
    assert parameters["tag"]["type"] == "array"
    assert "natural" in listing["description"]
    assert set(listing["responses"]["200"]["headers"]) == {"X-Total-Count", "Link"}
    assert {"post"} <= set(document["paths"]["/flags/{ident}/archive"])
    assert {"post"} <= set(document["paths"]["/flags/{ident}/revive"])
    assert "get" in document["paths"]["/tags"]
    flag = document["components"]["schemas"]["Flag"]["properties"]
    assert {"tags", "type", "archived_at", "stale", "stale_reason", "last_evaluated_at"} <= set(flag)
