"""Deployment checks that need no Docker engine: the Dockerfile lints clean, its CMD and HEALTHCHECK
work when run here as the image would run them, the shipped Streamlit config keeps its protections,
and compose.yaml and docs/deploy.md agree."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import (
    REPO_ROOT,
    StreamlitServer,
    free_port,
    offsite_requests,
    open_app,
    start_streamlit,
)

DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE = REPO_ROOT / "compose.yaml"
DEPLOY_DOC = REPO_ROOT / "docs" / "deploy.md"
STREAMLIT_CONFIG = REPO_ROOT / ".streamlit" / "config.toml"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
IMAGE_PORT = 8501


# ------------------------------------------------------------------------------ Dockerfile parsing


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, rest = (current + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        current = ""
    return instructions


def last_instruction(name: str) -> str | None:
    found = [
        args for keyword, args in dockerfile_instructions(DOCKERFILE.read_text()) if keyword == name
    ]
    return found[-1] if found else None


def exec_form(args: str) -> list[str]:
    """A JSON exec-form argument list; anything else (shell form) fails the test."""
    parsed = json.loads(args)
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed), args
    return parsed


def image_command() -> list[str]:
    """What `docker run IMAGE` executes: ENTRYPOINT followed by CMD."""
    entrypoint = last_instruction("ENTRYPOINT")
    cmd = last_instruction("CMD")
    return (exec_form(entrypoint) if entrypoint else []) + (exec_form(cmd) if cmd else [])


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in dockerfile_instructions(DOCKERFILE.read_text()):
        if keyword == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def healthcheck_command() -> list[str]:
    args = last_instruction("HEALTHCHECK")
    assert args is not None, "the Dockerfile has no HEALTHCHECK"
    _options, _, command = args.partition("CMD ")
    return exec_form(command)


def swap_flag(argv: list[str], flag: str, value: str) -> tuple[list[str], str]:
    """Replace the value of `--flag=v` or `--flag v` in argv; return the new argv and old value."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg.startswith(f"{flag}="):
            out[i] = f"{flag}={value}"
            return out, arg.split("=", 1)[1]
        if arg == flag and i + 1 < len(out):
            old = out[i + 1]
            out[i + 1] = value
            return out, old
    raise AssertionError(f"{flag} not in the image's command {argv}")


def local_python(argv: list[str]) -> list[str]:
    """Run the image's `streamlit ...` / `python ...` with this test's interpreter."""
    if argv[0] == "streamlit":
        return [sys.executable, "-m", "streamlit", *argv[1:]]
    if argv[0] in {"python", "python3"}:
        return [sys.executable, *argv[1:]]
    raise AssertionError(f"the image runs {argv[0]!r}; expected streamlit or python")


def remap_paths(value: str, data_dir: Path) -> str:
    """Image paths to their local stand-ins: /app is this checkout, /data a temporary folder."""
    for image_path, local in (("/app", REPO_ROOT), ("/data", data_dir)):
        if value == image_path or value.startswith(image_path + "/"):
            return str(local) + value[len(image_path) :]
    return value


@pytest.fixture(scope="module")
def image_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    """The image's CMD, with its ENV, run here: a free port and loopback instead of 0.0.0.0:8501."""
    data_dir = tmp_path_factory.mktemp("image_data")
    env = {key: remap_paths(value, data_dir) for key, value in image_env().items()}
    env["RAY_AUTH_MODE"] = "disabled"

    def command(port: int) -> list[str]:
        argv, _ = swap_flag(image_command(), "--server.address", "127.0.0.1")
        argv, _ = swap_flag(argv, "--server.port", str(port))
        return local_python(argv)

    assert last_instruction("WORKDIR") == "/app"  # so the checkout's root is the working directory
    try:
        server = start_streamlit(env, command=command, cwd=REPO_ROOT)
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    yield server
    server.stop()


# ------------------------------------------------------------------------------------- Dockerfile


def test_dockerfile_passes_hadolint_with_no_findings() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_image_serves_streamlit_on_all_interfaces_at_the_exposed_port() -> None:
    argv = image_command()
    assert argv[:3] == ["streamlit", "run", "app.py"]
    assert swap_flag(argv, "--server.address", "x")[1] == "0.0.0.0"
    assert swap_flag(argv, "--server.port", "x")[1] == str(IMAGE_PORT)
    assert last_instruction("EXPOSE") == str(IMAGE_PORT)


