# The gateway image: Python 3.11, the pinned dependencies, the code and the admin UI.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 PORT=8080 DATA_DIR=/data
WORKDIR /app

COPY pyproject.toml constraints.txt ./
COPY proxy ./proxy
COPY db ./db
COPY core ./core
RUN pip install -c constraints.txt .
COPY migrations ./migrations
COPY admin-ui ./admin-ui

RUN useradd --system --home /data kaixu && mkdir -p /data && chown kaixu /data
USER kaixu
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request,os; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8080'), timeout=2)"
# Applies pending migrations (under a lock), then serves.
CMD ["python", "-m", "proxy", "serve"]
