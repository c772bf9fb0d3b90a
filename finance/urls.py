"""Staff UI routes of the ledger (mounted by the project at the site root, in the
``finance`` URL namespace it shares with the AR import's pages and the dashboard)."""

from django.urls import path

from core.authorization import MANAGE_BATCH, POST_BATCH
from finance.models import Batch
from finance.views import adjust, batches, contacts, entry, invoices, payments, search

urlpatterns = [
    path("search/", search.SearchView.as_view(), name="search"),
    path("search/suggest/", search.SearchSuggestView.as_view(), name="search_suggest"),
    path("contacts/", contacts.ContactListView.as_view(), name="contact_list"),
    path("contacts/find/", search.ContactFindView.as_view(), name="contact_find"),
    path("contacts/<int:pk>/", contacts.ContactDetailView.as_view(), name="contact_detail"),
    path(
        "contacts/<int:pk>/transactions/",
        contacts.ContactDetailView.as_view(tab="transactions"),
        name="contact_transactions",
    ),
    path("invoices/", invoices.InvoiceListView.as_view(), name="invoice_list"),
    path("invoices/new/", entry.InvoiceEntryView.as_view(), name="invoice_new"),
    path("invoices/<int:pk>/", invoices.InvoiceDetailView.as_view(), name="invoice_detail"),
    path("payments/", payments.PaymentListView.as_view(), name="payment_list"),
    path("payments/new/", entry.PaymentEntryView.as_view(), name="payment_new"),
    path("payments/<int:pk>/", payments.PaymentDetailView.as_view(), name="payment_detail"),
    path("payments/<int:pk>/reverse/", payments.PaymentReverseView.as_view(), name="payment_reverse"),
    path("payments/<int:pk>/unapply/", adjust.PaymentUnapplyView.as_view(), name="payment_unapply"),
    path("payments/<int:pk>/refund/", adjust.PaymentRefundView.as_view(), name="payment_refund"),
    path("invoices/<int:pk>/reverse/", adjust.InvoiceReverseView.as_view(), name="invoice_reverse"),
    path("batches/", batches.BatchListView.as_view(), name="batch_list"),
    path("batches/new/", batches.BatchCreateView.as_view(), name="batch_create"),
    path("batches/current/", batches.CurrentBatchSetView.as_view(), name="current_batch_set"),
    path("batches/current/choices/", batches.CurrentBatchChoicesView.as_view(), name="current_batch_choices"),
    path("batches/<int:pk>/", batches.BatchDetailView.as_view(), name="batch_detail"),
    path("batches/<int:pk>/controls/", batches.BatchControlsView.as_view(), name="batch_controls"),
    path(
        "batches/<int:pk>/ready/",
        batches.BatchTransitionView.as_view(to_status=Batch.Status.READY),
        name="batch_ready",
    ),
    path(
        "batches/<int:pk>/reopen/",
        batches.BatchTransitionView.as_view(to_status=Batch.Status.OPEN, done_message="Batch {number} is open again."),
        name="batch_reopen",
    ),
    path(
        "batches/<int:pk>/post/",
        batches.BatchTransitionView.as_view(
            to_status=Batch.Status.POSTED, action_level=POST_BATCH, done_message="Batch {number} is posted."
        ),
        name="batch_post",
    ),
    path(
        "batches/<int:pk>/delete/",
        batches.BatchTransitionView.as_view(
            to_status=Batch.Status.DELETED, action_level=MANAGE_BATCH, done_message="Batch {number} is deleted."
        ),
        name="batch_delete",
    ),
]