def test_image_command_run_here_answers_the_health_check(image_server: StreamlitServer) -> None:
    with urllib.request.urlopen(f"{image_server.url}/_stcore/health", timeout=10) as response:
        assert response.read() == b"ok"


def _run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    argv = healthcheck_command()
    target = f"127.0.0.1:{IMAGE_PORT}"
    assert any(target in arg for arg in argv), f"the HEALTHCHECK does not probe {target}: {argv}"
    local = [arg.replace(target, f"127.0.0.1:{port}") for arg in local_python(argv)]
    return subprocess.run(local, capture_output=True, text=True, timeout=30)


def test_image_healthcheck_passes_against_the_running_app(image_server: StreamlitServer) -> None:
    result = _run_healthcheck(image_server.port)
    assert result.returncode == 0, result.stderr


def test_image_healthcheck_fails_when_nothing_answers() -> None:
    assert _run_healthcheck(free_port()).returncode != 0


def test_image_runs_unprivileged_and_keeps_its_state_in_the_data_volume() -> None:
    user = last_instruction("USER")
    assert user is not None and user.split(":")[0] not in {"root", "0"}
    volume = last_instruction("VOLUME")
    assert volume is not None and "/data" in exec_form(volume)
    env = image_env()
    assert env["OPTVIZ_DATA_DIR"] == "/data"
    assert env["OPTVIZ_DB"].startswith("/data/")


def test_image_installs_pinned_requirements_cpu_torch_and_offline_mnist() -> None:
    text = DOCKERFILE.read_text()
    base = last_instruction("FROM") or ""
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), base
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text
    runs = " ".join(args for keyword, args in dockerfile_instructions(text) if keyword == "RUN")
    assert "--requirement requirements.txt" in runs
    assert "--no-deps --requirement requirements-data.txt" in runs
    # The one apt package: Debian's Fashion-MNIST, pinned, without recommends, lists removed.
    installs = re.findall(r"apt-get install ([^&]*)", runs)
    assert [i.split() for i in installs] == [
        ["-y", "--no-install-recommends", "dataset-fashion-mnist=0.0~git20200523.55506a9-1"]
    ]
    assert "rm -rf /var/lib/apt/lists/*" in runs


# ---------------------------------------------------------------------------- Streamlit settings


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_streamlit_config_keeps_protections_on_and_statistics_off() -> None:
    settings = _flatten(tomllib.loads(STREAMLIT_CONFIG.read_text()))
    assert settings["server.enableXsrfProtection"] is True
    assert settings["server.enableCORS"] is True
    assert settings["browser.gatherUsageStats"] is False
    assert settings["server.headless"] is True
    assert settings["server.enableStaticServing"] is False
    assert settings["server.maxUploadSize"] <= 10
    # The explorer's animated figures are up to 1.5 MB; a message must fit one with room.
    assert 5 <= settings["server.maxMessageSize"] <= 200


def test_every_streamlit_setting_shipped_is_a_real_option() -> None:
    from streamlit import config

    options = config.get_config_options()
    settings = _flatten(tomllib.loads(STREAMLIT_CONFIG.read_text()))
    unknown = [key for key in settings if key not in options]
    # STREAMLIT_SERVER_FILE_WATCHER_TYPE is server.fileWatcherType: compare without case and "_".
    by_env_name = {name.replace(".", "").lower(): name for name in options}
    env_settings = [key for key in image_env() if key.startswith("STREAMLIT_")]
    unknown += [
        key
        for key in env_settings
        if key.removeprefix("STREAMLIT_").replace("_", "").lower() not in by_env_name
    ]
    assert unknown == []


