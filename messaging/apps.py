from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self) -> None:
        from messaging import subscribers  # noqa: F401  (primes the unread badge at log-in)
