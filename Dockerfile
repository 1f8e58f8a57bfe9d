# syntax=docker/dockerfile:1
# Builds es-remote-exporter and ships it on a minimal Debian image.
#   docker build --build-arg REVISION="$(git rev-parse --short=12 HEAD)" -t es-remote-exporter .
# .git stays out of the build context, so the revision in es_remote_build_info comes from
# REVISION (build.rs reads ES_REMOTE_EXPORTER_REVISION); without it the label says "unknown".

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# Cargo.toml declares the benchmark, so cargo wants its source even for a release build.
COPY benches ./benches
ARG REVISION=unknown
# Cache mounts keep the crate registry and compiled dependencies between builds; the binary is
# copied out because the target cache is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    ES_REMOTE_EXPORTER_REVISION="${REVISION}" cargo build --release --locked \
    && install -D -m 0755 target/release/es-remote-exporter /out/es-remote-exporter

# distroless/cc has glibc, libgcc and the CA certificates that rustls reads, and nothing else:
# no shell, no package manager. Same Debian release as the builder, so glibc matches.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/es-remote-exporter /usr/local/bin/es-remote-exporter
# 65532 is distroless's "nonroot"; numeric so Kubernetes runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 10920
ENTRYPOINT ["/usr/local/bin/es-remote-exporter"]
CMD ["--config.file=/etc/es-remote-exporter/config.yml"]
