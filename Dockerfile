# syntax=docker/dockerfile:1
# pulse-vsphere container image: a multi-stage build on Debian bookworm.
#   docker build -t pulse-vsphere .
#   docker run --rm -p 8080:8080 -v pv-data:/data pulse-vsphere serve --demo --listen 0.0.0.0:8080
# The runtime stage holds the binary, CA certificates and nothing else of the toolchain; it runs as
# an unprivileged user and writes only to /data (the SQLite store and the sealing key), so the root
# filesystem can be mounted read-only.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, from the lockfile only, so a source change rebuilds just this crate.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && for b in graphql_page simulator_max collector_max inventory_memory soak; do echo 'fn main() {}' > "benches/$b.rs"; done \
    && cargo build --release --locked \
    && rm -rf src benches
COPY src ./src
COPY benches ./benches
COPY assets ./assets
COPY migrations ./migrations
COPY schema.graphql ./
# The placeholder build left fresh timestamps behind; touch the real sources so cargo rebuilds them.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && install -D -m 0755 target/release/pulse-vsphere /out/pulse-vsphere

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 pulse \
    && useradd --system --uid 10001 --gid pulse --home-dir /data --no-create-home --shell /usr/sbin/nologin pulse \
    && install -d -o pulse -g pulse -m 0700 /data
COPY --from=build /out/pulse-vsphere /usr/local/bin/pulse-vsphere
USER 10001:10001
# The store (SQLite file) and the generated sealing key: back up together, or point the store at
# PostgreSQL (PULSE_VSPHERE_STORE_URL) and give the key as a secret (PULSE_VSPHERE_SECRET_KEY).
ENV PULSE_VSPHERE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
# Liveness through the binary itself: the image has no curl or wget.
ENV PULSE_VSPHERE_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz
HEALTHCHECK --interval=30s --timeout=6s --start-period=20s --retries=3 \
    CMD ["pulse-vsphere", "healthcheck"]
# SIGTERM drains requests and logs vCenter sessions out (docs/reliability.md, "Shutdown").
STOPSIGNAL SIGTERM
ENTRYPOINT ["pulse-vsphere"]
CMD ["serve", "--config", "/etc/pulse-vsphere/config.toml"]
