#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests (scripts/test.sh, or by hand):
#   scripts/pg-test-cluster.sh start   # installs Debian's postgresql when missing, starts the cluster, prints
#                                      # `export ETBENCH_TEST_PG_URL=postgres://etbench:PASSWORD@127.0.0.1:PORT/postgres`
#   scripts/pg-test-cluster.sh stop    # stops it and deletes its data directory
# TLS on (ssl = on) with a private CA and a server certificate for 127.0.0.1 and localhost, made at start with
# openssl; the CA's path is printed as ETBENCH_TEST_PG_CA. ETBENCH_PG_SSL=off starts it without TLS.
# Its own data directory ($ETBENCH_PG_DIR, default /tmp/etbench-pg-test), password (scram-sha-256) authentication,
# listening on 127.0.0.1 only, on a free port, with a fresh random password each start. Needs root (initdb runs as
# the `postgres` user) or to be run as a non-root user who owns the data directory.
set -euo pipefail
DIR=${ETBENCH_PG_DIR:-/tmp/etbench-pg-test}

bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$d" ] && [ "$(id -u)" = 0 ]; then
        echo "pg-test-cluster: installing Debian's postgresql" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 ||
            { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
        d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    [ -n "$d" ] || { echo "pg-test-cluster: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
    echo "$d"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    local p
    for p in $(seq 25432 25532); do
        if ! ss -Htln "sport = :$p" | grep -q .; then echo "$p"; return; fi
    done
    echo "pg-test-cluster: no free port in 25432-25532" >&2; exit 1
}

case "${1:-}" in
start)
    BIN=$(bindir)
    bash "$0" stop >/dev/null 2>&1 || true
    mkdir -p "$DIR"
    [ "$(id -u)" != 0 ] || chown postgres: "$DIR"
    chmod 700 "$DIR"
    PASSWORD=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
    PORT=$(free_port)
    as_owner sh -c "umask 077; printf '%s\n' '$PASSWORD' > '$DIR/pwfile'"
    as_owner "$BIN/initdb" -D "$DIR/data" -U etbench --auth=scram-sha-256 --pwfile="$DIR/pwfile" -E UTF8 --no-sync >"$DIR/initdb.log" 2>&1 ||
        { cat "$DIR/initdb.log" >&2; exit 1; }
    rm -f "$DIR/pwfile"
    SSL_OPTS=""
    if [ "${ETBENCH_PG_SSL:-on}" = on ]; then
        TLS="$DIR/tls"
        mkdir -p "$TLS"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=etbench test CA" \
            -keyout "$TLS/ca.key" -out "$TLS/ca.pem" >/dev/null 2>&1
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$TLS/server.key" -out "$TLS/server.csr" >/dev/null 2>&1
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$TLS/ext.cnf"
        openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial -days 2 \
            -extfile "$TLS/ext.cnf" -out "$TLS/server.pem" >/dev/null 2>&1
        chmod 600 "$TLS/server.key"
        [ "$(id -u)" != 0 ] || chown -R postgres: "$TLS"
        chmod 755 "$TLS"
        chmod 644 "$TLS/ca.pem"
        SSL_OPTS="-c ssl=on -c ssl_cert_file=$TLS/server.pem -c ssl_key_file=$TLS/server.key"
    fi
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
        -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100 $SSL_OPTS" start >&2 ||
        { cat "$DIR/server.log" >&2; exit 1; }
    URL="postgres://etbench:$PASSWORD@127.0.0.1:$PORT/postgres"
    as_owner sh -c "umask 077; printf '%s\n' '$URL' > '$DIR/url'"
    echo "export ETBENCH_TEST_PG_URL=$URL"
    if [ -n "$SSL_OPTS" ]; then echo "export ETBENCH_TEST_PG_CA=$TLS/ca.pem"; fi
    ;;
stop)
    if [ -d "$DIR/data" ]; then
        BIN=$(bindir)
        as_owner "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >&2 || true
    fi
    rm -rf "$DIR"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
