# Dockerfile - the hocvu container image: hocvud (ENTRYPOINT), hocvuctl and the default data set
# on a Debian 12 base with only the runtime libraries, running as an unprivileged user.
#
# Build:  docker build -t hocvu .        (or: buildah bud --format docker -t hocvu .)
# Proof:  deploy/check-image.sh          builds it here with buildah from a debootstrapped base
#
# Both stages start from debian:bookworm. Where a registry is reachable that is Docker Hub's
# image; where it is not (as on the project's build machine), deploy/check-image.sh creates a
# local one with `debootstrap --variant=minbase`, which is about the size of bookworm-slim.
# BASE_IMAGE lets a site use its own mirror of the base, e.g. --build-arg BASE_IMAGE=debian:bookworm-slim.
ARG BASE_IMAGE=debian:bookworm

# ---- build stage: compilers and -dev packages, thrown away afterwards --------------------------
FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libevent-dev libpq-dev libssl-dev libjansson-dev libhiredis-dev libxlsxwriter-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Only what the build reads, so an edit to docs or deploy/ does not invalidate this layer.
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY include/ include/
COPY src/ src/
COPY sql/ sql/
COPY web/ web/
COPY bench/ bench/
COPY tests/ tests/
# Warnings are CI's business (-Werror there); an image build should not fail on one.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build -j "$(nproc)" --target hocvud hocvuctl \
 && strip build/hocvud build/hocvuctl \
 && build/hocvud --version && build/hocvuctl --version

# ---- runtime stage: shared libraries only -------------------------------------------------------
FROM ${BASE_IMAGE}
# curl serves the HEALTHCHECK (and operators debugging from inside the pod); ca-certificates lets
# libpq verify a server certificate (sslmode=verify-full with sslrootcert=/etc/ssl/certs/...).
# The fixed uid/gid 10001 lets Kubernetes check runAsNonRoot without resolving a name.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libevent-2.1-7 libevent-pthreads-2.1-7 libevent-openssl-2.1-7 libpq5 libssl3 libjansson4 libhiredis0.14 libxlsxwriter4 \
        ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && groupadd --system --gid 10001 hocvu \
 && useradd --system --uid 10001 --gid hocvu --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin hocvu

COPY --from=build /src/build/hocvud /src/build/hocvuctl /usr/local/bin/
# The Cần Thơ wards, pre-2025 units and CCCD province codes, for `hocvuctl wards import`.
COPY data/ /usr/share/hocvu/data/

LABEL org.opencontainers.image.title="hocvu" \
      org.opencontainers.image.description="Certification counting for Binh dan hoc vu so: signed webhook ingest, progress APIs" \
      org.opencontainers.image.source="https://example.invalid/hocvu" \
      org.opencontainers.image.licenses="NOASSERTION"

# hocvud writes nothing to disk (logs go to stderr), so the root filesystem may be read-only.
USER 10001:10001
WORKDIR /usr/share/hocvu
ENV HOCVU_LISTEN=0.0.0.0:8080
EXPOSE 8080
# /healthz says only "the process answers"; readiness (/readyz, PostgreSQL reachable) is for the
# balancer, and must not get a container restarted while the database is down.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "--max-time", "2", "http://127.0.0.1:8080/healthz"]
# hocvud stops accepting on SIGTERM, answers what is in flight, then exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/hocvud"]
