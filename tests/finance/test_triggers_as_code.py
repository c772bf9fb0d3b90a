"""The database's triggers are the ones the models declare (``Meta.triggers``, installed
by the migrations pgtrigger writes): each expected trigger is there, with the declared
function, and nothing else is; and no session can switch one off."""

import re

import pgtrigger
import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from pgtrigger import core, installation, registry

from audit.models import AUDIT_TRIGGER_PROXIES, AuditEvent
from audit.triggers import AUDIT_EVENT_WRITE_BODY
from finance.membership.sql import REFRESH_SUBSCRIPTIONS_BODY
from finance.models import JournalLine
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = pytest.mark.django_db

# Every trigger the product keeps on its tables: (table, trigger name, declared on).
EXPECTED = {
    ("audit_auditevent", "audit_event_no_update_delete", "audit.AuditEvent"),
    ("finance_batch", "batch_posted_frozen", "finance.Batch"),
    ("finance_invoice", "batch_open_for_invoice", "finance.Invoice"),
    ("finance_payment", "batch_open_for_payment", "finance.Payment"),
    ("finance_journalentry", "batch_open_for_journal", "finance.JournalEntry"),
    ("finance_journalentry", "journal_entry_immutable", "finance.JournalEntry"),
    ("finance_journalline", "journal_line_immutable", "finance.JournalLine"),
    ("finance_journalline", "journal_line_queue_insert", "finance.JournalLine"),
    ("finance_journalline", "journal_line_queue_update", "finance.JournalLine"),
    ("finance_journalline", "journal_line_queue_delete", "finance.JournalLine"),
    ("finance_journal_check_pending", "journal_entry_balanced", "finance.JournalCheckPending"),
    ("finance_invoice", "reporting_contact_balance_insert", "reporting.InvoiceBalanceTriggers"),
    ("finance_invoice", "reporting_contact_balance_update", "reporting.InvoiceBalanceTriggers"),
    ("finance_invoice", "reporting_contact_balance_delete", "reporting.InvoiceBalanceTriggers"),
    ("finance_payment", "payment_receipts_insert", "finance.Payment"),
    ("finance_payment", "payment_receipts_update", "finance.Payment"),
    ("finance_payment", "payment_receipts_delete", "finance.Payment"),
    ("finance_invoice", "invoice_batch_figures_insert", "finance.Invoice"),
    ("finance_invoice", "invoice_batch_figures_update", "finance.Invoice"),
    ("finance_invoice", "invoice_batch_figures_delete", "finance.Invoice"),
    ("finance_paymentapplication", "membership_applications_written", "membership.PaymentApplicationDateTriggers"),
    ("finance_invoice", "membership_invoice_reversed", "membership.InvoiceDateTriggers"),
}
# The audit trail's: create, update and delete triggers on each audited table
# (audit.triggers.AUDITED says which).
AUDIT_TRIGGERS = {
    (proxy._meta.db_table, trigger.name, proxy._meta.label)
    for proxy in AUDIT_TRIGGER_PROXIES
    for trigger in proxy._meta.triggers
}
EXPECTED |= AUDIT_TRIGGERS
# The functions of the schema that no trigger declares: the services call the first
# too, every audit trigger calls the second.
PLAIN_FUNCTIONS = {"membership_refresh_subscriptions", "audit_event_write"}


def _installed_triggers():
    """(table, trigger name, function name, function body, function settings) of every
    trigger in the current schema that is not a foreign key's."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT c.relname, t.tgname, p.proname, p.prosrc, p.proconfig
              FROM pg_trigger t
              JOIN pg_class c ON c.oid = t.tgrelid
              JOIN pg_proc p ON p.oid = t.tgfoid
             WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace
             ORDER BY 1, 2
            """
        )
        return cur.fetchall()


def _declared_triggers():
    return [(model, trigger) for model, trigger in registry.registered()]