def test_running_app_refuses_foreign_origins_and_issues_an_xsrf_cookie(
    image_server: StreamlitServer,
) -> None:
    request = urllib.request.Request(
        f"{image_server.url}/_stcore/health", headers={"Origin": "http://attacker.invalid"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        headers = response.headers
    # With CORS protection off Streamlit answers "Access-Control-Allow-Origin: *".
    assert headers.get("Access-Control-Allow-Origin") is None
    assert "_streamlit_xsrf=" in (headers.get("Set-Cookie") or "")


@pytest.mark.browser
def test_app_run_as_the_image_runs_it_sends_no_usage_statistics(
    image_server: StreamlitServer, page: Any
) -> None:
    # The image's command does not pass --browser.gatherUsageStats: only config.toml turns it off,
    # and with it on the page fetches Streamlit's metrics configuration from the internet, as
    # soon as the first run's new session message is handled, before that run is shown.
    open_app(page, image_server.url)
    assert offsite_requests(page) == []


# ------------------------------------------------------------------------------ compose and docs


def documented_env_vars() -> set[str]:
    """The variable names in the first column of docs/deploy.md's "Environment variables" table."""
    text = DEPLOY_DOC.read_text()
    assert "## Environment variables" in text
    section = text.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", section, flags=re.MULTILINE))


def compose_services() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(COMPOSE.read_text())
    services: dict[str, dict[str, Any]] = document["services"]
    return services


def service_env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {key: str(value) for key, value in environment.items()}


def command_text(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def test_compose_runs_app_ray_head_and_gpu_worker_from_this_dockerfile() -> None:
    services = compose_services()
    assert {"app", "ray-head", "gpu-worker"} <= set(services)
    for name in ("app", "ray-head", "gpu-worker"):
        build = services[name]["build"]
        assert (build if isinstance(build, str) else build["context"]) == "."
    # Driver and head share one image, so code and versions match.
    assert services["app"]["image"] == services["ray-head"]["image"]
    head = command_text(services["ray-head"])
    assert "ray start --head" in head and "--block" in head and "--num-cpus=0" in head
    port = re.search(r"--port=(\d+)", head)
    assert port is not None
    gcs = f"ray-head:{port.group(1)}"
    worker = command_text(services["gpu-worker"])
    assert f"--address={gcs}" in worker and "--num-gpus=1" in worker and "--block" in worker
    # A GCS address (host:port), which `ray.init()` reads from RAY_ADDRESS; not a ray:// client.
    assert service_env(services["app"])["RAY_ADDRESS"] == gcs
    assert "streamlit run app.py" in command_text(services["app"])
    assert any(str(p).endswith(f":{IMAGE_PORT}") for p in services["app"]["ports"])


def test_compose_gpu_worker_is_a_cuda_build_that_reserves_an_nvidia_gpu() -> None:
    worker = compose_services()["gpu-worker"]
    assert "/whl/cu" in worker["build"]["args"]["TORCH_INDEX_URL"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert any(
        d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) and d.get("count", 0)
        for d in devices
    )
    assert worker.get("shm_size")


def test_compose_keeps_the_run_store_in_a_named_volume() -> None:
    document = yaml.safe_load(COMPOSE.read_text())
    app = document["services"]["app"]
    db_dir = str(Path(service_env(app)["OPTVIZ_DB"]).parent)
    mounts = {m.split(":")[1]: m.split(":")[0] for m in app["volumes"]}
    assert mounts.get(db_dir) in (document.get("volumes") or {})


def test_compose_sets_exactly_the_environment_variables_the_docs_table_documents() -> None:
    documented = documented_env_vars()
    in_compose = set().union(*(service_env(s) for s in compose_services().values()))
    optviz_in_image = {key for key in image_env() if key.startswith("OPTVIZ_")}
    assert documented >= {"RAY_ADDRESS", "OPTVIZ_RUN_GPUS", "OPTVIZ_MAX_CONCURRENT_RUNS"}
    assert in_compose == documented
    assert optviz_in_image <= documented


# ------------------------------------------------------------------------------------ .dockerignore


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regex over "/"-separated paths."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def in_build_context(path: str) -> bool:
    """Whether .dockerignore lets `path` into the build context (the last matching rule wins; a
    rule matching a folder covers what is inside it)."""
    included = True
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for line in DOCKERIGNORE.read_text().splitlines():
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        regex = _glob_regex(rule.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            included = negated
    return included


def test_build_context_holds_what_the_image_runs_and_no_secrets_or_state() -> None:
    router = (REPO_ROOT / "pages" / "navigation.py").read_text()
    pages = [f"pages/{path}" for path in re.findall(r"st\.Page\(\s*[\"']([^\"']+)[\"']", router)]
    assert pages, "the router routes to no st.Page"
    needed = [
        "app.py",
        "pages/navigation.py",
        *pages,
        "optviz/__init__.py",
        "requirements.txt",
        "requirements-data.txt",
        ".streamlit/config.toml",
    ]
    assert [path for path in needed if not in_build_context(path)] == []
    kept_out = [
        ".git/HEAD",
        ".venv/bin/python",
        "tests/conftest.py",
        ".streamlit/secrets.toml",
        "runs.db",
        "optviz/runs.db-wal",
        "optviz/__pycache__/surfaces.cpython-311.pyc",
        "data/mnist.npz",
    ]
    assert [path for path in kept_out if in_build_context(path)] == []
