# shellcheck shell=bash
# Test services for dominion-persistence: a private redis-server and a SecantusDB (MongoDB wire
# protocol stand-in) on free loopback ports. Meant to be *sourced* (by .ci/run or a developer):
#
#   source .ci/services.sh && trap dominion_services_stop EXIT
#
# Exports DOMINION_TEST_REDIS_URL, DOMINION_TEST_MONGO_URL, DOMINION_TEST_SECANTUSD and
# DOMINION_TEST_REQUIRE_SERVICES=1 (so tests fail instead of skipping if a service is missing).
# Never touches an existing redis (e.g. on 6379). The SecantusDB venv is cached under
# ${DOMINION_CI_CACHE:-$HOME/.cache/dominion-ci} so re-runs are warm.
# Returns non-zero (does not exit the caller's shell) when a service cannot be started.

DOMINION_SECANTUS_VERSION="0.7.0b3"

_dominion_log() { echo "[services] $*" >&2; }

_dominion_free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

_dominion_apt_install() {
    if [ -z "${_DOMINION_APT_UPDATED:-}" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
        _DOMINION_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

dominion_services_stop() {
    local pid
    for pid in ${DOMINION_SERVICES_PIDS:-}; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            # Give it a moment, then insist.
            for _ in $(seq 1 25); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.2
            done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    DOMINION_SERVICES_PIDS=""
    if [ -n "${DOMINION_SERVICES_TMP:-}" ] && [ -d "$DOMINION_SERVICES_TMP" ]; then
        rm -rf "$DOMINION_SERVICES_TMP"
    fi
    DOMINION_SERVICES_TMP=""
    unset DOMINION_TEST_REDIS_URL DOMINION_TEST_MONGO_URL DOMINION_TEST_SECANTUSD DOMINION_TEST_REQUIRE_SERVICES
    return 0
}

_dominion_start_redis() {
    if ! command -v redis-server >/dev/null 2>&1; then
        _dominion_log "installing redis-server"
        _dominion_apt_install redis-server || { _dominion_log "apt-get install redis-server failed"; return 1; }
    fi
    local port dir pid
    port=$(_dominion_free_port) || return 1
    dir="$DOMINION_SERVICES_TMP/redis"
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$dir" --daemonize no --logfile "$dir/redis.log" &
    pid=$!
    DOMINION_SERVICES_PIDS="$DOMINION_SERVICES_PIDS $pid"
    for _ in $(seq 1 100); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ]; then
            export DOMINION_TEST_REDIS_URL="redis://127.0.0.1:$port"
            _dominion_log "redis-server pid $pid on $DOMINION_TEST_REDIS_URL"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    _dominion_log "redis-server did not answer on port $port; log:"
    tail -n 20 "$dir/redis.log" >&2 2>/dev/null
    return 1
}

_dominion_secantus_venv() {
    local cache venv
    cache="${DOMINION_CI_CACHE:-$HOME/.cache/dominion-ci}"
    venv="$cache/secantus-venv-$DOMINION_SECANTUS_VERSION"
    if [ -x "$venv/bin/secantusd-py" ] && [ -f "$venv/.installed" ]; then
        echo "$venv"
        return 0
    fi
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
        _dominion_log "installing python3-venv"
        _dominion_apt_install python3 python3-venv || return 1
    fi
    _dominion_log "creating venv $venv (secantusdb==$DOMINION_SECANTUS_VERSION)"
    rm -rf "$venv"
    mkdir -p "$cache"
    python3 -m venv "$venv" >&2 || return 1
    "$venv/bin/pip" install -q --disable-pip-version-check "secantusdb==$DOMINION_SECANTUS_VERSION" >&2 || return 1
    touch "$venv/.installed"
    echo "$venv"
}

_dominion_start_secantus() {
    local venv port dir pid url
    venv=$(_dominion_secantus_venv) || { _dominion_log "could not install SecantusDB"; return 1; }
    port=$(_dominion_free_port) || return 1
    dir="$DOMINION_SERVICES_TMP/secantus"
    mkdir -p "$dir/data"
    "$venv/bin/secantusd-py" --host 127.0.0.1 --port "$port" --storage-path "$dir/data" \
        --log-level WARNING >"$dir/secantusd.log" 2>&1 &
    pid=$!
    DOMINION_SERVICES_PIDS="$DOMINION_SERVICES_PIDS $pid"
    url="mongodb://127.0.0.1:$port/"
    for _ in $(seq 1 150); do
        if "$venv/bin/python" - "$url" >/dev/null 2>&1 <<'PY'
import sys, pymongo
pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=500).admin.command("ping")
PY
        then
            export DOMINION_TEST_MONGO_URL="$url"
            export DOMINION_TEST_SECANTUSD="$venv/bin/secantusd-py"
            _dominion_log "secantusd-py pid $pid on $DOMINION_TEST_MONGO_URL"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    _dominion_log "secantusd-py did not answer on port $port; log:"
    tail -n 30 "$dir/secantusd.log" >&2 2>/dev/null
    return 1
}

dominion_services_start() {
    if [ -n "${DOMINION_SERVICES_TMP:-}" ]; then
        _dominion_log "already started (call dominion_services_stop first)"
        return 0
    fi
    DOMINION_SERVICES_PIDS=""
    DOMINION_SERVICES_TMP=$(mktemp -d "${TMPDIR:-/tmp}/dominion-services.XXXXXX") || return 1
    if ! command -v python3 >/dev/null 2>&1; then
        _dominion_apt_install python3 python3-venv || return 1
    fi
    if _dominion_start_redis && _dominion_start_secantus; then
        export DOMINION_TEST_REQUIRE_SERVICES=1
        return 0
    fi
    dominion_services_stop
    return 1
}

dominion_services_start
