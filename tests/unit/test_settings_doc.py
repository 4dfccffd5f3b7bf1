"""docs/settings.md lists every setting of every service, as the code defines them."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from services.settings_doc import SETTINGS, render_settings_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_the_settings_page_is_current() -> None:
    committed = (ROOT / "docs" / "settings.md").read_text()
    assert committed == render_settings_markdown() + "\n", (
        "docs/settings.md is stale: run `ghl-sync settings > docs/settings.md`"
    )


def test_every_setting_is_documented_and_no_secret_is_printed() -> None:
    page = render_settings_markdown()
    for _, cls in SETTINGS:
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            env = (field.alias or f"{prefix}{name}").upper()
            assert f"`{env}`" in page, env
            default = field.get_default(call_default_factory=True)
            if isinstance(default, SecretStr) and default.get_secret_value():
                assert default.get_secret_value() not in page, env
