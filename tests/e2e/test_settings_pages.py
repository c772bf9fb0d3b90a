"""Finance settings in the staff UI, not only in the Django admin.

The finance manager (Finance 4) changes the Staff payment method set (adds a method,
renames and reorders what it offers) and a clerk's authorization level on the settings
pages; both changes are in the audit trail. The clerk has no "Django admin" in her menu
and is refused the settings pages with the product's 403 page; an unknown address shows
the product's 404 page with DEBUG on (PRODUCT_ERROR_PAGES, as in the demo).
"""

import pytest
from playwright.sync_api import expect

from audit.models import AuditEvent
from core.models import Module, ModuleAuthorization
from finance.models import PaymentMethod

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = (1400, 1024)


def sign_in(page, url, username, password):
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def shoot(page, screenshot, name):
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(f"{name}-{width}")
    page.set_viewport_size({"width": 1366, "height": 900})


def open_user_menu(page):
    page.get_by_test_id("current-user").click()
    return page.locator(".dropdown-menu-end")


def test_manager_edits_a_payment_method_set_and_a_users_level(
    browser_page, screenshot, live_server, ledger, manager_user, staff_user
):
    page = browser_page
    visa = PaymentMethod.objects.create(
        code="VISA", name="Visa card", type=PaymentMethod.Type.CREDIT_CARD, cash_account=ledger.cash_method.cash_account
    )
    sign_in(page, f"{live_server.url}/", "manager", "pw-manager-123")

    menu = open_user_menu(page)
    expect(menu.get_by_role("link", name="Settings")).to_be_visible()
    expect(menu.get_by_role("link", name="API documentation")).to_have_attribute("href", "/api/v1/docs")
    expect(menu.get_by_role("link", name="Django admin")).to_have_count(0)  # no admin permissions
    menu.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Payment methods")).to_be_visible()
    shoot(page, screenshot, "settings-payment-methods")

    page.get_by_test_id("settings-nav").get_by_role("link", name="Payment method sets").click()
    shoot(page, screenshot, "settings-payment-method-sets")
    page.get_by_role("link", name=ledger.staff_set.name, exact=True).click()
    entries = page.get_by_test_id("set-entries")
    entries.get_by_label("Offer VISA").check()
    entries.get_by_label("Position of VISA").fill("1")
    entries.get_by_label("Position of CASH").fill("2")
    entries.get_by_label("Name shown for VISA").fill("Card (Visa)")
    entries.get_by_label("Offer CHECK").uncheck()
    shoot(page, screenshot, "settings-payment-method-set-edit")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").filter(has_text="saved")).to_be_visible()

    staff_entries = list(ledger.staff_set.ordered_entries())
    assert [(e.method.code, e.display_name) for e in staff_entries][0] == ("VISA", "Card (Visa)")
    assert "CHECK" not in [e.method.code for e in staff_entries]
    by_manager = AuditEvent.objects.filter(actor_name="manager")
    assert by_manager.filter(action="create", object_repr="Card (Visa)").exists()
    assert by_manager.filter(action="delete").exists()  # CHECK's entry
    # The set's page shows its history.
    page.get_by_role("link", name=ledger.staff_set.name, exact=True).click()
    expect(page.get_by_test_id("audit-trail")).to_contain_text("manager")
    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="Settings").click()

    page.get_by_test_id("settings-nav").get_by_role("link", name="Users and levels").click()
    shoot(page, screenshot, "settings-users")
    page.get_by_role("link", name="clerk", exact=True).click()
    page.get_by_label("Finance").select_option("2")
    page.get_by_label("AR/Cash").select_option("3")
    shoot(page, screenshot, "settings-user-levels-edit")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").filter(has_text="Levels of clerk saved")).to_be_visible()
    levels = dict(ModuleAuthorization.objects.filter(user=staff_user).values_list("module", "level"))
    assert levels[Module.FINANCE] == 2 and levels[Module.AR_CASH] == 3
    assert AuditEvent.objects.filter(actor_name="manager", object_repr="clerk Finance 2").exists()

    # Above her own level (Finance 4) the manager is refused; nothing changes.
    page.get_by_role("link", name="clerk", exact=True).click()
    page.get_by_label("Finance").select_option("6")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").filter(has_text="you hold level 4")).to_be_visible()
    assert ModuleAuthorization.objects.get(user=staff_user, module=Module.FINANCE).level == 2
    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="Settings").click()
    page.get_by_test_id("settings-nav").get_by_role("link", name="GL accounts").click()
    shoot(page, screenshot, "settings-gl-accounts")
    page.get_by_role("link", name=ledger.cash.code, exact=True).click()
    page.get_by_label("Name").fill("Operating cash – main bank")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").filter(has_text="Operating cash – main bank saved")).to_be_visible()
    page.get_by_role("link", name=ledger.cash.code, exact=True).click()
    expect(page.get_by_test_id("audit-trail")).to_contain_text("Operating cash – main bank")
    shoot(page, screenshot, "settings-gl-account-edit")

    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="VISA", exact=True).click()
    expect(page.get_by_label("Code")).to_have_count(0)  # a method's code stays
    shoot(page, screenshot, "settings-payment-method-edit")
    page.get_by_label("Active").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").filter(has_text="Payment method VISA saved")).to_be_visible()
    visa.refresh_from_db()
    assert not visa.is_active


def test_clerk_sees_no_django_admin_nor_settings__403_and_404_are_the_products_pages(
    browser_page, screenshot, live_server, ledger, staff_user, settings
):
    settings.DEBUG = True
    settings.PRODUCT_ERROR_PAGES = True
    page = browser_page
    sign_in(page, f"{live_server.url}/", "clerk", "pw-clerk-123")
    menu = open_user_menu(page)
    expect(menu.get_by_role("link", name="API documentation")).to_be_visible()
    expect(menu.get_by_role("link", name="Django admin")).to_have_count(0)
    expect(menu.get_by_role("link", name="Settings")).to_have_count(0)

    for path in ("/settings/", "/settings/payment-method-sets/", f"/settings/users/{staff_user.pk}/"):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 403
        expect(page.get_by_role("heading", name="You do not have access to this page")).to_be_visible()
        expect(page.get_by_role("link", name="Back to the dashboard")).to_be_visible()
    shoot(page, screenshot, "error-403")

    response = page.goto(f"{live_server.url}/no-such-page/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_test_id("current-user")).to_be_visible()  # the product's header
    expect(page.get_by_text("Django tried these URL patterns")).to_have_count(0)
    shoot(page, screenshot, "error-404")
    page.get_by_role("link", name="Back to the start page").click()
    expect(page).to_have_url(f"{live_server.url}/")
    assert settings.DEBUG
