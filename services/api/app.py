"""APPNAME's HTTP face: submit commands, read their status, read the unified contact view.

- `POST /v1/commands`: 202 `{command_id}` once the command is on `appname.commands.v1`
  with the acks of all in-sync replicas. The same command sent again (same id, same content)
  is accepted again and applied once; the same id with other content is 409. A command that
  does not validate is 422 naming the field; a body that is not JSON, or nested deeper than
  `max_json_depth`, 400; too large 413.
- `POST /v1/commands/batch`: up to `max_batch` commands at once, all valid or none.
- `GET /v1/commands/{command_id}`: state (`pending`, `accepted`, `received`, `succeeded`,
  `failed`, `rejected`) and the result.
- `GET /v1/contacts/{contact_id}`, `GET /v1/contacts`: the projections.
- `GET /healthz`, `/livez` (the process serves), `GET /readyz` (200, or 503 naming the
  dependency that is away and why), `GET /metrics` (Prometheus); none needs a key.

Every `/v1` call needs `X-API-Key` (or `Authorization: Bearer <key>`); keys are compared in
constant time and never logged.

Failure policy (`services.platform.outage`): the API starts and stays up without Kafka or
PostgreSQL. While PostgreSQL is away every `/v1` route answers 503 with `Retry-After`; while
Kafka is away, the command routes do (reads need only PostgreSQL and keep answering). One log
line when a dependency goes, one when it is back; reconnects back off (capped, jittered).

No phantom commands: a command is recorded `pending`, produced, and becomes `accepted` only
once Kafka confirmed it. When Kafka does not confirm in time the client gets 503, and the
command stays `pending` (it may be on the topic or not): the API produces it again every
`pending_retry_seconds` until Kafka confirms (the writer applies a command once however often
it is on the topic), or makes it `failed` (`not_on_topic`) after `pending_expiry_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
import pydantic_core
from aiokafka import AIOKafkaProducer
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from pydantic import BaseModel, ConfigDict, TypeAdapter

from schemas import (
    Command,
    CommandBase,
    CommandDecodeError,
    CommandResult,
    command_digest,
    command_key,
    decode_command,
)
from services.api._batch import Batcher
from services.api._history import contact_view_as_of, register_history_routes
from services.api._reads import CursorError, get_contact_view, list_contacts
from services.api.settings import ApiSettings
from services.platform.outage import (
    DATABASE_ERRORS,
    KAFKA_ERRORS,
    Dependency,
    kafka_client_options,
    stop_quietly,
    watch,
)
from services.writer._runtime import writer_topics
from services.writer.settings import WriterSettings
from services.writer.store import AcceptedRow, WriterStore
from streams.admin import ensure_topics

__all__ = ["Accepted", "ApiProblem", "CommandStatus", "ContactPage", "ContactView", "create_app"]

_log = logging.getLogger("services.api")


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Accepted(_Out):
    """The command is durably on the commands topic."""

    command_id: str
    state: Literal["accepted"] = "accepted"


class AcceptedBatch(_Out):
    """Every command of the batch is durably on the commands topic."""

    command_ids: list[str]


class ApiProblem(_Out):
    """An error: a stable `code` and a message naming the problem."""

    code: str
    message: str


class CommandStatus(_Out):
    """Where a command is, and its result once terminal."""

    command_id: str
    command_type: str
    location_id: str
    contact_id: str | None = None
    state: Literal["pending", "accepted", "received", "succeeded", "failed", "rejected"]
    """`pending`: recorded, Kafka has not confirmed it yet (it is produced again until it
    does, or fails as `not_on_topic`); `accepted`: on the commands topic."""
    attempts: int
    result: CommandResult | None = None
    accepted_at: datetime
    received_at: datetime | None = None
    finished_at: datetime | None = None


class ContactView(_Out):
    """A contact as GHL holds it, with its tags, tasks, notes and appointments."""

    location_id: str
    contact: dict[str, Any]
    tags: list[str]
    tasks: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    appointments: list[dict[str, Any]]
    version: datetime


class ContactListItem(_Out):
    """One contact of a list."""

    location_id: str
    contact: dict[str, Any]


class ContactPage(_Out):
    """A page of contacts; pass `next_cursor` as `cursor` for the next (null: last page)."""

    items: list[ContactListItem]
    next_cursor: str | None = None


def _problem(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


_NOT_ON_TOPIC = json.dumps(
    {
        "command_id": "",
        "state": "failed",
        "error": {
            "code": "not_on_topic",
            "message": "Kafka never confirmed the command; it was not applied. Send it again "
            "with a new command_id if it is still wanted.",
        },
        "completed_at": "1970-01-01T00:00:00Z",
    }
)
"""The result of a command that stayed `pending` too long (`command_id`, `command_type` and
`location_id` are filled in by the store; `completed_at` by the SQL below)."""


def _row_key(row: AcceptedRow) -> str:
    # The same key `command_key` gives the command (its contact's lane at the writer).
    if row.contact_id is None:
        return f"{row.location_id}:new:{row.command_id}"
    return f"{row.location_id}:{row.contact_id}"


async def _stop_quietly(producer: AIOKafkaProducer, settings: ApiSettings) -> None:
    # Bounded: while the broker is away, stopping waits for buffered records to expire.
    await stop_quietly(producer, settings.produce_timeout_seconds)


def _retrieve_later(futures: Any) -> None:
    for future in futures:
        future.add_done_callback(_retrieve)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class _TooDeep(ValueError):
    """A JSON body nested deeper than allowed."""


def _parse_json(body: bytes, max_depth: int) -> Any:
    """The body as JSON; ValueError when it is not JSON or nests deeper than `max_depth`."""
    value = pydantic_core.from_json(body, allow_inf_nan=False)  # its own recursion limit
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # iterative: a deep body must not exhaust Python's stack here either
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise _TooDeep(f"nested deeper than {max_depth} levels")
            stack.extend((child, depth + 1) for child in children)
    return value


class _State:
    """What the app holds while it runs: producer, pool, store, batcher, metrics."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.topic = writer_topics(
            WriterSettings.model_construct(
                app_name=settings.app_name, topic_prefix=settings.topic_prefix
            )
        ).commands
        self.producer: AIOKafkaProducer | None = None
        self.pool: asyncpg.Pool | None = None
        self.store: WriterStore | None = None
        self.recorder: Batcher[AcceptedRow, str | None] = Batcher(self._record)
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "api_commands_accepted", "Commands accepted", registry=self.registry
        )
        self.refused = Counter(
            "api_commands_refused", "Commands refused", ["code"], registry=self.registry
        )
        self.republished = Counter(
            "api_commands_republished",
            "Pending commands produced again and confirmed by Kafka",
            registry=self.registry,
        )
        self.unproduced = Counter(
            "api_commands_not_on_topic",
            "Pending commands that Kafka never confirmed, made failed",
            registry=self.registry,
        )
        self.keys = [
            k.get_secret_value().encode() for k in settings.api_keys if k.get_secret_value()
        ]
        self.postgres = Dependency("postgres", log=_log)
        self.kafka = Dependency("kafka", log=_log)
        self.produced: Batcher[str, None] = Batcher(self._mark_produced)
        self._connecting: asyncio.Task[None] | None = None
        self._retiring: set[asyncio.Task[None]] = set()

    async def _start_producer(self) -> AIOKafkaProducer:
        s = self.settings
        await ensure_topics(s.kafka_bootstrap_servers, [self.topic], partitions=s.topic_partitions)
        producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_batch_size=256 * 1024,
            # A record not acked by then is refused (503) anyway; expiring it then, rather
            # than after aiokafka's 40 s, frees the producer (it is replaced: `_retire`).
            request_timeout_ms=max(1000, int(s.produce_timeout_seconds * 1000)),
            **kafka_client_options(),
        )
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)
            raise
        return producer

    async def connect(self) -> None:
        """Start a producer, waiting out an outage with backoff."""
        try:  # the common case: Kafka is up, and the API is ready when it starts serving
            self.producer = await self._start_producer()
            self.kafka.restored()
        except KAFKA_ERRORS as exc:
            self.kafka.lost(exc)
            await self.kafka.pause()
            self.producer = await self.kafka.wait_for(self._start_producer)

    def _retire(self, producer: AIOKafkaProducer, why: BaseException) -> None:
        # A batch that expired while the broker was away leaves a gap in an idempotent
        # producer's sequence numbers: the broker answers OutOfOrderSequenceNumber to every
        # later batch and aiokafka's sender stops. A new producer (new id) starts clean.
        if self.producer is not producer:
            return
        self.producer = None
        _log.warning("Kafka refused records (%s); replacing the producer", type(why).__name__)
        stopping = asyncio.create_task(_stop_quietly(producer, self.settings))
        self._retiring.add(stopping)
        stopping.add_done_callback(self._retiring.discard)
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.create_task(self.connect())

    async def close_producers(self) -> None:
        """Stop connecting, and stop every producer (bounded)."""
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self.producer is not None:
            await _stop_quietly(self.producer, self.settings)
        await asyncio.gather(*self._retiring, return_exceptions=True)

    async def _record(self, rows: Sequence[AcceptedRow]) -> list[str | None]:
        assert self.store is not None
        existing = await self.store.record_accepted(rows)
        return [existing.get(r.command_id) for r in rows]

    async def _mark_produced(self, ids: Sequence[str]) -> list[None]:
        assert self.store is not None
        await self.store.mark_produced(ids)
        return [None] * len(ids)

    def unavailable(self, *needs: str) -> JSONResponse | None:
        """503 + Retry-After when a dependency the route needs is away, else None."""
        for name in needs:
            dependency = self.postgres if name == "postgres" else self.kafka
            connected = self.pool is not None if name == "postgres" else self.producer is not None
            if not connected or not dependency.up:
                why = dependency.reason or "connecting"
                return _problem(
                    503,
                    "unavailable",
                    f"{name} unavailable ({why}); retry",
                    **{"Retry-After": str(dependency.retry_after())},
                )
        return None

    async def produce(self, items: Sequence[tuple[bytes, bytes]]) -> BaseException | None:
        """Send (key, value) records and wait for Kafka's acks, at most the produce timeout;
        None when every one was confirmed, else what went wrong."""
        producer = self.producer
        if producer is None:
            return ConnectionError("not connected to Kafka")
        futures: list[asyncio.Future[Any]] = []
        try:
            for key, value in items:
                futures.append(await producer.send(self.topic, value, key=key))
        except KAFKA_ERRORS as exc:
            _retrieve_later(futures)
            self.kafka.lost(exc)
            return exc
        done, waiting = await asyncio.wait(futures, timeout=self.settings.produce_timeout_seconds)
        # Every outcome is collected, now or when it arrives: none is "never retrieved".
        _retrieve_later(waiting)
        failures = [f.exception() for f in done if f.exception() is not None]
        if failures:
            self._retire(producer, failures[0])  # type: ignore[arg-type]
            return failures[0]
        if waiting:
            timeout = TimeoutError(
                f"Kafka did not confirm within {self.settings.produce_timeout_seconds:g}s"
            )
            self.kafka.lost(timeout)
            return timeout
        return None

    async def republish(self) -> None:
        """Produce `pending` commands again (Kafka did not confirm them when first sent), and
        fail those pending past `pending_expiry_seconds`; every `pending_retry_seconds`."""
        s = self.settings
        while True:
            await asyncio.sleep(s.pending_retry_seconds)
            if self.store is None or self.producer is None or not self.kafka.up:
                continue
            try:
                await self._republish_once()
            except DATABASE_ERRORS as exc:
                self.postgres.lost(exc)

    async def _republish_once(self) -> None:
        s = self.settings
        assert self.store is not None
        expired = await self.store.fail_unproduced(
            older_than=s.pending_expiry_seconds, result_json=_NOT_ON_TOPIC
        )
        if expired:
            self.unproduced.inc(len(expired))
            _log.warning(
                "%d commands Kafka never confirmed within %.0fs are now failed (not_on_topic): "
                "%s", len(expired), s.pending_expiry_seconds, ", ".join(expired[:10]),
            )  # fmt: skip
        rows = await self.store.pending(
            older_than=s.produce_timeout_seconds + s.pending_retry_seconds, limit=500
        )
        if not rows:
            return
        problem = await self.produce(
            [(_row_key(r).encode(), r.command_json.encode()) for r in rows]
        )
        if problem is not None:
            return
        await self.store.mark_produced([r.command_id for r in rows])
        self.republished.inc(len(rows))
        _log.info("%d pending commands produced again and confirmed by Kafka", len(rows))


