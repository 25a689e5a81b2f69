#!/usr/bin/env bash
# Installs the test dependencies (Python venv + the official npm client) and runs every check:
# ruff, mypy (strict on src/) and the pytest suite. Used by CI (.ci/run) and by developers.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
if [ -f tests/clients/js/package-lock.json ]; then
    (cd tests/clients/js && npm ci --silent --no-audit --no-fund)
fi
for client in web; do
    [ -f "tests/clients/$client/package-lock.json" ] && (cd "tests/clients/$client" && npm ci --silent --no-audit --no-fund)
done
if [ -f tests/clients/dashboard/package-lock.json ]; then
    (cd tests/clients/dashboard && npm ci --silent --no-audit --no-fund)
fi
# The page tests drive Debian's Chromium headless (/usr/bin/chromium); without it they would be
# skipped, so install it where apt can (as root, or through sudo without a password).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
    echo "== installing Chromium (apt-get install chromium)"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo -n"
    $SUDO apt-get install -y -q chromium >/dev/null 2>&1 \
        || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q chromium >/dev/null 2>&1; } \
        || echo "   could not install Chromium: the page tests will say they need it"
fi
# The suite runs every storage test on PostgreSQL too (LIVEBASE_TEST_POSTGRES, default
# postgresql://postgres@127.0.0.1:5432/test); start the local server if it is down.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        echo "== starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
        for _ in $(seq 1 30); do
            pg_isready -q -h 127.0.0.1 -p 5432 && break
            sleep 1
        done
    fi
fi
# agentfeed's MQTT sink tests use the Mosquitto broker on 127.0.0.1:1883; start it if it is down.
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && command -v mosquitto >/dev/null; then
    echo "== starting Mosquitto"
    mosquitto -d -c /etc/mosquitto/mosquitto.conf || mosquitto -d -p 1883 || true
fi
echo "== ruff"
.venv/bin/ruff check src tests apps examples bench
echo "== mypy (strict, src/)"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest "$@"
