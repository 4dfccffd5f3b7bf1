"""Every setting of every ghl-sync service, as documentation generated from the code."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from services.api.settings import ApiSettings
from services.db.settings import DatabaseSettings
from services.demo.settings import DemoSettings
from services.ghl.settings import GhlSettings
from services.poller.settings import PollerSettings
from services.simulator.settings import SimulatorSettings
from services.stack.settings import StackSettings
from services.webhooks.settings import WebhookSettings
from services.writer.settings import WriterSettings
from streams.settings import StreamsSettings

__all__ = ["SETTINGS", "render_settings_markdown"]

SETTINGS: tuple[tuple[str, type[BaseSettings]], ...] = (
    ("Local stack (`ghl-sync stack`)", StackSettings),
    ("Database (`ghl-sync migrate`)", DatabaseSettings),
    ("Stream processors (`ghl-sync worker`, `replay`, `verify`, `lag`)", StreamsSettings),
    ("GHL client (every service that calls GHL, `ghl-sync auth`)", GhlSettings),
    ("Webhook receiver (`ghl-sync webhooks`)", WebhookSettings),
    ("Poller and backfill (`ghl-sync poller`, `ghl-sync backfill`)", PollerSettings),
    ("Command API (`ghl-sync api`)", ApiSettings),
    ("Writer (`ghl-sync writer`)", WriterSettings),
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
    value = field.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        return "(secret)" if value.get_secret_value() else "(unset)"
    if value is None:
        return "(unset)"
    text = str(value).replace("|", "\\|")
    return f"`{text}`" if text else '`""`'


def render_settings_markdown() -> str:
    """A Markdown page with one table per service: variable, default, meaning."""
    lines = [
        "# Settings",
        "",
        "Every setting is an environment variable; this page is generated from the code",
        "(`ghl-sync settings > docs/settings.md`) and a test keeps it current. Secrets are",
        "never printed: their defaults show as `(secret)` or `(unset)`. List values are JSON.",
        "",
    ]
    for heading, cls in SETTINGS:
        lines += [f"## {heading}", "", "| variable | default | meaning |", "|---|---|---|"]
        for name, field in cls.model_fields.items():
            meaning = (field.description or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{_env_name(cls, name, field)}` | {_default(field)} | {meaning} |")
        lines.append("")
    return "\n".join(lines)
