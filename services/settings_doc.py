"""Every setting of every ghl-sync service: the documentation page generated from the code
(`render_settings_markdown`) and the values in effect (`settings_in_effect`).

Values are shown in the syntax their environment variable takes: lists and objects as JSON,
booleans as `true`/`false`. Secrets are never shown: a URL keeps everything but its password,
any other secret shows as `(secret)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python
from pydantic_settings import BaseSettings

from services.api.settings import ApiSettings
from services.db.settings import DatabaseSettings
from services.demo.settings import DemoSettings
from services.ghl.settings import GhlSettings
from services.installs.settings import InstallSettings
from services.platform.connections import SHARED_VARIABLE, KafkaSettings
from services.platform.logs import LogSettings
from services.poller.settings import PollerSettings
from services.simulator.settings import SimulatorSettings
from services.stack.settings import StackSettings
from services.webhooks.settings import WebhookSettings
from services.writer.settings import WriterSettings
from streams.settings import StreamsSettings

__all__ = [
    "SETTINGS",
    "SettingValue",
    "env_syntax",
    "render_settings_markdown",
    "settings_in_effect",
]

SETTINGS: tuple[tuple[str, type[BaseSettings]], ...] = (
    ("Logging (every command)", LogSettings),
    ("Local stack (`ghl-sync stack`)", StackSettings),
    ("Kafka (every service)", KafkaSettings),
    ("Database (every service, `ghl-sync migrate`)", DatabaseSettings),
    ("Stream processors (`ghl-sync worker`, `replay`, `verify`, `lag`)", StreamsSettings),
    ("GHL client (every service that calls GHL, `ghl-sync auth`)", GhlSettings),
    ("Webhook receiver (`ghl-sync webhooks`)", WebhookSettings),
    ("Poller and backfill (`ghl-sync poller`, `ghl-sync backfill`)", PollerSettings),
    ("Command API (`ghl-sync api`)", ApiSettings),
    ("Writer (`ghl-sync writer`)", WriterSettings),
    ("Agency installs (`ghl-sync installs`, `ghl-sync auth`)", InstallSettings),
    ("GHL simulator (`ghl-sync simulator`)", SimulatorSettings),
    ("Demo (`ghl-sync demo`)", DemoSettings),
)
"""The settings classes, each with the heading it is documented under."""


def _env_name(cls: type[BaseSettings], name: str, field: FieldInfo) -> str:
    if isinstance(field.alias, str):
        return field.alias.upper()
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "(required)"
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get(SHARED_VARIABLE), str):
        return f"`{extra[SHARED_VARIABLE]}`'s value"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        return "(secret)" if value.get_secret_value() else "(unset)"
    if value is None:
        return "(unset)"
    text = env_syntax(value).replace("|", "\\|")
    return f"`{text}`" if text else '`""`'


def env_syntax(value: object) -> str:
    """`value` written the way its environment variable takes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Path | int | float):
        return str(value)
    return json.dumps(to_jsonable_python(value), ensure_ascii=False)


def _masked(value: SecretStr) -> str:
    secret = value.get_secret_value()
    if not secret:
        return "(unset)"
    parts = urlsplit(secret)
    if parts.scheme and parts.hostname and "://" in secret:
        user = parts.username or ""
        auth = f"{user}:****@" if parts.password else (f"{user}@" if user else "")
        port = f":{parts.port}" if parts.port else ""
        return urlunsplit(parts._replace(netloc=f"{auth}{parts.hostname}{port}"))
    return "(secret)"


def _shown(value: object) -> str:
    if isinstance(value, SecretStr):
        return _masked(value)
    if value is None:
        return "(unset)"
    if isinstance(value, list | tuple) and any(isinstance(v, SecretStr) for v in value):
        return f"({len(value)} secrets)"
    return env_syntax(value)


@dataclass(frozen=True)
class SettingValue:
    """One setting as it is in effect: variable, value shown (masked), where it came from."""

    section: str
    env: str
    shown: str
    source: Literal["default", "set", "invalid"]

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON object."""
        return {"section": self.section, "variable": self.env, "value": self.shown,
                "source": self.source}  # fmt: skip


def settings_in_effect() -> list[SettingValue]:
    """Every setting of every service as the environment makes it now.

    A class that fails to load (a bad value) yields one `invalid` row per bad variable, with
    the error, and the other classes are still listed.
    """
    from services.platform.diagnose import explain

    out: list[SettingValue] = []
    for heading, cls in SETTINGS:
        try:
            loaded = cls()
        except (ValidationError, ValueError) as exc:
            reason = explain(exc) or str(exc).splitlines()[0]
            bad = [env for env in (_env_name(cls, n, f) for n, f in cls.model_fields.items())
                   if env in reason] or [cls.__name__]  # fmt: skip
            out += [SettingValue(heading, env, reason, "invalid") for env in bad]
            continue
        for name, field in cls.model_fields.items():
            value = getattr(loaded, name)
            default = None if field.is_required() else field.get_default(call_default_factory=True)
            source: Literal["default", "set"] = "default" if value == default else "set"
            out.append(SettingValue(heading, _env_name(cls, name, field), _shown(value), source))
    return out


def render_settings_markdown() -> str:
    """A Markdown page with one table per service: variable, default, meaning."""
    lines = [
        "# Settings",
        "",
        "Every setting is an environment variable; this page is generated from the code",
        "(`ghl-sync settings --doc > docs/settings.md`) and a test keeps it current. Secrets are",
        "never printed: their defaults show as `(secret)` or `(unset)`. Values are written as",
        "the variables take them: lists and objects as JSON, booleans as `true`/`false`.",
        "`ghl-sync settings` shows the values in effect (secrets masked).",
        "",
    ]
    for heading, cls in SETTINGS:
        lines += [f"## {heading}", "", "| variable | default | meaning |", "|---|---|---|"]
        for name, field in cls.model_fields.items():
            meaning = (field.description or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{_env_name(cls, name, field)}` | {_default(field)} | {meaning} |")
        lines.append("")
    return "\n".join(lines)
