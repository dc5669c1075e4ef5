# The procmine REST service: docker build -t procmine . && docker run -p 8000:8000 -v pmdata:/data procmine
FROM python:3.11-slim

# Graphviz draws the process maps.
RUN apt-get update \
    && apt-get install -y --no-install-recommends graphviz \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 procmine
WORKDIR /app
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY procmine ./procmine
COPY api ./api
# The versions the test suite ran with.
RUN pip install --no-cache-dir -c constraints.txt .

ENV PROCMINE_DATA_DIR=/data
RUN mkdir /data && chown procmine:procmine /data
VOLUME ["/data"]
USER procmine
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
# The same start command the service tests run (tests/api/api_helpers.py).
CMD ["procmine", "serve", "--host", "0.0.0.0", "--port", "8000"]
