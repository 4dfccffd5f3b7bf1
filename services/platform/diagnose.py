"""Common faults as one line that names the environment variable to change.

`explain(exc)` turns the exceptions an operator causes or meets (a bad setting, a dependency
that is down, a port that is taken, a missing or malformed key) into one sentence, or returns
None for anything else (a bug: the caller shows the traceback). It reads only the exception,
its chain and the settings objects found in its traceback's frames, so it knows which
variable held the value without a table per command:

- pydantic `ValidationError` of a settings class: the class's `env_prefix` + field name;
- pydantic-settings `SettingsError` ("error parsing value for field"): the variable and the
  syntax it takes (lists and objects are JSON);
- PostgreSQL (asyncpg) and Kafka (aiokafka) connection failures, HTTP connection failures:
  what could not be reached and the variable that points there;
- `EADDRINUSE`: the port and the variable that chose it;
- a `ValueError` whose message names a setting ("token encryption key"): that variable.

Secrets never appear: inputs of `SecretStr` fields are not echoed and URLs lose their user
information.
"""

from __future__ import annotations

import errno
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

__all__ = ["env_name", "explain"]


@dataclass(frozen=True)
class _Setting:
    env: str
    value: object


def env_name(cls: type[BaseSettings], field: str) -> str:
    """The environment variable of `cls.field` (its alias, else env_prefix + name)."""
    info = cls.model_fields.get(field)
    if info is not None and isinstance(info.alias, str):
        return info.alias.upper()
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def explain(exc: BaseException) -> str | None:
    """One line for a common fault, or None when `exc` is not one."""
    for step in (_bad_settings, _settings_syntax, _busy_port, _unreachable, _named_setting):
        line = step(exc)
        if line is not None:
            return line
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _frames(exc: BaseException) -> Iterator[types.FrameType]:
    for link in _chain(exc):
        tb = link.__traceback__
        while tb is not None:
            yield tb.tb_frame
            tb = tb.tb_next


def _settings_in(exc: BaseException) -> list[BaseSettings]:
    """Settings objects held by the frames the exception passed through, outermost first."""
    found: dict[int, BaseSettings] = {}
    for frame in _frames(exc):
        for value in frame.f_locals.values():
            candidates = value if isinstance(value, list | tuple) else (value,)
            for item in candidates:
                if isinstance(item, BaseSettings):
                    found.setdefault(id(item), item)
            for item in vars(value).values() if hasattr(value, "__dict__") else ():
                if isinstance(item, BaseSettings):
                    found.setdefault(id(item), item)
    return list(found.values())


def _fields(exc: BaseException, wanted: typing.Callable[[str], bool]) -> list[_Setting]:
    out: list[_Setting] = []
    for settings in _settings_in(exc):
        cls = type(settings)
        # A service's connection field names the shared variable when it took its value.
        variable_of = getattr(settings, "variable_of", None)
        for name in cls.model_fields:
            if wanted(name):
                env = variable_of(name) if callable(variable_of) else env_name(cls, name)
                setting = _Setting(env, getattr(settings, name))
                if setting not in out:
                    out.append(setting)
    return out


def _settings_class(name: str) -> type[BaseSettings] | None:
    pending: list[type[BaseSettings]] = [BaseSettings]
    while pending:
        cls = pending.pop()
        if cls.__name__ == name and cls is not BaseSettings:
            return cls
        pending.extend(cls.__subclasses__())
    return None


def _is_secret(cls: type[BaseSettings], field: str) -> bool:
    info = cls.model_fields.get(field)
    return info is not None and "SecretStr" in repr(info.annotation)


def _bad_settings(exc: BaseException) -> str | None:
    if not isinstance(exc, ValidationError):
        return None
    cls = _settings_class(exc.title)
    if cls is None:
        return None
    parts = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        what = error["msg"]
        if field and not _is_secret(cls, field) and error["type"] != "missing":
            what += f" (got {error['input']!r})"
        if field:
            parts.append(f"{env_name(cls, field)}: {what}")
        else:  # a check across fields; its message names the variables
            parts.append(what.removeprefix("Value error, "))
    return "bad setting " + "; ".join(parts)


_PARSE = re.compile(r'error parsing value for field "(?P<field>\w+)" from source')


def _settings_syntax(exc: BaseException) -> str | None:
    match = _PARSE.search(str(exc))
    if match is None:
        return None
    field = match["field"]
    cls: type[BaseSettings] | None = None
    for frame in _frames(exc):
        candidate = getattr(frame.f_locals.get("self"), "settings_cls", None)
        if isinstance(candidate, type) and issubclass(candidate, BaseSettings):
            cls = candidate
    if cls is None:
        return f"bad setting for field {field!r}: {exc}"
    return f"bad setting {env_name(cls, field)}: {_expected(cls, field)}"


def _expected(cls: type[BaseSettings], field: str) -> str:
    info = cls.model_fields[field]
    origin = typing.get_origin(info.annotation)
    if origin in (list, tuple, set, frozenset):
        return 'not valid JSON; it takes a JSON list, e.g. ["a", "b"]'
    if origin is dict:
        return 'not valid JSON; it takes a JSON object, e.g. {"key": "value"}'
    return "not valid JSON, which this setting takes"


_ADDRESS = re.compile(r"\('(?P<host>[^']*)', (?P<port>\d+)")


def _busy_port(exc: BaseException) -> str | None:
    for link in _chain(exc):
        if isinstance(link, OSError) and link.errno == errno.EADDRINUSE:
            match = _ADDRESS.search(str(link))
            port = int(match["port"]) if match else _local_port(exc)
            if match:
                where = f"{match['host'] or '*'}:{port}"
            else:
                where = f"port {port}" if port is not None else "its port"
            ports = _fields(exc, lambda n: n == "port" or n.endswith("_port"))
            names = [s.env for s in ports if s.value == port] or [
                s.env for s in _fields(exc, lambda n: n == "port")
            ]
            hint = (
                f"; set {' or '.join(names)} (or the command's port option) to a free port"
                if names
                else "; give the command another port"
            )
            return f"cannot listen on {where}: the port is in use by another process{hint}"
    return None


