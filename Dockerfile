# Isnad's image: the same install steps as `make` on a Debian machine (the Debian packages of
# `make system-deps`, then the virtualenv with the pinned dependencies), one image for the
# web app, the scheduler and every worker (compose.yaml). Build: docker build -t isnad .
FROM debian:bookworm-slim

ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 PYTHONUNBUFFERED=1
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends make python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/isnad
# The Makefile first: the Debian packages (chromium, ffmpeg, fonts) are a layer of their own.
COPY Makefile ./
RUN make system-deps && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY archiver ./archiver
COPY crawlers ./crawlers
COPY scheduler ./scheduler
COPY isnad ./isnad
COPY config ./config
RUN make .venv/.installed && ln -s /opt/isnad/.venv/bin/isnad /usr/local/bin/isnad
# ReplayWeb.page for the web app's replay (its pinned npm package); npm is not kept.
COPY web-vendor/package.json web-vendor/package-lock.json ./web-vendor/
RUN make web-deps && apt-get purge -y -qq nodejs npm && apt-get autoremove -y -qq \
 && rm -rf /var/lib/apt/lists/* /root/.npm

# Not root: Chromium keeps its sandbox. The data folder (ISNAD_HOME) is a volume per worker.
RUN useradd --create-home --uid 10001 isnad && mkdir -p /data && chown isnad /data
USER isnad
ENV ISNAD_HOME=/data
VOLUME ["/data"]
ENTRYPOINT ["isnad"]
CMD ["worker"]
