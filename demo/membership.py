"""Demo data of membership billing: three member types (one with chapter dues and the
salary survey as billing products), subscriptions of the demo people with paid-through dates
around today (a few lapsed, one member holding two active subscriptions), a posted
renewal run with some of its invoices paid, and a renewal run ready for review."""

from datetime import timedelta
from decimal import Decimal

from finance.membership.models import MemberType, MemberTypeProduct, Subscription
from finance.membership.renewals import renewal_run_build, renewal_run_post, renewal_run_start
from finance.models import Invoice, Product
from finance.services.batches import batch_create
from finance.services.payments import payment_receive

N_MEMBERS = 80


def _product(builder, code, name, price, income_code, kind):
    product, _ = Product.objects.get_or_create(
        code=code,
        defaults={
            "name": name,
            "category": "Membership",
            "kind": kind,
            "entity": builder.assn,
            "income_account": builder.accounts[("ASSN", income_code)],
            "price": Decimal(price),
        },
    )
    return product


def seed(builder) -> str:
    if MemberType.objects.exists():
        return "Membership: member types exist already"
    rng, today = builder.rng, builder.today
    chapter = _product(builder, "CHAP-DUES", "Chapter dues", "25.00", "4000-10", Product.Kind.DUES)
    journal = builder.products["PUB-SALARY"]  # the annual salary survey comes with individual and retired dues
    ind = MemberType.objects.create(
        code="IND", name="Individual member", fee_product=builder.products["DUES-IND"], description="Annual"
    )
    MemberTypeProduct.objects.create(member_type=ind, product=chapter, position=1)
    MemberTypeProduct.objects.create(member_type=ind, product=journal, position=2)
    stu = MemberType.objects.create(code="STU", name="Student member", fee_product=builder.products["DUES-STU"])
    ret = MemberType.objects.create(code="RET", name="Retired member", fee_product=builder.products["DUES-RET"])
    MemberTypeProduct.objects.create(member_type=ret, product=journal, position=1)

    # Members without open credit: the core demo's credits stay for the cart and refunds.
    with_credit = set(Invoice.objects.filter(balance__lt=0).values_list("bill_to_id", flat=True))
    people = [p for p in builder.active_people if p.pk not in with_credit]
    people = rng.sample(people, min(N_MEMBERS, len(people)))
    subs = []
    for i, person in enumerate(people):
        member_type = rng.choices([ind, stu, ret], weights=[6, 2, 2])[0]
        paid_through = today + timedelta(days=rng.randint(-150, 30) if i else 0)
        status = Subscription.Status.LAPSED if i % 25 == 7 else Subscription.Status.ACTIVE
        subs.append(
            Subscription(
                contact=person,
                member_type=member_type,
                status=status,
                term_months=12,
                join_date=paid_through - timedelta(days=365 * rng.randint(1, 8)),
                opening_paid_through=paid_through,
                paid_through=paid_through,
                renewed_through=paid_through,
            )
        )
    Subscription.objects.bulk_create(subs)
    # One member holds two active subscriptions: renewal runs skip them with the reason.
    twice = next(
        s
        for s in subs
        if s.status == "active" and s.member_type_id != stu.pk and abs((s.paid_through - today).days) <= 30
    )
    Subscription.objects.create(
        contact=twice.contact,
        member_type=stu,
        join_date=twice.join_date,
        opening_paid_through=twice.paid_through,
        paid_through=twice.paid_through,
        renewed_through=twice.paid_through,
    )

    posted_run = renewal_run_start(
        effective_date=today - timedelta(days=60),
        invoice_date=today - timedelta(days=75),
        paid_through_from=today - timedelta(days=150),
        paid_through_to=today - timedelta(days=61),
        user=builder.manager,
    )
    posted_run = renewal_run_post(run=renewal_run_build(run=posted_run), user=builder.manager)
    paid_batch = batch_create(date=today - timedelta(days=20), description="Dues payments", user=builder.clerk)
    paid = 0
    for item in posted_run.items.filter(skipped=False).select_related("invoice", "contact").order_by("pk"):
        if item.invoice.balance > 0 and rng.random() < 0.6:
            payment_receive(
                payer=item.contact,
                method=builder.methods["CHECK"],
                amount=item.invoice.balance,
                date=paid_batch.date,
                batch=paid_batch,
                reference=str(rng.randint(1000, 9999)),
                user=builder.clerk,
            )
            paid += 1
    ready_run = renewal_run_start(
        effective_date=today + timedelta(days=31),
        invoice_date=today,
        paid_through_from=today - timedelta(days=60),
        paid_through_to=today + timedelta(days=30),
        user=builder.manager,
    )
    ready_run = renewal_run_build(run=ready_run)
    return (
        f"Membership: 3 member types, {len(subs) + 1} subscriptions; renewal run {posted_run.pk} posted "
        f"({posted_run.member_count} invoices, {paid} paid), run {ready_run.pk} ready for review "
        f"({ready_run.member_count} members, {ready_run.skipped_count} skipped)"
    )
