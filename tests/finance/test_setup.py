"""The settings pages (Finance ≥ 4) and their services: payment methods and sets, GL
accounts, module authorization levels; the Django admin link; the product's error pages."""

import logging

import pytest
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import URLPattern, get_resolver, reverse

from audit.models import AuditEvent
from core.context_processors import can_use_admin
from core.error_pages import ProductErrorPagesMiddleware
from core.models import Module, ModuleAuthorization
from core.services import LevelRefused, module_levels_set
from finance.models import GLAccount, PaymentMethod
from finance.services.setup import SettingRefused, gl_account_save, payment_method_save, payment_method_set_save

pytestmark = pytest.mark.django_db


def settings_urls(ledger, user) -> list[str]:
    resolver = get_resolver().namespace_dict["settings"][1]
    pks = {"method": ledger.cash_method.pk, "method_set": ledger.staff_set.pk, "account": ledger.cash.pk}
    pks["user"] = user.pk
    urls = []
    for pattern in resolver.url_patterns:
        assert isinstance(pattern, URLPattern)
        kwargs = {}
        if "pk" in pattern.pattern.converters:
            prefix = pattern.name.rsplit("_", 1)[0]
            kwargs["pk"] = pks[prefix]
        urls.append(reverse(f"settings:{pattern.name}", kwargs=kwargs))
    return urls


def test_settings_pages__clerk_refused_403__manager_served(client, ledger, staff_user, manager_user):
    urls = settings_urls(ledger, staff_user)
    assert len(urls) >= 10
    client.force_login(staff_user)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"You do not have access to this page" in response.content
        assert client.post(url).status_code == 403, url
    client.force_login(manager_user)
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_anonymous_is_sent_to_login(client, ledger, staff_user):
    for url in settings_urls(ledger, staff_user):
        assert client.get(url).status_code == 302


def test_module_levels_set__up_to_own_level__audited(manager_user, staff_user):
    changed = module_levels_set(user=staff_user, levels={Module.FINANCE: 4, Module.AR_CASH: 2}, by=manager_user)
    assert changed == {Module.FINANCE: 4}
    assert ModuleAuthorization.objects.get(user=staff_user, module=Module.FINANCE).level == 4
    event = AuditEvent.objects.get(object_repr="clerk Finance 4")
    assert event.action == "create"
    with pytest.raises(LevelRefused, match="you hold level 4"):
        module_levels_set(user=staff_user, levels={Module.FINANCE: 5}, by=manager_user)
    with pytest.raises(LevelRefused, match="you hold level 0"):
        module_levels_set(user=staff_user, levels={Module.MEMBERSHIP: 1}, by=manager_user)
    module_levels_set(user=staff_user, levels={Module.FINANCE: 0}, by=manager_user)
    assert not ModuleAuthorization.objects.filter(user=staff_user, module=Module.FINANCE).exists()


def test_module_levels_set__a_superusers_levels_only_by_a_superuser(django_user_model, manager_user):
    boss = django_user_model.objects.create_superuser("boss", password="pw-boss-12345")
    with pytest.raises(LevelRefused, match="superuser"):
        module_levels_set(user=boss, levels={Module.ORDERS: 1}, by=manager_user)


def test_payment_method_set_save__order_names_and_removal(ledger):
    visa = payment_method_save(code="visa", name="Visa", type=PaymentMethod.Type.CREDIT_CARD, cash_account=ledger.cash)
    assert visa.code == "VISA"
    payment_method_set_save(
        method_set=ledger.staff_set,
        name="Staff",
        description="Front desk",
        entries=[(visa, "Card"), (ledger.cash_method, "")],
    )
    entries = list(ledger.staff_set.ordered_entries())
    assert [(e.method.code, e.display_name, e.position) for e in entries] == [("VISA", "Card", 1), ("CASH", "", 2)]
    with pytest.raises(SettingRefused, match="at least one"):
        payment_method_set_save(method_set=ledger.staff_set, name="Staff", description="", entries=[])
    with pytest.raises(SettingRefused, match="once"):
        payment_method_set_save(
            method_set=ledger.staff_set, name="Staff", description="", entries=[(visa, ""), (visa, "")]
        )