def _authorised(state: _State, request: Request) -> bool:
    given = request.headers.get("x-api-key")
    if given is None:
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:]
    if not given:
        return False
    raw = given.encode()
    return any(hmac.compare_digest(raw, key) for key in state.keys)


class _KeyMissingError(Exception):
    """No valid API key."""


def create_app(settings: ApiSettings) -> FastAPI:
    """The API app; Kafka and PostgreSQL are connected in its lifespan."""
    state = _State(settings)

    async def probe_postgres() -> None:
        assert state.pool is not None
        await state.pool.fetchval("SELECT 1")

    async def probe_kafka() -> bool:
        if state.producer is None:
            return False
        await state.producer.client.fetch_all_metadata()
        return True

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # min_size=0: no connection is made here, so the API starts without PostgreSQL.
        state.pool = await asyncpg.create_pool(
            settings.database_url.get_secret_value(),
            min_size=0,
            max_size=settings.database_pool_size,
            timeout=5,
            server_settings={"search_path": settings.database_schema},
        )
        state.store = WriterStore(state.pool)
        connecting = asyncio.create_task(state.connect())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(connecting), settings.produce_timeout_seconds)
        tasks = [
            connecting,
            asyncio.create_task(watch(state.postgres, probe_postgres, every=2.0)),
            asyncio.create_task(watch(state.kafka, probe_kafka, every=2.0)),
            asyncio.create_task(state.republish()),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await state.close_producers()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(state.pool.close(), 10)

    app = FastAPI(
        title="ghl-sync API",
        version="1",
        description="Commands to GoHighLevel and the unified contact view of APPNAME.",
        lifespan=lifespan,
    )
    app.state.api = state

    async def require_key(request: Request) -> None:
        if not _authorised(state, request):
            raise _KeyMissingError

    @app.exception_handler(_KeyMissingError)
    async def _no_key(_: Request, __: Exception) -> Response:
        return _problem(401, "unauthorized", "missing or wrong API key (send X-API-Key)")

    async def _database_away(_: Request, exc: Exception) -> Response:
        state.postgres.lost(exc)
        refusal = state.unavailable("postgres")
        assert refusal is not None
        return refusal

    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, _database_away)

    auth = [Depends(require_key)]
    problems: dict[int | str, dict[str, Any]] = {
        401: {"model": ApiProblem},
        422: {"model": ApiProblem},
    }

    @app.post(
        "/v1/commands",
        status_code=202,
        response_model=Accepted,
        dependencies=auth,
        responses={
            **problems,
            400: {"model": ApiProblem},
            409: {"model": ApiProblem},
            413: {"model": ApiProblem},
            503: {"model": ApiProblem},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Command"}}
                },
            }
        },
    )
    async def submit_command(request: Request) -> Response:
        """Put a command on the commands topic; 202 once Kafka acknowledged it."""
        body = await request.body()
        if len(body) > settings.max_body_bytes:
            state.refused.labels("too_large").inc()
            return _problem(
                413, "too_large", f"command larger than {settings.max_body_bytes} bytes"
            )
        if not body.strip():
            state.refused.labels("invalid").inc()
            return _problem(400, "invalid_json", "empty body: send one command as JSON")
        try:
            _parse_json(body, settings.max_json_depth)
        except ValueError as exc:
            state.refused.labels("invalid").inc()
            return _unparsable(exc)
        decoded = decode_command(body)
        if isinstance(decoded, CommandDecodeError):
            state.refused.labels("invalid").inc()
            if decoded.reason.startswith("invalid fields: <root>: Invalid JSON"):
                return _problem(400, "invalid_json", "body is not valid JSON")
            return _problem(422, "invalid_command", decoded.reason)
        return await _accept([decoded], batch=False)

    @app.post(
        "/v1/commands/batch",
        status_code=202,
        response_model=AcceptedBatch,
        dependencies=auth,
        responses={
            **problems,
            400: {"model": ApiProblem},
            409: {"model": ApiProblem},
            413: {"model": ApiProblem},
            503: {"model": ApiProblem},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["commands"],
                            "additionalProperties": False,
                            "properties": {
                                "commands": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": settings.max_batch,
                                    "items": {"$ref": "#/components/schemas/Command"},
                                }
                            },
                        }
                    }
                },
            }
        },
    )
    async def submit_batch(request: Request) -> Response:
        """Up to `max_batch` commands in one request: all valid or none accepted (422 names
        the index); 202 once Kafka acknowledged every one of them."""
        body = await request.body()
        if len(body) > settings.max_body_bytes * 8:
            return _problem(413, "too_large", "batch too large")
        try:
            raw = _parse_json(body, settings.max_json_depth)
        except ValueError as exc:
            state.refused.labels("invalid").inc()
            return _unparsable(exc)
        items = raw.get("commands") if isinstance(raw, dict) else None
        if not isinstance(items, list) or not items or set(raw) != {"commands"}:
            return _problem(422, "invalid_command", 'body must be {"commands": [command, ...]}')
        if len(items) > settings.max_batch:
            return _problem(422, "invalid_command", f"commands: at most {settings.max_batch}")
        decoded = []
        for index, item in enumerate(items):
            one = decode_command(json.dumps(item))
            if isinstance(one, CommandDecodeError):
                state.refused.labels("invalid").inc()
                return _problem(422, "invalid_command", f"commands[{index}]: {one.reason}")
            decoded.append(one)
        ids = [c.command_id for c in decoded]
        if len(set(ids)) != len(ids):
            return _problem(422, "invalid_command", "commands: command_id repeated in the batch")
        return await _accept(decoded, batch=True)

    def _unparsable(exc: ValueError) -> Response:
        if isinstance(exc, _TooDeep):
            return _problem(400, "invalid_json", f"body is {exc}")
        # pydantic-core's message names the place, never the content.
        return _problem(400, "invalid_json", f"body is not valid JSON: {str(exc)[:200]}")

    async def _accept(decoded: Sequence[CommandBase], *, batch: bool) -> Response:
        refusal = state.unavailable("postgres", "kafka")
        if refusal is not None:
            state.refused.labels("unavailable").inc()
            return refusal
        rows = []
        encoded = []
        for command in decoded:
            text = command.model_dump_json(exclude_none=True)
            encoded.append(text)
            rows.append(
                AcceptedRow(
                    command_id=command.command_id,
                    location_id=command.location_id,
                    contact_id=command.target_contact_id,
                    command_type=command.command_type,
                    digest=command_digest(command),
                    command_json=text,
                )
            )
        try:
            existing = await asyncio.gather(*(state.recorder.submit(r) for r in rows))
        except DATABASE_ERRORS as exc:
            state.refused.labels("unavailable").inc()
            state.postgres.lost(exc)
            refusal = state.unavailable("postgres")
            assert refusal is not None
            return refusal
        reused = [r.command_id for r, e in zip(rows, existing, strict=True) if e and e != r.digest]
        if reused:
            state.refused.labels("conflict").inc()
            return _problem(
                409,
                "command_id_reused",
                f"command_id {', '.join(map(repr, reused[:5]))} already used for a different "
                "command",
            )
        problem = await state.produce(
            [
                (command_key(c).encode(), text.encode())
                for c, text in zip(decoded, encoded, strict=True)
            ]
        )
        if problem is not None:
            # The rows stay `pending`: produced again later, or failed (`republish`).
            state.refused.labels("unavailable").inc()
            return _problem(
                503,
                "unavailable",
                "Kafka did not confirm the command; retry with the same command_id",
                **{"Retry-After": str(state.kafka.retry_after())},
            )
        try:
            await asyncio.gather(*(state.produced.submit(r.command_id) for r in rows))
        except DATABASE_ERRORS as exc:
            # On the topic all the same: the writer's claim, or `republish`, moves it on.
            state.postgres.lost(exc)
        state.accepted.inc(len(decoded))
        if batch:
            return JSONResponse({"command_ids": [c.command_id for c in decoded]}, status_code=202)
        return JSONResponse(
            {"command_id": decoded[0].command_id, "state": "accepted"}, status_code=202
        )

    @app.get(
        "/v1/commands/{command_id}",
        response_model=CommandStatus,
        dependencies=auth,
        responses={**problems, 404: {"model": ApiProblem}},
    )
    async def command_status(command_id: str) -> Any:
        """The command's state, and its result once terminal."""
        refusal = state.unavailable("postgres")
        if refusal is not None:
            return refusal
        assert state.store is not None
        found = await state.store.status(command_id)
        if found is None:
            return _problem(404, "not_found", f"no command with id {command_id!r}")
        return found

    @app.get(
        "/v1/contacts/{contact_id}",
        response_model=ContactView,
        dependencies=auth,
        responses={**problems, 404: {"model": ApiProblem}},
    )
    async def contact_view(
        contact_id: str,
        location_id: Annotated[str | None, Query()] = None,
        as_of: Annotated[
            datetime | None, Query(description="The view as it was at this time (history).")
        ] = None,
    ) -> Any:
        """The contact with its tasks, notes, tags and appointments (now, or `as_of` a time)."""
        refusal = state.unavailable("postgres")
        if refusal is not None:
            return refusal
        assert state.pool is not None
        if as_of is not None and as_of.tzinfo is None:
            return _problem(422, "invalid_query", "as_of: needs a time zone (e.g. Z)")
        view = await (
            get_contact_view(state.pool, contact_id, location_id)
            if as_of is None
            else contact_view_as_of(state.pool, contact_id, location_id, as_of)
        )
        if view is None:
            return _problem(404, "not_found", f"no contact with id {contact_id!r}")
        return view

    @app.get("/v1/contacts", response_model=ContactPage, dependencies=auth, responses=problems)
    async def contacts(
        location_id: Annotated[str | None, Query()] = None,
        tag: Annotated[str | None, Query()] = None,
        updated_since: Annotated[datetime | None, Query()] = None,
        assigned_to: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1)] = 100,
        cursor: Annotated[str | None, Query()] = None,
    ) -> Any:
        """Contacts by tag, change time and assigned user, `limit` per page."""
        refusal = state.unavailable("postgres")
        if refusal is not None:
            return refusal
        assert state.pool is not None
        if limit > settings.max_page_size:
            return _problem(422, "invalid_query", f"limit: at most {settings.max_page_size}")
        if updated_since is not None and updated_since.tzinfo is None:
            return _problem(422, "invalid_query", "updated_since: needs a time zone (e.g. Z)")
        try:
            return await list_contacts(
                state.pool,
                location_id=location_id,
                tag=tag.strip().lower() if tag else None,
                updated_since=updated_since,
                assigned_to=assigned_to,
                limit=limit,
                cursor=cursor,
            )
        except CursorError as exc:
            return _problem(422, "invalid_query", f"cursor: {exc}")

    register_history_routes(
        app,
        pool=lambda: state.pool,
        unavailable=lambda: state.unavailable("postgres"),
        dependencies=auth,
        responses={**problems, 404: {"model": ApiProblem}},
        max_page_size=settings.max_page_size,
    )

    @app.get("/healthz", include_in_schema=False)
    @app.get("/livez", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        failing = {}
        for name, dependency, connected in (
            ("kafka", state.kafka, state.producer is not None),
            ("postgres", state.postgres, state.pool is not None),
        ):
            if not connected or not dependency.up:
                failing[name] = dependency.reason or "connecting"
        if not failing:
            return JSONResponse({"status": "ready"})
        retry = max(d.retry_after() for d in (state.kafka, state.postgres))
        return JSONResponse(
            {"status": "not ready", "failing": sorted(failing), "reasons": failing},
            status_code=503,
            headers={"Retry-After": str(retry)},
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = original_openapi()
            components = document.setdefault("components", {}).setdefault("schemas", {})
            command = TypeAdapter(Command).json_schema(ref_template="#/components/schemas/{model}")
            components.update(command.pop("$defs", {}))
            components["Command"] = command
            document["components"]["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
            }
            document["security"] = [{"ApiKey": []}]
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    async def _validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        parts = [
            f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
            for e in exc.errors()
        ]
        return _problem(422, "invalid_query", "; ".join(parts))

    app.add_exception_handler(RequestValidationError, _validation)
    return app
