# One image for every process in the Procfile; docker-compose.yml picks the process with `command:`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The processes run as this unprivileged user. The code and collected static files stay owned
# by root, so a compromised process cannot rewrite them; nothing writes under /app at run time.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first, in their own layer: editing the source does not reinstall them.
COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt -c constraints.txt

COPY . .

# WhiteNoise serves STATIC_ROOT (/app/staticfiles). Settings refuse to load without a
# SECRET_KEY, so this one step gets a throwaway value that is not stored in the image.
RUN env SECRET_KEY=collectstatic-build-only-not-a-secret python manage.py collectstatic --noinput

USER app

EXPOSE 8000 5555

CMD ["bin/web"]
