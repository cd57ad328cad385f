"""What can be checked of the Docker deployment without a Docker engine (none runs here)."""

import re
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SKYLARK_SERVICES = {"web", "web-2", "worker-streams", "worker-default", "beat"}

# Top-level keys of the reference mediamtx.yml of the pinned image (bluenviron/mediamtx:1.20.1)
# that Skylark's config sets; a misspelt key would stop MediaMTX at start-up.
MEDIAMTX_KEYS = {
    "logLevel", "logDestinations", "authMethod", "authHTTPAddress", "authHTTPExclude", "api", "metrics",
    "pprof", "playback", "rtsp", "rtspTransports", "rtspAddress", "webrtc", "webrtcAddress",
    "webrtcAllowOrigins", "webrtcLocalUDPAddress", "webrtcLocalTCPAddress", "webrtcIPsFromInterfaces",
    "webrtcAdditionalHosts", "rtmp", "hls", "srt", "moq", "paths",
}  # fmt: skip


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_every_service_with_health_gated_dependencies():
    services = compose()["services"]
    assert (
        set(services) == {"postgres", "redis", "mediamtx", "mosquitto", "proxy"} | SKYLARK_SERVICES
    )
    # The MQTT broker is optional: only with `--profile mqtt`, and nothing waits for it.
    assert services["mosquitto"]["profiles"] == ["mqtt"]
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:")
    assert (ROOT / "config" / "mosquitto.conf").exists()
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]
    for name in SKYLARK_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
    ports = services["mediamtx"]["ports"]
    assert {"8554:8554", "8889:8889", "8189:8189/udp"} <= set(ports)
    assert services["mediamtx"]["image"].startswith("bluenviron/mediamtx:")


def test_every_service_command_exists_in_the_image():
    """The image installs this project (pip install .), so its executables are those of this venv."""
    for name in SKYLARK_SERVICES:
        command = compose()["services"][name]["command"]
        words = command[2].split() if command[:2] == ["sh", "-c"] else command
        for word in words:
            if word in {"daphne", "celery", "python"}:
                assert (BIN / word).exists() or shutil.which(word), f"{name}: {word} missing"
        if "celery" in words:
            assert (
                words[words.index("-A") + 1] == "config"
                and (ROOT / "config" / "celery.py").exists()
            )
        if "manage.py" in words:
            assert (ROOT / "manage.py").exists()
    assert compose()["services"]["worker-streams"]["command"][-1].startswith("streams@"), (
        "readyz looks for streams@"
    )


def test_every_environment_variable_is_a_setting():
    settings_source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', settings_source))
    env = compose()["x-skylark"]["environment"]
    assert set(env) <= read, f"not read by settings: {set(env) - read}"
    example = {
        line.split("=")[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert read <= example, f"settings missing from .env.example: {read - example}"


def test_mediamtx_config_uses_known_keys_and_the_auth_hook():
    config = yaml.safe_load((ROOT / "config" / "mediamtx.yml").read_text())
    assert set(config) <= MEDIAMTX_KEYS, set(config) - MEDIAMTX_KEYS
    assert config["authMethod"] == "http"
    assert config["authHTTPAddress"].endswith("/internal/mediamtx/auth")
    assert (
        compose()["services"]["mediamtx"]["environment"]["MTX_AUTHHTTPADDRESS"]
        == "http://web:8000/internal/mediamtx/auth"
    )
    assert list(config["paths"]) == ["~^cam[0-9]+$"]


def test_the_scale_profile_puts_haproxy_with_the_tested_config_before_both_daphnes():
    """tests/scale/test_proxy.py runs deploy/haproxy.cfg itself; here: compose hands it over."""
    services = compose()["services"]
    proxy = services["proxy"]
    assert proxy["profiles"] == ["scale"] == services["web-2"]["profiles"]
    assert "./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in proxy["volumes"]
    web = [proxy["environment"][f"SKYLARK_WEB{n}"] for n in (1, 2)]
    assert web == ["web:8000", "web-2:8000"]
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    for name in ("SKYLARK_PROXY_BIND", "SKYLARK_WEB1", "SKYLARK_WEB2"):
        assert f"${{{name}}}" in config
