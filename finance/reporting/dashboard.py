"""The morning dashboard: open AR, credits outstanding, today's receipts, unposted
batches, small charts, and the health tiles of the integrations (loaded after the page
by htmx, so a slow integration never holds the page up).

The integrations sit above the dashboard: each declares its tile on its app config
(``health_tiles``: title, module, function) and the dashboard lists what is installed.
"""

import importlib

from django.apps import apps
from django.http import Http404
from django.utils import timezone
from django.views.generic import TemplateView

from core.authorization import MANAGE_BATCH, has_level
from core.models import Module
from finance import selectors
from finance.models import Batch
from finance.reporting import selectors as report_selectors
from finance.views.base import FinanceAccessMixin


def health_sources() -> list[tuple[str, str, str]]:
    """(tile title, module, function) of each health tile, sorted by title: the
    ``health_tiles`` of the installed apps' configs. Each function returns a small dict
    of figures."""
    return sorted(tile for config in apps.get_app_configs() for tile in getattr(config, "health_tiles", ()))


def health_tile(title: str, module_path: str, function: str) -> dict:
    """The figures of one health source, or ``available=False`` while the integration
    does not provide its health function yet (the only place those errors are caught)."""
    try:
        source = getattr(importlib.import_module(module_path), function)
    except (ImportError, AttributeError):
        return {"title": title, "available": False, "figures": []}
    figures = source() or {}
    return {
        "title": title,
        "available": True,
        "figures": [(_label(key), _flat(value)) for key, value in figures.items()],
    }


def _label(key) -> str:
    return str(key).replace("_", " ").capitalize()


def _flat(value):
    """A nested dict of counts ({"not_synced": 30}) reads as "Not synced 30"."""
    if isinstance(value, dict):
        return ", ".join(f"{_label(k)} {v}" for k, v in value.items()) or None
    return value


def morning_figures(today, receipts, position) -> report_selectors.DashboardFigures:
    """The figures of ``selectors.dashboard_figures`` read from the receipts grid and
    the AR position the charts already need (open receivables = the aging total, open
    credits = the credit held, today's receipts = today's row of the grid)."""
    return report_selectors.DashboardFigures(
        open_receivables=[report_selectors.CurrencyAmount(r["currency"], r["total"]) for r in position if r["total"]],
        open_credits=[
            report_selectors.CurrencyAmount(r["currency"], r["credit_held"]) for r in position if r["credit_held"]
        ],
        receipts_today=report_selectors.receipts_of_day(receipts, today),
        receipts_today_count=receipts.day_count(today),
        unposted_batches=Batch.objects.filter(status__in=[Batch.Status.OPEN, Batch.Status.READY]).count(),
    )


class DashboardView(FinanceAccessMixin, TemplateView):
    template_name = "finance/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = timezone.localdate()
        receipts = report_selectors.receipts_last_days(today, days=14)
        position = report_selectors.ar_position(today)
        aging = [row for row in position if row["total"]]
        keys = [(key, label) for key, label, *_ in report_selectors.AGING_BUCKETS]
        receipts_chart = receipts.chart()
        aging_chart = {
            "labels": [label for _, label in keys],
            "series": [{"label": row["currency"], "data": [f"{row[k]:.2f}" for k, _ in keys]} for row in aging],
        }
        context.update(
            today=today,
            figures=morning_figures(today, receipts, position),
            unposted=selectors.recent_unposted_batches(),
            can_manage=has_level(self.request.user, *MANAGE_BATCH),
            can_view_reports=has_level(self.request.user, Module.FINANCE, 2),
            health=[{"title": title, "index": i} for i, (title, _, _) in enumerate(health_sources())],
            receipts_chart=receipts_chart,
            receipts_totals=[(cur, receipts.currency_total(cur)) for cur in receipts.currencies],
            aging_chart=aging_chart,
            aging=[(row["currency"], [(label, row[k]) for k, label in keys]) for row in aging],
        )
        return context


class HealthTileView(FinanceAccessMixin, TemplateView):
    """One integration's health tile (an htmx fragment of the dashboard)."""

    template_name = "reporting/_health_tile.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            source = health_sources()[self.kwargs["index"]]
        except IndexError as exc:
            raise Http404("No such health tile.") from exc
        context["tile"] = health_tile(*source)
        context["index"] = self.kwargs["index"]
        return context
