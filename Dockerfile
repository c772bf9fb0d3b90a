FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=paycentral.settings_production

WORKDIR /app
COPY pyproject.toml README.md ./
COPY paycentral ./paycentral
COPY core ./core
COPY processors ./processors
COPY finance ./finance
COPY checkout ./checkout
COPY api ./api
COPY integrations ./integrations
COPY audit ./audit
RUN pip install .
COPY . .
# collectstatic needs a key at build time only; the real one comes from the environment.
RUN SECRET_KEY=build-only-collectstatic-key python manage.py collectstatic --noinput

RUN useradd --create-home --uid 1000 paycentral && mkdir -p /app/var && chown -R paycentral /app/var
USER paycentral
EXPOSE 8000
CMD ["gunicorn", "paycentral.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
