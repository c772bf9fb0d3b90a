from django.utils import timezone
from django.views.generic import TemplateView

from finance import selectors
from finance.views.base import FinanceAccessMixin
from paycentral.authorization import MANAGE_BATCH, has_level


class DashboardView(FinanceAccessMixin, TemplateView):
    template_name = "finance/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = timezone.localdate()
        context.update(
            today=today,
            figures=selectors.dashboard_figures(today),
            unposted=selectors.recent_unposted_batches(),
            can_manage=has_level(self.request.user, *MANAGE_BATCH),
        )
        return context
