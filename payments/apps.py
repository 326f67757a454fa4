from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        from payments import subscribers  # noqa: F401  (connects the purchase emails to the hooks)
