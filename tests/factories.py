"""factory-boy factories for the finance and paycentral models."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

import factory

from finance.models import (
    Batch,
    Contact,
    FinancialEntity,
    GLAccount,
    PaymentMethod,
    PaymentMethodSet,
    PaymentMethodSetEntry,
    Product,
)


class EntityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FinancialEntity
        django_get_or_create = ("code",)

    code = "ASSN"
    name = "Association"
    currency = "USD"


class GLAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GLAccount
        django_get_or_create = ("entity", "code")

    entity = factory.SubFactory(EntityFactory)
    code = factory.Sequence(lambda n: f"9{n:03d}-00")
    name = factory.LazyAttribute(lambda o: f"Account {o.code}")
    type = GLAccount.Type.INCOME
    role = GLAccount.Role.INCOME


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    party_id = factory.Sequence(lambda n: str(10000 + n))
    name = factory.Faker("name")
    sort_name = factory.LazyAttribute(lambda o: o.name.split()[-1] + ", " + o.name.split()[0])
    kind = Contact.Kind.INDIVIDUAL
    email = factory.Faker("email")


class CompanyFactory(ContactFactory):
    name = factory.Faker("company")
    sort_name = factory.LazyAttribute(lambda o: o.name)
    kind = Contact.Kind.ORGANIZATION


class BatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Batch

    number = factory.Sequence(lambda n: f"B{n:05d}")
    description = "Test batch"
    date = factory.LazyFunction(lambda: datetime.date(2026, 1, 15))


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    code = factory.Sequence(lambda n: f"PROD{n}")
    name = factory.LazyAttribute(lambda o: f"Product {o.code}")
    entity = factory.SubFactory(EntityFactory)
    income_account = factory.SubFactory(GLAccountFactory, entity=factory.SelfAttribute("..entity"))
    price = Decimal("100.00")


class PaymentMethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentMethod
        django_get_or_create = ("code",)

    code = "CASH"
    name = "Cash"
    type = PaymentMethod.Type.CASH


@dataclass
class LedgerSetup:
    """A ready chart: entity, the role accounts, two products and CASH/CHECK methods."""

    entity: FinancialEntity
    cash: GLAccount
    ar: GLAccount
    income: GLAccount
    deferred: GLAccount
    unapplied: GLAccount
    refund_clearing: GLAccount
    dues: Product
    event: Product
    cash_method: PaymentMethod
    check_method: PaymentMethod
    staff_set: PaymentMethodSet

    @classmethod
    def build(cls, code="ASSN") -> "LedgerSetup":
        entity = EntityFactory(code=code, name=f"{code} entity")

        def acct(c, name, type_, role):
            return GLAccountFactory(entity=entity, code=c, name=name, type=type_, role=role)

        cash = acct("1000-00", "Operating cash", GLAccount.Type.ASSET, GLAccount.Role.CASH)
        ar = acct("1200-00", "Accounts receivable", GLAccount.Type.ASSET, GLAccount.Role.AR)
        unapplied = acct("2100-00", "Unapplied cash", GLAccount.Type.LIABILITY, GLAccount.Role.UNAPPLIED_CASH)
        deferred = acct("2400-00", "Deferred dues", GLAccount.Type.LIABILITY, GLAccount.Role.DEFERRED_INCOME)
        refund = acct("2150-00", "Refund clearing", GLAccount.Type.LIABILITY, GLAccount.Role.REFUND_CLEARING)
        income = acct("4000-10", "Dues income", GLAccount.Type.INCOME, GLAccount.Role.INCOME)
        event_income = acct("4100-10", "Event income", GLAccount.Type.INCOME, GLAccount.Role.INCOME)
        dues = ProductFactory(
            code=f"{code}-DUES",
            name="Annual dues",
            entity=entity,
            income_account=income,
            deferred_income_account=deferred,
            price=Decimal("250.00"),
            kind=Product.Kind.DUES,
        )
        event = ProductFactory(
            code=f"{code}-CONF",
            name="Conference",
            entity=entity,
            income_account=event_income,
            price=Decimal("400.00"),
            kind=Product.Kind.EVENT,
        )
        cash_method = PaymentMethodFactory(code="CASH", name="Cash", type=PaymentMethod.Type.CASH, cash_account=cash)
        check_method = PaymentMethodFactory(
            code="CHECK", name="Check", type=PaymentMethod.Type.CHECK, cash_account=cash
        )
        staff_set, _ = PaymentMethodSet.objects.get_or_create(name="Staff")
        for pos, m in enumerate((cash_method, check_method)):
            PaymentMethodSetEntry.objects.get_or_create(method_set=staff_set, method=m, defaults={"position": pos})
        return cls(
            entity, cash, ar, income, deferred, unapplied, refund, dues, event, cash_method, check_method, staff_set
        )
