"""What the commands' options share: `--json`, `--host` and `--port`, settings read with the
options given on the command line over the environment's values, and serving an ASGI app.

Imported by a command's module when that command (or its `--help`) is loaded, so it imports
only typer: pydantic-settings and uvicorn come with the settings and the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

import typer

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

__all__ = ["HostOption", "JsonOption", "PortOption", "serve", "settings_with"]

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON, for machines.")]
HostOption = Annotated[str | None, typer.Option(help="Address to bind.")]
PortOption = Annotated[int | None, typer.Option(help="Port to bind.")]

_Settings = TypeVar("_Settings", bound="BaseSettings")


class _Bound(Protocol):
    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


def settings_with(cls: type[_Settings], **options: Any) -> _Settings:
    """`cls` read from the environment, with every option given (not None) over it."""
    return cls(**{name: value for name, value in options.items() if value is not None})


def serve(app: Any, settings: _Bound, **uvicorn_options: Any) -> None:
    """Serve `app` with uvicorn on the settings' host and port, logging through the one setup
    the command line made (`log_config=None`)."""
    import uvicorn

    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        log_config=None,
        **uvicorn_options,
    )
