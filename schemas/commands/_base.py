"""What every command shares: the model config, the id type and the base classes."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field

from schemas._config import PUBLISHED_CONFIG

__all__ = ["CommandBase", "Id", "Model", "OnContact", "Text", "Versioned"]

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]
Text = Annotated[str, Field(min_length=1)]


class Model(BaseModel):
    """Frozen, unknown keys refused, attribute docstrings in the JSON Schema."""

    model_config = PUBLISHED_CONFIG


class CommandBase(Model):
    """Fields every command carries."""

    command_id: Id
    """Idempotency key chosen by APPNAME: the writer applies one id at most once."""
    command_type: str
    """What to do; the discriminator."""
    location_id: Id
    """The GHL location (sub-account)."""
    correlation_id: str | None = Field(default=None, max_length=200)
    """Carried to the result and the canonical event (defaults to the command id there)."""
    issued_at: AwareDatetime | None = None
    """When APPNAME issued the command (informational)."""

    @property
    def target_contact_id(self) -> str | None:
        """The contact the command is about, when it already exists."""
        value = getattr(self, "contact_id", None)
        return value if isinstance(value, str) else None


class OnContact(CommandBase):
    """A command about an existing contact."""

    contact_id: Id
    """GHL id of the contact."""


class Versioned(Model):
    """A command compared with GHL's `dateUpdated` before it is applied."""

    expected_version: AwareDatetime | None = None
    """GHL's `dateUpdated` this change was based on; older than GHL's current is a conflict."""
