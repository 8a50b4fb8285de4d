# The hookbridge binary in a small image (used by docker-compose.yml).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin hookbridge

FROM debian:bookworm-slim
COPY --from=build /src/target/release/hookbridge /usr/local/bin/hookbridge
ENTRYPOINT ["hookbridge"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
