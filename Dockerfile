# The hookbridge binary in a small image: `docker build -t hookbridge .`, then
# `docker run -p 8080:8080 -v hookbridge-data:/var/lib/hookbridge hookbridge`
# (SQLite in the volume), or set HOOKBRIDGE_DATABASE_URL to PostgreSQL.
# Pass `--build-arg HOOKBRIDGE_COMMIT=$(git rev-parse --short=12 HEAD)` so
# `hookbridge --version` names the commit (the build context has no .git).

FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, in a layer of their own: a change to the sources does
# not build them again. Placeholder targets stand in for the real ones.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && echo 'fn main() {}' > benches/load.rs \
 && cargo build --release --locked --bin hookbridge \
 && rm -rf src benches
COPY . .
ARG HOOKBRIDGE_COMMIT=unknown
ENV HOOKBRIDGE_COMMIT=${HOOKBRIDGE_COMMIT}
# COPY keeps the sources' old times: touch them so cargo sees they changed.
RUN touch src/main.rs src/lib.rs build.rs \
 && cargo build --release --locked --bin hookbridge

FROM debian:bookworm-slim
# CA roots (HTTPS deliveries, PostgreSQL over TLS), the unprivileged user
# and the data folder: the same script a test runs against the binary.
COPY scripts/container-setup.sh /usr/local/lib/hookbridge/container-setup.sh
RUN /usr/local/lib/hookbridge/container-setup.sh
COPY --from=build /src/target/release/hookbridge /usr/local/bin/hookbridge
USER hookbridge
WORKDIR /var/lib/hookbridge
ENV HOOKBRIDGE_LISTEN=0.0.0.0:8080 \
    HOOKBRIDGE_DATABASE_URL=sqlite:///var/lib/hookbridge/hookbridge.db \
    HOOKBRIDGE_LOG_FORMAT=json
VOLUME ["/var/lib/hookbridge"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["hookbridge", "healthcheck"]
ENTRYPOINT ["hookbridge"]
CMD ["serve"]
