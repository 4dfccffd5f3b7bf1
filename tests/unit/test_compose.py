"""docker-compose.yml and the Dockerfile stay true to the compose specification, the CLI, the
code's settings and the local stack. No Docker engine here: these are static checks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import typer.main
import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsError

from services.cli import app
from services.platform.diagnose import env_name
from services.settings_doc import SETTINGS
from services.stack import StackSettings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _resolves(group: Any, argv: list[str]) -> bool:
    """Whether argv names a command of the CLI (typer vendors click: go by `commands`)."""
    command = group
    for word in argv:
        subcommands = getattr(command, "commands", None)
        if word.startswith("-") or subcommands is None:
            break
        if word not in subcommands:
            return False
        command = subcommands[word]
    return command is not group and getattr(command, "commands", None) is None


def _ours() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    ours = {name: svc for name, svc in services.items() if "build" in svc}
    assert ours, "compose names no ghl-sync service"
    return ours


def _options(argv: list[str]) -> set[str]:
    """The long options the command named by argv accepts (loads a lazy command)."""
    root = typer.main.get_command(app)
    command = root.loaded(argv[0]) if hasattr(root, "loaded") else root.commands[argv[0]]
    return {opt for param in command.params for opt in param.opts}


def _script_commands(svc: dict[str, Any]) -> list[list[str]]:
    """The `ghl-sync ...` invocations of a service that runs a shell script."""
    script = "\n".join(svc["command"])
    return [line.split()[1:] for line in re.findall(r"ghl-sync [a-z-]+(?: --?[a-z-]+)*", script)]


def test_every_ghl_sync_service_runs_a_real_cli_command() -> None:
    root = typer.main.get_command(app)
    for name, svc in _ours().items():
        runs = _script_commands(svc) if "entrypoint" in svc else [list(svc["command"])]
        assert runs, f"{name} runs no ghl-sync command"
        for argv in runs:
            assert _resolves(root, argv), f"{name}: {argv} is not a command"
            unknown = {a for a in argv if a.startswith("--")} - _options(argv)
            assert not unknown, f"{name}: {argv[0]} has no option {sorted(unknown)}"


def _schema() -> dict[str, Any]:
    loaded = json.loads((ROOT / "specs" / "compose" / "compose-spec.json").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_file_follows_the_compose_specification() -> None:
    validator = jsonschema.Draft7Validator(_schema())
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(_compose())]
    assert not errors, errors


def test_the_specification_check_catches_a_bad_file() -> None:
    validator = jsonschema.Draft7Validator(_schema())
    broken = _compose()
    broken["services"]["worker"]["restart"] = ["always"]
    broken["services"]["migrate"]["depends_on"] = {"postgres": {"condition": "when-ready"}}
    broken["services"]["kafka"]["helthcheck"] = {}
    assert len(list(validator.iter_errors(broken))) == 3


def _settings_by_env() -> dict[str, type[BaseSettings]]:
    return {env_name(cls, name): cls for _, cls in SETTINGS for name in cls.model_fields}


def test_every_variable_it_sets_is_a_setting_with_a_valid_value(tmp_path: Path) -> None:
    known = _settings_by_env()
    for name, svc in _ours().items():
        env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
        ours = {k: v for k, v in env.items() if k.startswith("GHL_SYNC_")}
        unknown = sorted(set(ours) - set(known))
        assert not unknown, f"{name} sets variables no settings class reads: {unknown}"
        for cls in {known[k] for k in ours}:
            mine = {k: v for k, v in ours.items() if known[k] is cls}
            env_file = tmp_path / f"{name}-{cls.__name__}.env"
            env_file.write_text("".join(f"{k}='{v}'\n" for k, v in mine.items()))
            # A value the class cannot parse raises here, naming the service.
            try:
                cls(_env_file=env_file)  # type: ignore[call-arg]
            except (ValueError, SettingsError) as exc:
                raise AssertionError(f"{name}: {cls.__name__} rejects its values") from exc


def test_the_image_sets_only_real_settings() -> None:
    known = _settings_by_env()
    dockerfile = (ROOT / "Dockerfile").read_text()
    for variable in re.findall(r"\b(GHL_SYNC_[A-Z0-9_]+)=", dockerfile):
        assert variable in known, variable


def _env(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in _compose()["services"][name]["environment"].items()}


def test_the_demo_is_wired_to_the_simulator() -> None:
    from services.ghl._crypto import TokenCipher

    services = _compose()["services"]
    sim = services["simulator"]["command"]
    sim_port = sim[sim.index("--port") + 1]
    sim_url = f"http://simulator:{sim_port}"
    demo = {n: s for n, s in services.items() if "demo" in s.get("profiles", [])}
    assert {"simulator", "demo-setup", "demo-webhooks", "demo-worker", "demo-poller"} <= set(demo)
    for name, svc in demo.items():
        if name == "simulator" or svc["command"] == ["migrate"]:
            continue
        env = _env(name)
        assert env["GHL_SYNC_GHL_BASE_URL"] == sim_url, name
        assert env["GHL_SYNC_GHL_AUTHORIZE_URL"].startswith(sim_url), name
        TokenCipher(SecretStr(env["GHL_SYNC_GHL_TOKEN_ENCRYPTION_KEY"]))  # a valid key
        assert services[name]["depends_on"]["simulator"]["condition"] == "service_healthy"
    receiver = demo["demo-webhooks"]["command"]
    assert receiver[receiver.index("--simulator-url") + 1] == sim_url
    target = sim[sim.index("--webhook-url") + 1]
    port = receiver[receiver.index("--port") + 1]
    assert target == f"http://demo-webhooks:{port}/webhooks/ghl"
    steps = [argv[0] for argv in _script_commands(demo["demo-setup"])]
    assert steps == ["auth", "backfill"]
    assert demo["demo-setup"]["restart"] == "no"
    live = {n for n, s in services.items() if "live" in s.get("profiles", [])}
    assert {f"demo-{n}" for n in live} <= set(demo), "every live service has a demo twin"


def test_kafka_and_postgres_are_published_for_the_host() -> None:
    services = _compose()["services"]
    kafka = services["kafka"]
    assert any(p.endswith(":9092") for p in kafka["ports"])
    advertised = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "HOST://127.0.0.1:" in advertised
    assert "INTERNAL://kafka:19092" in advertised
    assert any(p.endswith(":5432") for p in services["postgres"]["ports"])
    for name in _ours():
        for key, value in _env(name).items() if "environment" in services[name] else ():
            if key.endswith("KAFKA_BOOTSTRAP_SERVERS"):
                assert value == "kafka:19092", (name, key)


def test_long_running_services_have_a_health_check() -> None:
    for name, svc in _ours().items():
        if svc.get("restart") == "no":
            continue
        url = _env(name).get("HEALTHCHECK_URL", "")
        assert url.startswith("http://127.0.0.1:"), name


def test_the_dockerfile_builds_in_two_stages_and_runs_unprivileged() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) == 2
    assert stages[0].endswith(" AS build")
    final = lines[lines.index(stages[1]) :]
    user = [line for line in final if line.startswith("USER ")]
    assert user, "the runtime stage sets no USER"
    uid, _, gid = user[-1].split()[1].partition(":")
    assert uid not in ("0", "root")
    run = " ".join(line for line in final if line.startswith("RUN "))
    # USER names ids that exist in the image: the group made with the user's gid (found by
    # building the image: useradd --system --user-group gave the group a system gid).
    assert re.search(rf"groupadd --gid {gid} ghlsync\b", run), "USER's group is not made"
    assert re.search(rf"useradd --uid {uid} --gid {gid} ", run), "USER's uid is not made"
    assert any(line.startswith("COPY --from=build ") for line in final)
    assert any(line.startswith("HEALTHCHECK ") for line in final)
    env = " ".join(line for line in final if line.startswith("ENV "))
    data_dir = re.search(r"GHL_SYNC_STREAMS_DATA_DIR=(\S+)", env)
    assert data_dir is not None
    created = " ".join(line for line in final if line.startswith("RUN "))
    owned = re.search(r"install -d -o ghlsync -g ghlsync -m \d+ (\S+)", created)
    assert owned is not None
    assert data_dir.group(1).startswith(owned.group(1))
    workdir = [line.split()[1] for line in final if line.startswith("WORKDIR ")]
    assert workdir[-1] == owned.group(1), "the working directory is the writable one"


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".stack", ".env"} <= ignored
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", (ROOT / "Dockerfile").read_text(), re.M)
    for sources in copied:
        for source in sources.split():
            assert source not in ignored, f"{source} is copied but ignored"
            assert (ROOT / source).exists(), source


def test_infrastructure_matches_the_local_stack() -> None:
    services = _compose()["services"]
    kafka_image = services["kafka"]["image"]
    assert kafka_image == f"apache/kafka:{StackSettings().kafka_version}"
    pom = (ROOT / "services" / "stack" / "pom.xml").read_text()
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert match is not None
    assert match.group(1) == StackSettings().kafka_version
    assert services["postgres"]["image"].startswith("postgres:15")
    for name in ("kafka", "postgres"):
        assert "healthcheck" in services[name], f"{name} has no health check"
