"""APPNAME's HTTP face: submit commands, read their status, read the unified contact view.

- `POST /v1/commands`: 202 `{command_id}` once the command is on `appname.commands.v1`
  with the acks of all in-sync replicas. The same command sent again (same id, same content)
  is accepted again and applied once; the same id with other content is 409. A command that
  does not validate is 422 naming the field; an unreadable body 400; too large 413.
- `POST /v1/commands/batch`: up to `max_batch` commands at once, all valid or none.
- `GET /v1/commands/{command_id}`: state (`accepted`, `received`, `succeeded`, `failed`,
  `rejected`) and the result.
- `GET /v1/contacts/{contact_id}`, `GET /v1/contacts`: the projections.
- `GET /healthz` (no key), `GET /metrics` (Prometheus, no key).

Every `/v1` call needs `X-API-Key` (or `Authorization: Bearer <key>`); keys are compared in
constant time and never logged. Failure policy: Kafka or PostgreSQL unreachable -> 503 with
`Retry-After`, nothing is lost (the client retries with the same command id).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
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
from services.api._reads import CursorError, get_contact_view, list_contacts
from services.api.settings import ApiSettings
from services.writer._runtime import writer_topics
from services.writer.settings import WriterSettings
from services.writer.store import AcceptedRow, WriterStore
from streams.admin import ensure_topics

__all__ = ["Accepted", "ApiProblem", "CommandStatus", "ContactPage", "ContactView", "create_app"]


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
    state: Literal["accepted", "received", "succeeded", "failed", "rejected"]
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
        self.keys = [
            k.get_secret_value().encode() for k in settings.api_keys if k.get_secret_value()
        ]

    async def _record(self, rows: Sequence[AcceptedRow]) -> list[str | None]:
        assert self.store is not None
        existing = await self.store.record_accepted(rows)
        return [existing.get(r.command_id) for r in rows]


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

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(
            settings.kafka_bootstrap_servers, [state.topic], partitions=settings.topic_partitions
        )
        state.pool = await asyncpg.create_pool(
            settings.database_url.get_secret_value(),
            min_size=1,
            max_size=settings.database_pool_size,
            server_settings={"search_path": settings.database_schema},
        )
        state.store = WriterStore(state.pool)
        state.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_batch_size=256 * 1024,
        )
        await state.producer.start()
        try:
            yield
        finally:
            await state.producer.stop()
            await state.pool.close()

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
            raw = json.loads(body)
        except ValueError:
            return _problem(400, "invalid_json", "body is not valid JSON")
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

    async def _accept(decoded: Sequence[CommandBase], *, batch: bool) -> Response:
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
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return _problem(
                503, "unavailable", "command store unavailable; retry", **{"Retry-After": "1"}
            )
        reused = [r.command_id for r, e in zip(rows, existing, strict=True) if e and e != r.digest]
        if reused:
            state.refused.labels("conflict").inc()
            return _problem(
                409,
                "command_id_reused",
                f"command_id {', '.join(map(repr, reused[:5]))} already used for a different "
                "command",
            )
        producer = state.producer
        assert producer is not None
        try:
            futures = [
                await producer.send(state.topic, text.encode(), key=command_key(c).encode())
                for c, text in zip(decoded, encoded, strict=True)
            ]
            await asyncio.wait_for(
                asyncio.shield(asyncio.gather(*futures)), settings.produce_timeout_seconds
            )
        except Exception:  # aiokafka raises many kinds; all mean "not durably stored"
            state.refused.labels("unavailable").inc()
            return _problem(
                503, "unavailable", "Kafka did not confirm; retry", **{"Retry-After": "1"}
            )
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
        contact_id: str, location_id: Annotated[str | None, Query()] = None
    ) -> Any:
        """The contact with its tasks, notes, tags and appointments."""
        assert state.pool is not None
        view = await get_contact_view(state.pool, contact_id, location_id)
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

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

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
