# syntax=docker/dockerfile:1
# sipmap's container image: built with the toolchain the project is tested with, run from a slim
# Debian with the binary only, as a user of its own, the database in a volume.
#
#   docker build -t sipmap .
#   docker run -d --name sipmap -p 8080:8080 -p 5060:5060/udp -p 5060:5060/tcp \
#       -v sipmap-data:/var/lib/sipmap sipmap
#   docker logs sipmap      # the first start prints the initial account's credentials
#
# Settings are environment variables (`docker run --rm sipmap serve --help` names each one's).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY benches benches
COPY migrations migrations
COPY src src
# The registry and target directories are build caches (BuildKit, podman), kept between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin sipmap \
    && install -m 0755 target/release/sipmap /usr/local/bin/sipmap

# The same Debian release as the build image: the binary links its glibc.
FROM debian:bookworm-slim
# ca-certificates: webhooks over HTTPS and TLS targets are verified against the system's roots.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/sipmap \
        --shell /usr/sbin/nologin sipmap \
    && install -d -m 0700 -o sipmap -g sipmap /var/lib/sipmap
COPY --from=build /usr/local/bin/sipmap /usr/local/bin/sipmap
USER sipmap:sipmap
WORKDIR /var/lib/sipmap
# The database, its WAL and the server key sealing secrets (beside the database).
VOLUME ["/var/lib/sipmap"]
ENV SIPMAP_LISTEN=0.0.0.0:8080 \
    SIPMAP_SIP_LISTEN=0.0.0.0:5060 \
    SIPMAP_DATABASE_URL=sqlite:///var/lib/sipmap/sipmap.db \
    SIPMAP_DRAIN_TIMEOUT_SECS=8
# The HTTP API, and the SIP edge over UDP and TCP. HTTPS and SIP over TLS listen only when asked
# (SIPMAP_HTTPS_LISTEN, SIPMAP_SIP_TLS_LISTEN, with a certificate): publish their ports then.
EXPOSE 8080/tcp 5060/udp 5060/tcp
# No curl in the image: the binary asks /livez itself (SIPMAP_HEALTH_URL if the API listens
# elsewhere).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/sipmap", "health"]
# SIGTERM (docker stop) drains within SIPMAP_DRAIN_TIMEOUT_SECS, below docker's 10 s default.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sipmap"]
CMD ["serve"]
