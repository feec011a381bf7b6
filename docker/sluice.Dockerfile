# syntax=docker/dockerfile:1
# Sluice proxy image: a Debian 12 build stage, then a slim runtime with only the shared
# libraries the binary links, running as an unprivileged user.
#
#   docker build -f docker/sluice.Dockerfile -t sluice:0.1.0 .        (from the repository root)
#   docker run --rm -p 8080:8080 -v "$PWD/conf-dir:/etc/sluice:ro" sluice:0.1.0
#
# The build context is the repository root; docker/sluice.Dockerfile.dockerignore keeps it to
# the files copied below (BuildKit reads <Dockerfile>.dockerignore next to the Dockerfile).

############################ build ############################
FROM debian:12 AS build

# The -dev packages of scripts/install-deps.sh, without the test and benchmark tools
# (tests/deploy checks the two lists stay in step). ccache makes rebuilds cheap.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkgconf ccache \
      libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev libssl-dev libtomlplusplus-dev \
      prometheus-cpp-dev libhiredis-dev libspdlog-dev libcli11-dev \
      libxxhash-dev libre2-dev libluajit2-5.1-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY CMakeLists.txt ./
COPY proxy/ proxy/
COPY backends/ backends/

# One Beast translation unit needs about 2 GB of memory: JOBS=1 on small builders.
ARG JOBS=2
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_BUILD_TESTS=OFF \
 && cmake --build build -j "${JOBS}" --target sluice \
 && strip build/bin/sluice \
 && build/bin/sluice --version

############################ runtime ############################
FROM debian:12-slim AS runtime

# Runtime halves of the build packages: the libraries sluice links (some are linked by
# features being added: prometheus-cpp, hiredis, LuaJIT, xxHash, Boost.JSON/URL).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates \
      libssl3 libtomlplusplus3 libre2-9 libspdlog1.10 libfmt9 \
      libprometheus-cpp-core1.0 libhiredis0.14 libluajit2-5.1-2 libxxhash0 \
      libboost-json1.81.0 libboost-url1.81.0 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sluice \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin sluice

COPY --from=build /src/build/bin/sluice /usr/local/bin/sluice
COPY docker/healthcheck.sh /usr/local/bin/sluice-healthcheck
COPY docker/sluice-reload.sh /usr/local/bin/sluice-reload
COPY docker/sluice/sluice.toml /etc/sluice/sluice.toml

# Fail the build here, not at run time, when a linked library is missing from the list above.
RUN if ldd /usr/local/bin/sluice | grep 'not found'; then exit 1; fi \
 && /usr/local/bin/sluice --version

LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="Sluice: programmable HTTP/1.1 reverse proxy and load balancer" \
      org.opencontainers.image.version="0.1.0"

USER 10001:10001
# 8080: the demo listener; 9901: the admin listener (/healthz /readyz /metrics /config).
EXPOSE 8080 9901
# SIGTERM drains (in-flight requests finish, /readyz answers 503) and exits 0 within
# [server].drain_timeout: give `docker stop` a longer timeout (compose: stop_grace_period).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/sluice-healthcheck", "127.0.0.1:9901", "/healthz"]
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["-c", "/etc/sluice/sluice.toml"]