def test_payment_method_save__cash_account_must_be_an_asset(ledger):
    with pytest.raises(SettingRefused, match="asset"):
        payment_method_save(method=ledger.cash_method, name="Cash", type="cash", cash_account=ledger.income)


def test_gl_account_save__an_account_in_use_stays_active__code_unique(ledger):
    with pytest.raises(SettingRefused, match="in use"):
        gl_account_save(account=ledger.cash, name="Cash", type="asset", role="cash", is_active=False)
    renamed = gl_account_save(account=ledger.cash, name="Operating cash", type="asset", role="cash")
    assert GLAccount.objects.get(pk=renamed.pk).name == "Operating cash"
    with pytest.raises(Exception, match="already exists"):
        gl_account_save(entity=ledger.entity, code=ledger.cash.code, name="Twin", type="asset", role="cash")


def test_manager_edits_a_set_through_the_page(client, ledger, manager_user):
    client.force_login(manager_user)
    url = reverse("settings:method_set_edit", kwargs={"pk": ledger.staff_set.pk})
    page = client.get(url)
    assert page.status_code == 200
    formset = page.context["formset"]
    data = {
        "set-name": "Staff",
        "set-description": "Desk",
        **{
            f"entries-{k}": v
            for k, v in {"TOTAL_FORMS": len(formset.forms), "INITIAL_FORMS": len(formset.forms)}.items()
        },
    }
    for i, form in enumerate(formset.forms):
        method = PaymentMethod.objects.get(pk=form.initial["method"])
        data[f"entries-{i}-method"] = method.pk
        data[f"entries-{i}-position"] = 1 if method.code == "CHECK" else 2
        data[f"entries-{i}-display_name"] = "Cheque" if method.code == "CHECK" else ""
        data[f"entries-{i}-offered"] = "on"
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["form"].errors
    assert [e.method.code for e in ledger.staff_set.ordered_entries()][0] == "CHECK"
    assert AuditEvent.objects.filter(actor_name="manager", object_repr="Cheque").exists()


def test_django_admin_link__only_for_users_with_something_to_do_there(client, django_user_model, staff_user):
    assert not can_use_admin(staff_user)
    client.force_login(staff_user)
    page = client.get(reverse("finance:dashboard")).content.decode()
    assert "Django admin" not in page
    assert 'href="/api/v1/docs"' in page
    staff_user.user_permissions.add(Permission.objects.get(codename="view_gatewayaccount"))
    staff_user = django_user_model.objects.get(pk=staff_user.pk)
    assert can_use_admin(staff_user)
    client.force_login(staff_user)
    assert "Django admin" in client.get(reverse("finance:dashboard")).content.decode()
    assert can_use_admin(django_user_model.objects.create_superuser("root", password="pw-root-12345"))


def test_debug_404_and_500_are_the_products_pages(client, settings, staff_user, caplog):
    settings.DEBUG = True
    settings.PRODUCT_ERROR_PAGES = True
    client.force_login(staff_user)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content and b"Django tried these URL patterns" not in response.content
    response = client.get(reverse("finance:invoice_detail", kwargs={"pk": 999999}))
    assert response.status_code == 404 and b"Page not found" in response.content

    settings.PRODUCT_ERROR_PAGES = False
    assert b"Django tried these URL patterns" in client.get("/no-such-page/").content


def test_debug_500_is_the_products_page_and_the_traceback_is_logged(settings, caplog):
    settings.DEBUG = True
    settings.PRODUCT_ERROR_PAGES = True
    request = RequestFactory().get("/boom/")
    middleware = ProductErrorPagesMiddleware(lambda r: None)
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        with caplog.at_level(logging.ERROR, logger="django.request"):
            response = middleware.process_exception(request, exc)
    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.content
    record = next(r for r in caplog.records if r.getMessage() == "Internal Server Error: /boom/")
    assert record.exc_info and record.exc_info[0] is RuntimeError
