from django.apps import AppConfig


class SandboxProcessorConfig(AppConfig):
    name = "sandboxes.processor"
    label = "sandbox_processor"
    verbose_name = "Sandbox payment processor"
