FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates ./templates
COPY config ./config
RUN pip install --no-cache-dir . && useradd --create-home trialwatch
USER trialwatch
ENV TRIALWATCH_CONFIG=/app/config/trialwatch.toml \
    PYTHONUNBUFFERED=1
# `trialwatch serve --host 0.0.0.0` (the web service of docker-compose.yml) listens here.
EXPOSE 8000
ENTRYPOINT ["trialwatch"]
CMD ["run"]
