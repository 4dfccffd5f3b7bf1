"""docs/settings.md lists every setting of every service, as the code defines them."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from services.settings_doc import SETTINGS, render_settings_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_the_settings_page_is_current() -> None:
    committed = (ROOT / "docs" / "settings.md").read_text()
    assert committed == render_settings_markdown() + "\n", (
        "docs/settings.md is stale: run `ghl-sync settings --doc > docs/settings.md`"
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


def test_defaults_are_written_the_way_the_variables_take_them(tmp_path: Path) -> None:
    """Every documented default, written to an env file as shown, loads back as the default."""
    from services.platform.diagnose import env_name
    from services.settings_doc import env_syntax

    page = render_settings_markdown()
    for python_syntax in ("`True`", "`False`", "`()`", "`('", "`['"):
        assert python_syntax not in page
    for _, cls in SETTINGS:
        fields = {
            name: field.get_default(call_default_factory=True)
            for name, field in cls.model_fields.items()
            if not field.is_required()
        }
        plain = {
            name: value
            for name, value in fields.items()
            if value is not None and not isinstance(value, SecretStr)
        }
        env_file = tmp_path / f"{cls.__name__}.env"
        env_file.write_text(
            "".join(
                f"{env_name(cls, name)}='{env_syntax(value)}'\n" for name, value in plain.items()
            )
        )
        loaded = cls(_env_file=env_file)  # type: ignore[call-arg]
        for name, value in plain.items():
            assert getattr(loaded, name) == value, (cls.__name__, name)
