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

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
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
from services.api._custom import custom_filters, translate_command, with_custom_fields
from services.api._history import contact_view_as_of, register_history_routes
from services.api._reads import CursorError, get_contact_view, list_contacts
from services.api._state import ApiState, TooDeep, parse_json, problem
from services.api.settings import ApiSettings
from services.customfields import CustomFieldError
from services.db.commands import AcceptedRow, WriterStore
from services.platform.outage import (
    DATABASE_ERRORS,
    probe_pool,
    watch,
)
from services.platform.pools import open_pool

__all__ = ["Accepted", "ApiProblem", "CommandStatus", "ContactPage", "ContactView", "create_app"]

_log = logging.getLogger("services.api")
_STOP_SECONDS = 5.0
"""How long shutdown waits for background tasks and producers to stop."""


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
    custom_fields: dict[str, Any] = {}
    """Custom values by key, typed: numbers, dates (`YYYY-MM-DD`), options of the field."""
    unknown_custom_fields: list[dict[str, Any]] = []
    """`{id, value}` of values no synced definition names yet (kept as GHL sent them)."""
    invalid_custom_fields: list[dict[str, Any]] = []
    """`{key, value, reason}` of values that do not fit their field's type."""


class ContactListItem(_Out):
    """One contact of a list."""

    location_id: str
    contact: dict[str, Any]
    custom_fields: dict[str, Any] = {}
    """As in `ContactView`."""
    unknown_custom_fields: list[dict[str, Any]] = []
    invalid_custom_fields: list[dict[str, Any]] = []


class ContactPage(_Out):
    """A page of contacts; pass `next_cursor` as `cursor` for the next (null: last page)."""

    items: list[ContactListItem]
    next_cursor: str | None = None


