# syntax=docker/dockerfile:1
# Reference backends image: sluice-items and sluice-echo in one slim image. Pick one with the
# command, e.g.
#   docker build -f docker/backends.Dockerfile -t sluice-backends:0.1.0 .   (repository root)
#   docker run --rm -p 9001:9001 sluice-backends:0.1.0 sluice-items --listen 0.0.0.0:9001 --name items-1
#   docker run --rm -p 9003:9003 -e HEALTHCHECK_ADDR=127.0.0.1:9003 sluice-backends:0.1.0 \
#     sluice-echo --listen 0.0.0.0:9003 --name echo-1

############################ build ############################
FROM debian:12 AS build

# The root CMakeLists.txt finds every dependency at configure time, so the build stage needs
# the same packages as the proxy's (tests/deploy checks they agree).
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

ARG JOBS=2
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_BUILD_TESTS=OFF \
 && cmake --build build -j "${JOBS}" --target sluice-items sluice-echo \
 && strip build/bin/sluice-items build/bin/sluice-echo

############################ runtime ############################
FROM debian:12-slim AS runtime

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libssl3 libboost-json1.81.0 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sluice \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin sluice

COPY --from=build /src/build/bin/sluice-items /src/build/bin/sluice-echo /usr/local/bin/
COPY docker/healthcheck.sh /usr/local/bin/sluice-healthcheck

RUN if ldd /usr/local/bin/sluice-items /usr/local/bin/sluice-echo | grep 'not found'; then exit 1; fi

LABEL org.opencontainers.image.title="sluice-backends" \
      org.opencontainers.image.description="Sluice reference backends: sluice-items and sluice-echo" \
      org.opencontainers.image.version="0.1.0"

USER 10001:10001
EXPOSE 9001 9003
# The health check asks HEALTHCHECK_ADDR (default: the items port); set it to 127.0.0.1:9003
# when the container runs sluice-echo.
ENV HEALTHCHECK_ADDR=127.0.0.1:9001
HEALTHCHECK --interval=10s --timeout=3s --start-period=3s --retries=3 \
  CMD ["/usr/local/bin/sluice-healthcheck"]
CMD ["sluice-items", "--listen", "0.0.0.0:9001", "--name", "items"]
