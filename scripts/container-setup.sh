#!/bin/sh
# The runtime image's setup, run by the Dockerfile as root: CA roots for
# HTTPS deliveries and PostgreSQL's TLS, an unprivileged `hookbridge` user,
# and its data folder (the image's volume), owned by it and closed to others.
set -eu
DATA_DIR="${HOOKBRIDGE_DATA_DIR:-/var/lib/hookbridge}"
if ! [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends ca-certificates
  rm -rf /var/lib/apt/lists/*
fi
if ! id hookbridge >/dev/null 2>&1; then
  useradd --system --uid 10001 --user-group --home-dir "$DATA_DIR" \
    --shell /usr/sbin/nologin hookbridge
fi
mkdir -p "$DATA_DIR"
chown hookbridge:hookbridge "$DATA_DIR"
chmod 0750 "$DATA_DIR"