def _local_port(exc: BaseException) -> int | None:
    """The port a bind was given, read from the frames (socket errors omit the address)."""
    port = None
    for frame in _frames(exc):
        value = frame.f_locals.get("port")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            port = value  # the innermost frame's is the one bound
    return port


def _modules(exc: BaseException) -> set[str]:
    names = {type(link).__module__.split(".")[0] for link in _chain(exc)}
    names.update(str(frame.f_globals.get("__name__", "")).split(".")[0] for frame in _frames(exc))
    return names


def _safe_url(value: object) -> str:
    text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    parts = urlsplit(text)
    if parts.scheme and parts.hostname:
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"
    return text


def _reason(exc: BaseException) -> str:
    """The innermost readable cause, without secrets (driver messages carry none)."""
    for link in reversed(list(_chain(exc))):
        if type(link).__name__ == "KafkaConnectionError":
            return "no broker answered"
        if isinstance(link, ConnectionRefusedError):
            return "connection refused"
        if isinstance(link, TimeoutError):
            return "timed out"
        if isinstance(link, OSError) and link.strerror:
            return link.strerror.lower()
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _unreachable(exc: BaseException) -> str | None:
    modules = _modules(exc)
    types_ = {type(link).__name__ for link in _chain(exc)}
    connection = any(isinstance(link, OSError | TimeoutError) for link in _chain(exc))
    if "asyncpg" in modules:
        return _postgres(exc, connection)
    if "aiokafka" in modules and (connection or types_ & _KAFKA_DOWN):
        settings = _at_failed_address(exc, _fields(exc, lambda n: "bootstrap" in n))
        target = ", ".join(sorted({str(s.value) for s in settings})) or "the broker"
        names = " / ".join(s.env for s in settings) or "the Kafka bootstrap setting"
        line = f"cannot reach Kafka at {target} ({_reason(exc)}); is it running? check {names}"
        sasl = [
            s
            for s in _settings_in(exc)
            if getattr(s, "sasl_mechanism", None)
            or getattr(getattr(s, "kafka", None), "sasl_mechanism", None)
        ]
        if sasl:
            # aiokafka reports a refused SASL login as a failed bootstrap too.
            line += "; if it runs, the SASL login may be refused: check GHL_SYNC_KAFKA_SASL_*"
        return line
    if "httpx" in modules and types_ & _HTTP_DOWN:
        settings = _fields(exc, lambda n: n.endswith("url") and "database" not in n)
        url = _request_url(exc)
        pointing = [s.env for s in settings if url and str(s.value).rstrip("/") in url]
        hint = f"; check {' / '.join(pointing)}" if pointing else ""
        return f"cannot reach {url or 'the HTTP server'} ({_reason(exc)}){hint}"
    return None


_KAFKA_DOWN = {
    "KafkaConnectionError",
    "KafkaTimeoutError",
    "NodeNotReadyError",
    "RequestTimedOutError",
    "NoBrokersAvailable",
}
_HTTP_DOWN = {"ConnectError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError"}


def _request_url(exc: BaseException) -> str | None:
    for link in _chain(exc):
        request = getattr(link, "_request", None)
        if request is not None:
            return _safe_url(request.url)
    return None


def _failed_addresses(exc: BaseException) -> set[str]:
    """`host:port` pairs the exception chain names (`('127.0.0.1', 1)`-style tuples)."""
    return {
        f"{m['host']}:{m['port']}" for link in _chain(exc) for m in _ADDRESS.finditer(str(link))
    }


def _at_failed_address(exc: BaseException, settings: list[_Setting]) -> list[_Setting]:
    """The settings that point at the address that failed; all of them when none names it."""
    failed = _failed_addresses(exc)

    def addresses(value: object) -> set[str]:
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        if "://" in text:
            parts = urlsplit(text)
            return {f"{parts.hostname}:{parts.port or 5432}"}
        return {part.strip() for part in text.split(",")}

    matching = [s for s in settings if addresses(s.value) & failed]
    return matching or settings


def _postgres(exc: BaseException, connection: bool) -> str | None:
    settings = _at_failed_address(exc, _fields(exc, lambda n: n in ("url", "database_url")))
    urls = sorted({_safe_url(s.value) for s in settings})
    names = " / ".join(s.env for s in settings) or "the database URL setting"
    target = ", ".join(urls) or "the server"
    kind = {type(link).__name__ for link in _chain(exc)}
    if connection:
        return f"cannot reach PostgreSQL at {target} ({_reason(exc)}); is it running? check {names}"
    if kind & {"InvalidPasswordError", "InvalidAuthorizationSpecificationError"}:
        return f"PostgreSQL at {target} refused the login ({_reason(exc)}); check {names}"
    if "InvalidCatalogNameError" in kind:
        return f"PostgreSQL at {target}: {_reason(exc)}; check {names}"
    if kind & {"UndefinedTableError", "InvalidSchemaNameError"}:
        return (
            f"PostgreSQL at {target} lacks ghl-sync's tables ({_reason(exc)}); "
            "run `ghl-sync migrate`, and check the *_DATABASE_SCHEMA settings"
        )
    return None


def _named_setting(exc: BaseException) -> str | None:
    if type(exc) is not ValueError:
        return None
    message = str(exc).lower()
    for setting in _fields(exc, lambda n: n.replace("_", " ") in message):
        return f"bad setting {setting.env}: {exc}"
    return None
