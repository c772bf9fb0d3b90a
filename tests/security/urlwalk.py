"""Walk every URL pattern of the project and build the objects their kwargs name.

``url_patterns()`` reads the resolver at run time (every namespace, nested includes,
the admin and the API), so a page added tomorrow is walked tomorrow. ``World`` turns a
pattern's kwargs into real values: a ``pk`` becomes one saved object of the model the
view or the route names, a ``<name>_pk`` one saved child of that object, a field name
(``party_id``, ``number``) that object's value. A kwarg nothing can explain raises
``UnknownKwarg`` naming the URL, so a new page cannot slip past the walk unexamined.
"""

import datetime
import itertools
import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.apps import apps
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

# Kwargs that are not rows of ours: plain values a request may carry.
PLAIN_VALUES = {
    "action": "start",  # an action slug; the access check comes before it is read
    "charge_id": "ch_missing",  # sandbox processor ids (its own store, not our tables)
    "refund_id": "re_missing",
    "invoice_id": "1",  # OpenWater invoice id on the sandbox OpenWater
    "url": "missing/",  # the admin's catch-all
    "index": 0,  # a dashboard tile's position
}
# Route words that do not spell the model they list.
ROUTE_ALIASES = {
    "orders": "checkout.Cart",
    "openwater": "openwater.Integration",
}
_counter = itertools.count(1)


class UnknownKwarg(Exception):
    pass


@dataclass
class Route:
    """One URL pattern: its full route text, namespaced name and view."""

    route: str
    name: str
    callback: object
    kwargs: list[str]
    pattern: object

    @property
    def view_class(self):
        return getattr(self.callback, "view_class", None)

    @property
    def is_admin(self) -> bool:
        return self.name.startswith("admin:") or self.route.startswith("admin/")

    def __str__(self):
        return f"{self.name} (/{self.route})"


def url_patterns() -> list[Route]:
    """Every URL pattern reachable from ROOT_URLCONF, with its namespaced name."""
    found = []

    def walk(patterns, prefix, namespace, regexes):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = ":".join(x for x in (namespace, p.namespace) if x)
                walk(p.url_patterns, prefix + str(p.pattern), ns, regexes + [p.pattern.regex])
            elif isinstance(p, URLPattern):
                name = ":".join(x for x in (namespace, p.name or f"<unnamed {p.pattern}>") if x)
                kwargs = []
                for regex in regexes + [p.pattern.regex]:
                    kwargs.extend(regex.groupindex)
                found.append(Route(prefix + str(p.pattern), name, p.callback, kwargs, p))

    walk(get_resolver().url_patterns, "", "", [])
    return found


def _norm(word: str) -> list[str]:
    word = re.sub(r"[^a-z]", "", word.lower())
    out = [word]
    if word.endswith("es"):
        out.append(word[:-2])
    if word.endswith("s"):
        out.append(word[:-1])
    return out


def _model_named(word: str, route_words=(), view_app: str | None = None):
    """The model a route word names: its exact name ("contacts" → Contact), else the one
    model whose name starts or ends with it ("runs" → RenewalRun, "invoice-sync" →
    InvoiceSyncRecord), looking first in the view's own app, then in an app the route
    names ("membership/runs/..."), then anywhere."""
    if "." in word:
        return apps.get_model(word)
    candidates = [c for c in _norm(word) if len(c) >= 3]
    every = apps.get_models()
    exact = [m for m in every if m._meta.model_name in candidates]
    near = [
        m for m in every if any(m._meta.model_name.endswith(c) or m._meta.model_name.startswith(c) for c in candidates)
    ]
    groups = [
        [m for m in exact if m._meta.app_label == view_app],
        [m for m in near if m._meta.app_label == view_app],
        exact,
        [m for m in near if m._meta.app_label in route_words],
        near,
    ]
    for group in groups:
        group = sorted(group, key=lambda m: len(m._meta.model_name))
        if len(group) == 1 or (group and len(group[0]._meta.model_name) < len(group[1]._meta.model_name)):
            return group[0]
    return None


