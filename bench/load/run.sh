#!/usr/bin/env bash
# Load test on loopback: gunicorn (WORKERS sync workers) serving the scale data set,
# wrk with CONNECTIONS concurrent users for DURATION over the main pages and the API.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/pc_scale bench/load/run.sh
#
# Needs wrk (Debian: apt-get install wrk). Prints requests/second and p50/p95/p99, the CPU
# time per request of the gunicorn workers and the PostgreSQL backends (bench/load/cpu.py), and the
# load average of the machine before and after (the server and wrk share its cores).
#
# PROFILE=FILE also records the gunicorn workers with py-spy during the pages run
# (pip install py-spy; FILE.txt: collapsed stacks, one line per stack with its samples,
# as flamegraph tools read them; FILE ending in .svg: a flame graph).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${DATABASE_URL:?set DATABASE_URL to a database filled by generate_scale_data}"
WORKERS=${WORKERS:-4}
CONNECTIONS=${CONNECTIONS:-20}
DURATION=${DURATION:-30s}
PORT=${PORT:-8765}
PY=.venv/bin/python
export DJANGO_SETTINGS_MODULE=paycentral.settings DEBUG=False ALLOWED_HOSTS=127.0.0.1,localhost

read -r PC_SESSION PC_TOKEN PC_PATHS < <($PY - <<'PYEOF' 2>/dev/null
import os, django
django.setup()
from django.contrib.auth import get_user_model
from importlib import import_module
from django.conf import settings
from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
from finance.models import Batch, Contact, Invoice, Payment
from api.models import ApiToken
user, _ = get_user_model().objects.get_or_create(username="load-superuser", defaults={"is_staff": True, "is_superuser": True})
s = import_module(settings.SESSION_ENGINE).SessionStore()  # the engine in use
s[SESSION_KEY] = str(user.pk)
s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
s[HASH_SESSION_KEY] = user.get_session_auth_hash()
s.create()
_, key = ApiToken.issue(user=user, name="load test")
inv = Invoice.objects.order_by("-pk").first()
pay = Payment.objects.order_by("-pk").first()
contact = inv.bill_to
batch = Batch.objects.filter(status="posted").order_by("-pk").first()
paths = [
    "/", "/contacts/", f"/contacts/{contact.pk}/", "/invoices/", f"/invoices/{inv.pk}/", "/payments/",
    f"/payments/{pay.pk}/", "/batches/", f"/batches/{batch.pk}/",
    "/api/v1/invoices", f"/api/v1/invoices/{inv.number}", "/api/v1/contacts",
]
print(s.session_key, key, ",".join(paths))
PYEOF
)
export PC_SESSION PC_TOKEN PC_PATHS

$PY manage.py collectstatic --noinput -v0 2>/dev/null
.venv/bin/gunicorn paycentral.wsgi --workers "$WORKERS" --bind "127.0.0.1:$PORT" --log-level warning &
GUNICORN=$!
OUT=$(mktemp)
trap 'kill $GUNICORN 2>/dev/null; wait $GUNICORN 2>/dev/null || true; rm -f "$OUT"' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

echo "Paths: $PC_PATHS"
echo "gunicorn $WORKERS workers; wrk $CONNECTIONS connections for $DURATION"
# Baseline in the same run: the health check (no database, no template).
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "--- baseline: /healthz"
PC_PATHS=/healthz wrk -t2 -c"$CONNECTIONS" -d10s -s bench/load/pages.lua "http://127.0.0.1:$PORT" | tail -2
echo "--- pages and API"
if [ -n "${PROFILE:-}" ]; then
  FORMAT=raw
  case "$PROFILE" in *.svg) FORMAT=flamegraph ;; esac
  SECONDS_RUN=${DURATION%s}
  .venv/bin/py-spy record --pid "$GUNICORN" --subprocesses --rate 50 --nonblocking --format "$FORMAT" \
    --duration "$((SECONDS_RUN - 2))" --output "$PROFILE" >/dev/null 2>&1 &
  PYSPY=$!
fi
read -r WEB0 DB0 < <($PY bench/load/cpu.py "$GUNICORN")
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s bench/load/pages.lua "http://127.0.0.1:$PORT" | tail -2 | tee "$OUT"
read -r WEB1 DB1 < <($PY bench/load/cpu.py "$GUNICORN")
# CPU per request of the server side: it moves much less with other jobs than req/s does.
$PY - "$OUT" "$WEB0" "$WEB1" "$DB0" "$DB1" <<'PYEOF'
import re, sys
out, web0, web1, db0, db1 = sys.argv[1:]
n = int(re.search(r"requests: (\d+)", open(out).read()).group(1))
web = (float(web1) - float(web0)) * 1000 / n
db = "-" if "-" in (db0, db1) else f"{(float(db1) - float(db0)) * 1000 / n:.1f}"
print(f"CPU per request: web {web:.1f} ms + database {db} ms (gunicorn workers; PostgreSQL backends)")
PYEOF
if [ -n "${PYSPY:-}" ]; then wait "$PYSPY" || true; echo "py-spy profile: $PROFILE"; fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
