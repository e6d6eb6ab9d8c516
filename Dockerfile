# parcelbot as a container: a build stage with the Rust toolchain, and a small runtime
# stage holding only the binary and the migrations (also embedded in the binary), run
# as a non-root user. Every TLS stack in the binary is rustls with bundled roots, so
# the runtime needs no CA bundle and no OpenSSL.
#
#   docker build -t parcelbot .
#   docker run --rm -e TELEGRAM_BOT_TOKEN=... -p 8080:8080 -v parcelbot:/var/lib/parcelbot parcelbot

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin parcelbot \
    && install -d -m 0700 /out/var/lib/parcelbot \
    && install -m 0755 target/release/parcelbot /out/parcelbot

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/parcelbot /usr/local/bin/parcelbot
COPY --from=build --chown=65532:65532 /out/var/lib/parcelbot /var/lib/parcelbot
COPY migrations /usr/share/parcelbot/migrations
ENV PARCELBOT__DATA_DIR=/var/lib/parcelbot \
    PARCELBOT__HTTP__LISTEN=0.0.0.0:8080 \
    PARCELBOT__LOG__FORMAT=json
USER 65532:65532
VOLUME ["/var/lib/parcelbot"]
EXPOSE 8080
# Probes: GET /healthz (liveness) and GET /readyz (readiness) on port 8080.
ENTRYPOINT ["/usr/local/bin/parcelbot"]
CMD ["run"]