def _app_of(view) -> str | None:
    """The label of the app whose package holds ``view`` (the longest match)."""
    if view is None:
        return None
    module = view.__module__
    owners = [a for a in apps.get_app_configs() if module == a.name or module.startswith(a.name + ".")]
    return max(owners, key=lambda a: len(a.name)).label if owners else None


@dataclass
class World:
    """Saved objects of the models that URL kwargs point to, made on demand."""

    make_ledger: object  # called once, when a row first needs the chart of accounts
    user: object
    objects: dict = field(default_factory=dict)
    _ledger: object = None

    @property
    def ledger(self):
        if self._ledger is None:
            self._ledger = self.make_ledger()
        return self._ledger

    # --- which model a kwarg means -------------------------------------------------

    def model_for_pk(self, route: Route):
        view = route.view_class
        model = getattr(view, "model", None) if view else None
        if model is None and view is not None and getattr(view, "queryset", None) is not None:
            model = view.queryset.model
        if model is not None:
            return model
        segments = [s for s in route.route.split("/") if s and "<" not in s]
        # The segment right before <pk> names the model ("contacts/<int:pk>/").
        before = route.route.split("<")[0].strip("/").split("/")
        for word in reversed(before):
            target = ROUTE_ALIASES.get(word) or word
            model = _model_named(target, before, _app_of(view))
            if model is not None:
                return model
        raise UnknownKwarg(f"{route}: cannot tell which model 'pk' means (route words {segments}); add a route alias")

    def child_model(self, parent_model, name: str):
        """The model of ``<name>_pk`` under a ``parent_model`` page: a reverse relation of
        the parent named like ``name`` ("lines" → CartLine, "programs" → ProgramMapping)."""
        for rel in parent_model._meta.related_objects:
            accessor = rel.get_accessor_name() or ""
            if name in _norm(accessor) or rel.related_model._meta.model_name.endswith(name):
                return rel.related_model, rel.field.name
        return None, None

    # --- values -------------------------------------------------------------------

    def kwargs_for(self, route: Route, public: bool = False) -> dict:
        """The kwargs of ``route``. Under a public prefix (the API, the sandboxes, the
        webhooks) a kwarg that names no row of ours gets a placeholder: those endpoints
        must refuse a caller without credentials before they read it."""
        values: dict = {}
        parent = None
        converters = getattr(route.pattern.pattern, "converters", {})
        for name in route.kwargs:
            if route.is_admin:
                values[name] = self._admin_value(route, name)
                continue
            if name == "pk":
                model = self.model_for_pk(route)
                parent = self.get(model)
                values[name] = parent.pk
            elif name.endswith("_pk"):
                base = name[:-3]
                if parent is None:
                    model = _model_named(base)
                    if model is None:
                        raise UnknownKwarg(f"{route}: no model named {base!r} for kwarg {name!r}")
                    values[name] = self.get(model).pk
                    continue
                model, fk = self.child_model(type(parent), base)
                if model is None:
                    raise UnknownKwarg(f"{route}: {type(parent).__name__} has no related {base!r} for kwarg {name!r}")
                values[name] = self.get(model, **{fk: parent}).pk
            elif name in PLAIN_VALUES:
                values[name] = PLAIN_VALUES[name]
            elif name.endswith("_id") and _model_named(name[:-3]) is not None and name != "party_id":
                values[name] = self.get(_model_named(name[:-3])).pk
            else:
                try:
                    model = self._model_with_unique_field(route, name)
                except UnknownKwarg:
                    if not public:
                        raise
                    values[name] = "1"
                    continue
                values[name] = getattr(self.get(model), name)
            if name in converters and not isinstance(values[name], str):
                values[name] = converters[name].to_url(values[name])
        return values

    def _model_with_unique_field(self, route: Route, name: str):
        before = route.route.split("<")[0].strip("/").split("/")
        for word in reversed(before):
            model = _model_named(ROUTE_ALIASES.get(word) or word)
            if model is not None and any(f.name == name for f in model._meta.concrete_fields):
                return model
        for model in apps.get_models():
            for f in model._meta.concrete_fields:
                if f.name == name and f.unique:
                    return model
        raise UnknownKwarg(f"{route}: no model and no plain value for kwarg {name!r}; teach tests/security/urlwalk.py")

    def _admin_value(self, route: Route, name: str):
        if name == "app_label":
            # The admin's app list route is a regex of the registered app labels.
            match = re.search(r"\(\?P<app_label>([^)]*)\)", route.pattern.pattern.regex.pattern)
            return match.group(1).split("|")[0] if match else "auth"
        if name in ("object_id", "content_type_id", "user_id", "id"):
            return "1"
        if name in PLAIN_VALUES:
            return PLAIN_VALUES[name]
        raise UnknownKwarg(f"{route}: unknown admin kwarg {name!r}")

    # --- objects -------------------------------------------------------------------

    def get(self, model, **parent):
        key = (model, tuple(sorted((k, v.pk) for k, v in parent.items())))
        if key not in self.objects:
            try:
                self.objects[key] = self.build(model, **parent)
            except UnknownKwarg:
                raise
            except Exception as exc:  # the message names the model that could not be built
                raise UnknownKwarg(f"could not build a {model._meta.label} for the walk: {exc!r}") from exc
        return self.objects[key]

    def build(self, model, **parent):
        from checkout.models import Cart, CartLine
        from checkout.services.cart import cart_add_product, cart_start
        from finance.models import Batch, Contact, Invoice, Payment
        from finance.services.payments import payment_receive
        from integrations.openwater.models import InvoiceSync
        from tests.factories import BatchFactory, ContactFactory
        from tests.finance.helpers import make_invoice

        ledger = self.ledger
        if model is Contact:
            return ContactFactory()
        if model is Batch:
            return BatchFactory()
        if model is Invoice:
            return make_invoice(ledger, self.get(Contact), self.get(Batch), "100.00")
        if model is Payment:
            invoice = self.get(Invoice)
            return payment_receive(
                payer=invoice.bill_to,
                method=ledger.check_method,
                amount=Decimal("40.00"),
                batch=invoice.batch,
                date=invoice.date,
                reference="walk-1",
            )
        if model is Cart:
            return cart_start(user=self.user, contact=self.get(Contact))
        if model is CartLine:
            cart = parent.get("cart") or self.get(Cart)
            return cart_add_product(cart=cart, product=ledger.dues)
        if model is InvoiceSync:  # an OpenWater invoice in error: what the Hub's actions act on
            return self.autofill(model, status=InvoiceSync.Status.ERROR, **parent)
        return self.autofill(model, **parent)

    def autofill(self, model, **given):
        """One row of ``model`` with every required field filled with a plain value
        (a singleton with a ``load()`` gives its one row)."""
        if callable(getattr(model, "load", None)) and not given:
            return model.load()
        values = dict(given)
        for f in model._meta.concrete_fields:
            if f.name in values or f.primary_key or f.has_default() or f.null or getattr(f, "auto_now", False):
                continue
            if getattr(f, "auto_now_add", False):
                continue
            values[f.name] = self._value_for(f)
        # Building the related rows may have made this one already (an invoice's sync
        # record comes with the invoice): use it rather than a second one.
        existing = model.objects.filter(**given).order_by("pk").first()
        return existing or model.objects.create(**values)

    def _value_for(self, f):
        from finance.models import FinancialEntity

        n = next(_counter)
        if f.is_relation:
            related = f.related_model
            if related is FinancialEntity:
                return self.ledger.entity
            if related is type(self.user):
                return self.user
            return self.get(related)
        if f.choices:
            return f.choices[0][0]
        if isinstance(f, models.URLField):
            return "https://example.org/"
        if isinstance(f, models.EmailField):
            return f"walk{n}@example.org"
        if isinstance(f, models.FileField):
            return ""
        if isinstance(f, models.CharField | models.TextField):
            return f"walk-{n}"[: f.max_length or 100]
        if isinstance(f, models.BooleanField):
            return False
        if isinstance(f, models.DecimalField):
            return Decimal("1.00")
        if isinstance(f, models.IntegerField):
            return n
        if isinstance(f, models.DateTimeField):
            return timezone.now()
        if isinstance(f, models.DateField):
            return datetime.date.today()
        if isinstance(f, models.JSONField):
            return {}
        raise UnknownKwarg(f"cannot fill {f.model._meta.label}.{f.name} ({type(f).__name__})")
