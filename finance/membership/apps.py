from django.apps import AppConfig


class MembershipConfig(AppConfig):
    name = "finance.membership"
    label = "membership"
    verbose_name = "Membership billing"