def _authorised(state: ApiState, request: Request) -> bool:
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
    state = ApiState(settings)

    async def probe_postgres() -> None:
        assert state.pool is not None
        await probe_pool(state.pool)

    async def probe_kafka() -> bool:
        if state.producer is None:
            return False
        await state.producer.client.fetch_all_metadata()
        return True

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # min_size=0: no connection is made here, so the API starts without PostgreSQL.
        state.pool = await open_pool(
            settings.database_url,
            schema=settings.database_schema,
            max_size=settings.database_pool_size,
            timeout=5,
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
            # Stopping is bounded: a background task still unwinding an outage must not
            # hold the shutdown (or a test's teardown) for ever.
            stuck = (await asyncio.wait(tasks, timeout=_STOP_SECONDS))[1]
            if stuck:
                _log.warning(
                    "%d background tasks did not stop within %.0fs", len(stuck), _STOP_SECONDS
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.close_producers(), _STOP_SECONDS)
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
        return problem(401, "unauthorized", "missing or wrong API key (send X-API-Key)")

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
    submit_problems: dict[int | str, dict[str, Any]] = {
        **problems,
        **{code: {"model": ApiProblem} for code in (400, 409, 413, 503)},
    }

    def json_body(schema: dict[str, Any]) -> dict[str, Any]:
        """The `openapi_extra` of a route that reads a required JSON body of `schema`."""
        return {
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}
        }

    @app.post(
        "/v1/commands",
        status_code=202,
        response_model=Accepted,
        dependencies=auth,
        responses=submit_problems,
        openapi_extra=json_body({"$ref": "#/components/schemas/Command"}),
    )
    async def submit_command(request: Request) -> Response:
        """Put a command on the commands topic; 202 once Kafka acknowledged it."""
        body = await request.body()
        if len(body) > settings.max_body_bytes:
            state.refused.labels("too_large").inc()
            return problem(413, "too_large", f"command larger than {settings.max_body_bytes} bytes")
        if not body.strip():
            state.refused.labels("invalid").inc()
            return problem(400, "invalid_json", "empty body: send one command as JSON")
        try:
            parse_json(body, settings.max_json_depth)
        except ValueError as exc:
            state.refused.labels("invalid").inc()
            return _unparsable(exc)
        decoded = decode_command(body)
        if isinstance(decoded, CommandDecodeError):
            state.refused.labels("invalid").inc()
            if decoded.reason.startswith("invalid fields: <root>: Invalid JSON"):
                return problem(400, "invalid_json", "body is not valid JSON")
            return problem(422, "invalid_command", decoded.reason)
        try:
            translated = await _translate(decoded)
        except CustomFieldError as exc:
            state.refused.labels("invalid").inc()
            return problem(422, "invalid_custom_field", str(exc))
        return await _accept([translated], batch=False)

    @app.post(
        "/v1/commands/batch",
        status_code=202,
        response_model=AcceptedBatch,
        dependencies=auth,
        responses=submit_problems,
        openapi_extra=json_body(
            {
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
        ),
    )
    async def submit_batch(request: Request) -> Response:
        """Up to `max_batch` commands in one request: all valid or none accepted (422 names
        the index); 202 once Kafka acknowledged every one of them."""
        body = await request.body()
        if len(body) > settings.max_body_bytes * 8:
            return problem(413, "too_large", "batch too large")
        try:
            raw = parse_json(body, settings.max_json_depth)
        except ValueError as exc:
            state.refused.labels("invalid").inc()
            return _unparsable(exc)
        items = raw.get("commands") if isinstance(raw, dict) else None
        if not isinstance(items, list) or not items or set(raw) != {"commands"}:
            return problem(422, "invalid_command", 'body must be {"commands": [command, ...]}')
        if len(items) > settings.max_batch:
            return problem(422, "invalid_command", f"commands: at most {settings.max_batch}")
        decoded = []
        for index, item in enumerate(items):
            one = decode_command(json.dumps(item))
            if isinstance(one, CommandDecodeError):
                state.refused.labels("invalid").inc()
                return problem(422, "invalid_command", f"commands[{index}]: {one.reason}")
            try:
                decoded.append(await _translate(one))
            except CustomFieldError as exc:
                state.refused.labels("invalid").inc()
                return problem(422, "invalid_custom_field", f"commands[{index}]: {exc}")
        ids = [c.command_id for c in decoded]
        if len(set(ids)) != len(ids):
            return problem(422, "invalid_command", "commands: command_id repeated in the batch")
        return await _accept(decoded, batch=True)

    async def _translate(command: CommandBase) -> CommandBase:
        """Custom fields named by key get their ids (`services.api._custom`)."""
        if state.pool is None:
            return command
        return await translate_command(state.pool, command)

    def _unparsable(exc: ValueError) -> Response:
        if isinstance(exc, TooDeep):
            return problem(400, "invalid_json", f"body is {exc}")
        # pydantic-core's message names the place, never the content.
        return problem(400, "invalid_json", f"body is not valid JSON: {str(exc)[:200]}")

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
            return problem(
                409,
                "command_id_reused",
                f"command_id {', '.join(map(repr, reused[:5]))} already used for a different "
                "command",
            )
        failure = await state.produce(
            [
                (command_key(c).encode(), text.encode())
                for c, text in zip(decoded, encoded, strict=True)
            ]
        )
        if failure is not None:
            # The rows stay `pending`: produced again later, or failed (`republish`).
            state.refused.labels("unavailable").inc()
            return problem(
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
            return problem(404, "not_found", f"no command with id {command_id!r}")
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
            return problem(422, "invalid_query", "as_of: needs a time zone (e.g. Z)")
        view = await (
            get_contact_view(state.pool, contact_id, location_id)
            if as_of is None
            else contact_view_as_of(state.pool, contact_id, location_id, as_of)
        )
        if view is None:
            return problem(404, "not_found", f"no contact with id {contact_id!r}")
        if as_of is not None:
            await with_custom_fields(state.pool, [view])
        return view

    @app.get("/v1/contacts", response_model=ContactPage, dependencies=auth, responses=problems)
    async def contacts(
        request: Request,
        location_id: Annotated[str | None, Query()] = None,
        tag: Annotated[str | None, Query()] = None,
        updated_since: Annotated[datetime | None, Query()] = None,
        assigned_to: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1)] = 100,
        cursor: Annotated[str | None, Query()] = None,
    ) -> Any:
        """Contacts by tag, change time, assigned user and custom fields, `limit` per page.

        Custom fields: `custom.<key>=value` (equal; for a field of many options, holding it)
        and `custom.<key>.gt|gte|lt|lte=value` for numbers and dates; every filter must hold.
        An unknown key, or a value not of the field's type, is 422 naming both."""
        refusal = state.unavailable("postgres")
        if refusal is not None:
            return refusal
        assert state.pool is not None
        if limit > settings.max_page_size:
            return problem(422, "invalid_query", f"limit: at most {settings.max_page_size}")
        if updated_since is not None and updated_since.tzinfo is None:
            return problem(422, "invalid_query", "updated_since: needs a time zone (e.g. Z)")
        try:
            custom = await custom_filters(
                state.pool, request.query_params.multi_items(), location_id
            )
        except CustomFieldError as exc:
            return problem(422, "invalid_query", str(exc))
        try:
            return await list_contacts(
                state.pool,
                location_id=location_id,
                tag=tag.strip().lower() if tag else None,
                updated_since=updated_since,
                assigned_to=assigned_to,
                limit=limit,
                cursor=cursor,
                custom=custom,
            )
        except CursorError as exc:
            return problem(422, "invalid_query", f"cursor: {exc}")

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
        return problem(422, "invalid_query", "; ".join(parts))

    app.add_exception_handler(RequestValidationError, _validation)
    return app
