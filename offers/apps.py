from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "offers"

    def ready(self) -> None:
        from offers import subscribers  # noqa: F401  (an accepted offer's checkout paid or lapsed)
