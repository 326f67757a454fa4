from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"

    def ready(self) -> None:
        from reviews import subscribers  # noqa: F401  (review prompts, a banned reviewer's reviews)
