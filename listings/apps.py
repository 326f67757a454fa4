from django.apps import AppConfig


class ListingsConfig(AppConfig):
    name = "listings"

    def ready(self) -> None:
        from listings import subscribers  # noqa: F401  (retires a banned seller's cached pages)
