"""The client over `httpx.MockTransport`: headers, typing, errors, retries, 401, 429, paging."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from ghl_helpers import CALLS, CID, LOC, ClientFactory, operation_of

from schemas.ghl import Contact
from services import ghl
from services.ghl import OPERATIONS, InMemoryRateLimiter
from services.ghl.requests import ContactCreate, ContactSearch, ContactUpsert, TaskSearch
from tests.factories.ghl import RefusedOnce


@pytest.mark.parametrize("operation_id", sorted(CALLS))
async def test_every_operation_sends_its_path_version_and_token(
    make_client: ClientFactory, operation_id: str
) -> None:
    call, answer = CALLS[operation_id]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = 201 if OPERATIONS[operation_id].method == "POST" else 200
        return httpx.Response(status, json=answer)

    async with make_client(handler) as client:
        result = await call(client)
    assert result is not None
    [request] = seen
    op = OPERATIONS[operation_id]
    assert request.method == op.method
    assert operation_of(request) == operation_id
    assert request.headers["Version"] == op.version
    expected = "2021-04-15" if op.spec == "apps/calendars.json" else "2021-07-28"
    assert request.headers["Version"] == expected
    assert request.headers["Authorization"] == "Bearer pit-static-token"
    if "locationId" in request.url.params:
        assert request.url.params["locationId"] == LOC
    if request.content and op.method == "POST" and "{contactId}" not in op.path:
        body = json.loads(request.content)
        if "locationId" in body:
            assert body["locationId"] == LOC


async def test_answers_are_typed_with_schemas_models(make_client: ClientFactory) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"contact": {"id": CID, "firstName": "Ada", "newField": 1}})

    async with make_client(handler) as client:
        contact = await client.get_contact(LOC, CID)
    assert isinstance(contact, Contact)
    assert contact.firstName == "Ada"
    assert contact.model_extra == {"newField": 1}


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"statusCode": 400, "message": "Bad Request"}, ghl.ValidationFailed),
        (400, {"statusCode": 400, "message": "Contact not found for id:x"}, ghl.NotFound),
        (404, {"statusCode": 404, "message": "nope"}, ghl.NotFound),
        (
            422,
            {"statusCode": 422, "message": ["a should not exist", "b bad"]},
            ghl.ValidationFailed,
        ),
        (403, {"statusCode": 403, "message": "no access to this location"}, ghl.AuthError),
        (418, {"message": "teapot"}, Exception),
    ],
)
async def test_errors_are_translated(
    make_client: ClientFactory, status: int, body: dict[str, Any], error: type[Exception]
) -> None:
    async with make_client(lambda request: httpx.Response(status, json=body)) as client:
        with pytest.raises(error) as info:
            await client.get_contact(LOC, CID)
    assert f"HTTP {status}" in str(info.value)
    assert "GET /contacts/{contactId}" in str(info.value)
    if status == 422:
        assert isinstance(info.value, ghl.ValidationFailed)
        assert info.value.messages == ("a should not exist", "b bad")


async def test_server_errors_on_reads_are_retried_then_raised(make_client: ClientFactory) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(502, json={"message": "bad gateway"})

    async with make_client(handler, max_retries=2) as client:
        with pytest.raises(ghl.ServerError) as info:
            await client.get_contact(LOC, CID)
    assert calls == 3
    assert info.value.retryable


async def test_a_transient_server_error_on_a_put_is_retried(make_client: ClientFactory) -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json={"task": {"id": "t1"}})])
    async with make_client(lambda request: next(answers)) as client:
        task = await client.complete_task(LOC, CID, "t1")
    assert task.id == "t1"


async def test_timeouts_on_reads_are_retried_and_translated(make_client: ClientFactory) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("slow", request=request)

    async with make_client(handler, max_retries=1) as client:
        with pytest.raises(ghl.TransportError) as info:
            await client.get_contact(LOC, CID)
    assert calls == 2
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


@pytest.mark.parametrize(
    "failure",
    [
        lambda request: httpx.Response(500, json={"message": "oops"}),
        lambda request: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=request)),
        lambda request: (_ for _ in ()).throw(httpx.RemoteProtocolError("dropped")),
    ],
    ids=["5xx", "read-timeout", "dropped"],
)
async def test_a_create_with_unknown_outcome_is_never_retried(
    make_client: ClientFactory, failure: Any
) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        result: httpx.Response = failure(request)
        return result

    async with make_client(handler, max_retries=3) as client:
        with pytest.raises(ghl.OutcomeUnknown) as info:
            await client.create_contact(LOC, ContactCreate(email="a@example.com"))
    assert calls == 1
    assert not info.value.retryable


async def test_a_create_that_never_left_is_retried(make_client: ClientFactory) -> None:
    handler = RefusedOnce(httpx.Response(201, json={"contact": {"id": CID}}))
    async with make_client(handler) as client:
        contact = await client.create_contact(LOC, ContactCreate(email="a@example.com"))
    assert contact.id == CID
    assert handler.calls == 2


async def test_upsert_is_retried_unless_it_may_create_duplicates(
    make_client: ClientFactory,
) -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json={"contact": {"id": CID}})])
    async with make_client(lambda request: next(answers)) as client:
        result = await client.upsert_contact(LOC, ContactUpsert(email="a@example.com"))
    assert result.contact.id == CID

    async with make_client(lambda request: httpx.Response(503)) as client:
        with pytest.raises(ghl.OutcomeUnknown):
            await client.upsert_contact(
                LOC, ContactUpsert(email="a@example.com", createNewIfDuplicateAllowed=True)
            )


class _RotatingTokens:
    def __init__(self) -> None:
        self.current = "old-token"
        self.refreshes = 0

    async def access_token(self, location_id: str) -> str:
        return self.current

    async def refresh(self, location_id: str, *, rejected: str) -> str:
        self.refreshes += 1
        self.current = f"new-token-{self.refreshes}"
        return self.current


async def test_a_401_refreshes_once_and_retries(make_client: ClientFactory) -> None:
    tokens = _RotatingTokens()
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer old-token":
            return httpx.Response(401, json={"message": "Invalid token"})
        return httpx.Response(200, json={"contact": {"id": CID}})

    async with make_client(handler, tokens=tokens) as client:
        assert (await client.get_contact(LOC, CID)).id == CID
    assert tokens.refreshes == 1
    assert sent == ["Bearer old-token", "Bearer new-token-1"]


async def test_a_second_401_is_an_auth_error(make_client: ClientFactory) -> None:
    tokens = _RotatingTokens()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(401, json={"message": "Invalid token"})

    async with make_client(handler, tokens=tokens) as client:
        with pytest.raises(ghl.AuthError):
            await client.create_contact(LOC, ContactCreate(email="a@example.com"))
    assert (calls, tokens.refreshes) == (2, 1)


async def test_a_429_is_waited_out_and_retried(make_client: ClientFactory) -> None:
    limiter = InMemoryRateLimiter(requests=100_000, interval=1.0)
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "0.02"}, json={"message": "slow down"}),
            httpx.Response(201, json={"contact": {"id": CID}}),
        ]
    )
    async with make_client(lambda request: next(answers), limiter=limiter) as client:
        contact = await client.create_contact(LOC, ContactCreate(email="a@example.com"))
    assert contact.id == CID
    assert limiter.penalties == [(LOC, 0.02)]


async def test_persistent_429_raises_rate_limited(make_client: ClientFactory) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"message": "Too Many Requests"})

    async with make_client(handler, max_rate_limit_retries=2) as client:
        with pytest.raises(ghl.RateLimited) as info:
            await client.get_contact(LOC, CID)
    assert info.value.retry_after == pytest.approx(0.001)


async def test_iter_contacts_follows_the_cursor(make_client: ClientFactory) -> None:
    pages: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        pages.append(dict(request.url.params))
        start = int(request.url.params.get("startAfter", "0"))
        limit = int(request.url.params["limit"])
        ids = [n for n in range(start + 1, min(start + limit, 5) + 1)]
        contacts = [{"id": f"c{n}", "dateAdded": n * 1000} for n in ids]
        meta = {"startAfterId": f"c{ids[-1]}", "startAfter": ids[-1]} if ids else None
        return httpx.Response(200, json={"contacts": contacts, "count": 5, "meta": meta})

    async with make_client(handler) as client:
        seen = [c.id async for c in client.iter_contacts(LOC, page_size=2)]
    assert seen == ["c1", "c2", "c3", "c4", "c5"]
    assert pages[1]["startAfterId"] == "c2"
    assert pages[1]["startAfter"] == "2"


async def test_iter_search_contacts_uses_search_after(make_client: ClientFactory) -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        after = (body.get("searchAfter") or [0])[0]
        hits = [
            {"id": f"c{n}", "searchAfter": [n]}
            for n in range(after + 1, min(after + body["pageLimit"], 3) + 1)
        ]
        return httpx.Response(200, json={"contacts": hits, "total": 3})

    async with make_client(handler) as client:
        seen = [c.id async for c in client.iter_search_contacts(LOC, ContactSearch(pageLimit=2))]
    assert seen == ["c1", "c2", "c3"]
    assert bodies[0]["locationId"] == LOC
    assert bodies[1]["searchAfter"] == [2]


async def test_iter_tasks_pages_by_skip(make_client: ClientFactory) -> None:
    skips: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        skips.append(body["skip"])
        ids = range(body["skip"], min(body["skip"] + body["limit"], 5))
        return httpx.Response(200, json={"tasks": [{"id": f"t{n}"} for n in ids]})

    async with make_client(handler) as client:
        seen = [t.id async for t in client.iter_tasks(LOC, TaskSearch(limit=2))]
    assert seen == ["t0", "t1", "t2", "t3", "t4"]
    assert skips == [0, 2, 4]
