# Skylark: `make run` sets up and starts everything; `make test` sets up and runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export DEBUG ?= 1
export FACE_DETECTOR_MODEL ?= $(if $(wildcard ../shared/models/yunet.onnx),$(abspath ../shared/models/yunet.onnx),)

APT_PACKAGES := ffmpeg fonts-dejavu-core python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad \
	gstreamer1.0-libav
APT_TEST_PACKAGES := chromium haproxy

.PHONY: run test lint format bench screenshots system-deps test-system-deps services venv db clean

# MediaMTX is optional: when its binary is on PATH (or MEDIAMTX_BIN is set) it runs too and the
# dashboard plays WebRTC; otherwise the tiles use the MJPEG fallback.
export MEDIAMTX_BIN ?= $(shell command -v mediamtx 2>/dev/null)
export SKYLARK_PORT ?= 8000
RUN_PROCESSES := web streams default beat camera $(if $(MEDIAMTX_BIN),mediamtx)
# On the honcho line itself (a continued line would echo its `\` when there is no MediaMTX).
MEDIAMTX_ENV = $(if $(MEDIAMTX_BIN),MEDIAMTX_RTSP_URL=rtsp://127.0.0.1:8554 MEDIAMTX_WEBRTC_URL=http://127.0.0.1:8889 MEDIAMTX_PUBLISH_SECRET=$$(cat var/mediamtx-publish-secret) )

run: system-deps services venv db
	$(BIN)/python manage.py ensure_demo
	@mkdir -p var
	@if [ -n "$(MEDIAMTX_BIN)" ]; then \
		test -s var/mediamtx-publish-secret || $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(24))" > var/mediamtx-publish-secret; \
		echo ">> MediaMTX found at $(MEDIAMTX_BIN): tiles will play WebRTC"; \
	else echo ">> no MediaMTX binary (set MEDIAMTX_BIN to use one): tiles will play MJPEG"; fi
	@echo ">> starting $(RUN_PROCESSES) — open http://127.0.0.1:$(SKYLARK_PORT) and log in as demo / demo-pass-123 (Ctrl-C stops all)"
	$(MEDIAMTX_ENV)$(BIN)/honcho start -f Procfile $(RUN_PROCESSES)

test: system-deps test-system-deps services venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: services venv db
	$(BIN)/python bench/run_quick.py

# 4 cameras and 50 dashboards for 30 minutes (MINUTES=5 for a shorter run); see docs/reliability.md.
.PHONY: soak
soak: services venv db
	$(BIN)/python bench/soak.py --minutes $(or $(MINUTES),30)

# Debian packages the pipeline and the camera simulator need; installed only when missing.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo ">> installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

test-system-deps:
	@missing=$$(for p in $(APT_TEST_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo ">> installing Debian packages for the tests (browser, proxy): $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# PostgreSQL and Redis are normally running; start them if they are not.
services:
	@if ! pg_isready -q -h 127.0.0.1 -p 5432; then \
		echo ">> starting PostgreSQL"; \
		if ! command -v pg_ctlcluster >/dev/null; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; fi; \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; \
		for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi
	@if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then \
		echo ">> starting Redis"; \
		if ! command -v redis-server >/dev/null; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; fi; \
		mkdir -p /var/lib/redis /var/log/redis; \
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log; \
		for i in $$(seq 30); do redis-cli ping >/dev/null 2>&1 && break; sleep 1; done; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo ">> creating the virtualenv in $(VENV) and installing Skylark with its dev tools"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

db:
	$(BIN)/python -m config.dbsetup
	$(BIN)/python manage.py migrate --noinput

screenshots: system-deps test-system-deps services venv
	SKYLARK_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/dashboard -k screenshot

clean:
	rm -rf $(VENV) var
