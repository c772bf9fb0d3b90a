"""django-filter filter sets of invoice sync."""

import django_filters as filters

from finance.models import FinancialEntity, PaymentHandlingMode
from integrations.models import InvoiceSyncRecord, ProcessorStatus


class SyncRecordFilter(filters.FilterSet):
    invoice = filters.CharFilter(label="Invoice number", field_name="invoice__number", lookup_expr="iexact")
    processor_status = filters.ChoiceFilter(
        label="Processor status", choices=ProcessorStatus.choices, empty_label="Any status"
    )
    handling_mode = filters.ChoiceFilter(
        label="Handling mode", choices=PaymentHandlingMode.choices, empty_label="Any mode"
    )
    has_error = filters.ChoiceFilter(
        label="Error",
        choices=(("true", "With an error"), ("false", "Without error")),
        method="filter_error",
        empty_label="Any",
    )
    entity = filters.ModelChoiceFilter(
        queryset=FinancialEntity.objects.order_by("code"), empty_label="Any entity", label="Entity"
    )

    class Meta:
        model = InvoiceSyncRecord
        fields = ["invoice", "processor_status", "handling_mode", "has_error", "entity"]

    def filter_error(self, queryset, name, value):
        return queryset.filter(has_error=value == "true") if value in ("true", "false") else queryset