def test_the_database_has_exactly_the_declared_triggers_with_their_declared_functions():
    declared = _declared_triggers()
    assert sorted((m._meta.db_table, t.get_pgid(m), m._meta.label) for m, t in declared) == sorted(EXPECTED)

    installed = {(table, name): rest for table, name, *rest in _installed_triggers()}
    assert set(installed) == {(table, name) for table, name, _ in EXPECTED}
    with connection.cursor() as cur:
        cur.execute("SELECT current_schema()")
        (schema,) = cur.fetchone()
    for model, trigger in declared:
        function, body, config = installed[model._meta.db_table, trigger.get_pgid(model)]
        assert function == trigger.get_pgid(model)
        # The body PostgreSQL runs is the one the code declares (pgtrigger's own status
        # compares only a hash kept in the trigger's comment).
        declared_body = re.search(r"AS \$\$(.*?)\$\$ LANGUAGE plpgsql", trigger.compile(model).install_sql, re.S)
        assert body == declared_body.group(1), f"{function}() is not the declared body"
        assert config == [f"search_path={schema}, pg_temp"]
        assert trigger.get_installation_status(model) == (core.INSTALLED, True)
    assert installation.prunable() == []


def test_no_other_function_is_left_in_the_schema():
    """The hand-written trigger functions the declared ones replaced are gone; the plain
    function the membership triggers call is the one its module declares."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT p.proname, p.prosrc, p.proconfig FROM pg_proc p
             WHERE p.pronamespace = current_schema()::regnamespace
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
            """
        )
        functions = {name: (body, config) for name, body, config in cur.fetchall()}
        cur.execute("SELECT current_schema()")
        (schema,) = cur.fetchone()
    assert set(functions) == {name for _, name, _ in EXPECTED} | PLAIN_FUNCTIONS
    assert functions["membership_refresh_subscriptions"] == (
        REFRESH_SUBSCRIPTIONS_BODY,
        [f"search_path={schema}, pg_temp"],
    )
    assert functions["audit_event_write"] == (AUDIT_EVENT_WRITE_BODY, [f"search_path={schema}, pg_temp"])


def test_the_audited_tables_have_their_triggers():
    """A sample of what the trail's triggers cover: create/update/delete of settings,
    create and state changes of financial records, state changes only of imports."""
    assert {
        ("finance_invoice", "audit_invoice_insert"),
        ("finance_invoice", "audit_invoice_update"),
        ("finance_batch", "audit_batch_insert"),
        ("finance_batch", "audit_batch_update"),
        ("finance_payment", "audit_payment_insert"),
        ("finance_arimport", "audit_arimport_update"),
        ("paycentral_paymentmethod", "audit_paymentmethod_delete"),
        ("auth_user", "audit_user_update"),
    } <= {(table, name) for table, name, _ in AUDIT_TRIGGERS}
    assert not {name for _, name, _ in AUDIT_TRIGGERS} & {
        "audit_invoice_delete",
        "audit_arimport_insert",
        "audit_paymentapplication_insert",
    }


def test_pgtrigger_ls_lists_every_trigger_installed_and_enabled_and_nothing_to_prune(capsys):
    call_command("pgtrigger", "ls")
    lines = [re.sub(r"\x1b\[\d+m", "", line).split() for line in capsys.readouterr().out.splitlines()]
    expected = {f"{label}:{name}" for _, name, label in EXPECTED}
    assert sorted(uri for _, _, uri in lines) == sorted(expected)
    assert {(status, enabled) for status, enabled, _ in lines} == {("INSTALLED", "ENABLED")}


@pytest.mark.django_db(transaction=True)
def test_no_session_can_switch_a_guarantee_off(ledger):
    """pgtrigger's own functions skip their body for the triggers a session names in the
    ``pgtrigger.ignore`` setting, which any database user may set: these do not."""
    make_invoice(ledger, ContactFactory(), BatchFactory(), "100")
    line = JournalLine.objects.filter(debit__gt=0).first()
    event = AuditEvent.objects.create(
        actor_name="clerk",
        action=AuditEvent.Action.CREATE,
        content_type=ContentType.objects.get_for_model(JournalLine),
        object_id=str(line.pk),
        object_repr=str(line),
    )

    with pgtrigger.ignore(
        "finance.JournalLine:journal_line_immutable", "audit.AuditEvent:audit_event_no_update_delete"
    ):
        with pytest.raises(IntegrityError, match="belongs to posted entry"), transaction.atomic():
            JournalLine.objects.filter(pk=line.pk).update(description="changed")
        with pytest.raises(IntegrityError, match="the audit trail cannot be changed"), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).delete()

    with pytest.raises(IntegrityError, match="belongs to posted entry"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL pgtrigger.ignore = '{journal_line_immutable}'")
            cur.execute("DELETE FROM finance_journalline WHERE id = %s", [line.pk])
    assert JournalLine.objects.get(pk=line.pk).description == line.description
    assert AuditEvent.objects.filter(pk=event.pk).exists()
