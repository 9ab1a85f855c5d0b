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
ENTRYPOINT ["trialwatch"]
CMD ["run"]
