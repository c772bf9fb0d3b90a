from celery.signals import task_postrun, task_prerun
from django.apps import AppConfig

from audit import context


class AuditConfig(AppConfig):
    name = "audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        # The trail is written by the database's triggers (audit.triggers); here only
        # who acts in jobs: each Celery task, or the management command.
        uid = "audit"
        task_prerun.connect(context.task_prerun, dispatch_uid=f"{uid}.task_prerun", weak=False)
        task_postrun.connect(context.task_postrun, dispatch_uid=f"{uid}.task_postrun", weak=False)
        context.use_command_actor()
