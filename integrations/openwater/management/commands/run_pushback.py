"""run_pushback [--integration NAME] [--once]: the OpenWater pushback from the shell."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from integrations.openwater.models import Integration
from integrations.openwater.pushback import RunBusy, integrations_due, run_pushback


class Command(BaseCommand):
    help = (
        "Pull paid OpenWater invoices into Pay Central. With --once: one run of each "
        "integration (or of --integration NAME, started or not) and exit. Without it: "
        "keep running each started integration when its interval has passed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--integration", metavar="NAME", help="only this integration (by name)")
        parser.add_argument("--once", action="store_true", help="one run, then exit")

    def handle(self, *args, integration=None, once=False, **options):
        if integration:
            found = Integration.objects.filter(name=integration).first()
            if found is None:
                raise CommandError(f"No OpenWater integration is named {integration!r}.")
            if not found.is_initialized:
                raise CommandError(f"Integration {found.name} is not initialized; initialize it first.")
            chosen = [found.pk]
        else:
            chosen = None
        failed = False
        while True:
            if once:
                qs = Integration.objects.filter(initialized_at__isnull=False)
                ids = chosen or list(qs.filter(is_started=True).order_by("pk").values_list("pk", flat=True))
            else:
                qs = integrations_due(timezone.now())
                ids = [pk for pk in qs.order_by("pk").values_list("pk", flat=True) if chosen is None or pk in chosen]
            for pk in ids:
                failed |= self.run_one(pk)
            if once:
                break
            time.sleep(30)
        if failed:
            raise CommandError("A run failed; see the messages above.")

    def run_one(self, pk: int) -> bool:
        name = Integration.objects.get(pk=pk).name
        result = run_pushback(pk)
        if isinstance(result, RunBusy):
            self.stdout.write(f"{name}: {result.message}; left alone.")
            return False
        line = (
            f"{name}: run {result.pk} {result.status}: {result.seen} seen, {result.pushed} pushed, "
            f"{result.skipped} skipped, {result.refunds} refunds, {result.errors} errors"
        )
        if result.message:
            line += f" ({result.message})"
        self.stdout.write(line)
        return result.status == "failed"
