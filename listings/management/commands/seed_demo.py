from django.core.management.base import BaseCommand, CommandError

from listings.demo import DEMO_BUYER_EMAIL, DEMO_PASSWORD, DEMO_SELLER_EMAIL, DemoDataError, seed_demo


def positive(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Load a believable demo marketplace (categories with attribute schemas, buyers and sellers, "
        "listings with photos, favorites) with COPY, in one transaction. Loads only into a database "
        "without listings; the same --seed gives the same data."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--listings", type=positive, default=200, help="Listings to create (default 200)."
        )
        parser.add_argument(
            "--users",
            type=positive,
            default=None,
            help="Users to create (default: as many as listings, 30 at least).",
        )
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing, successfully, when any listing exists."
        )
        parser.add_argument(
            "--no-images", action="store_true", help="Do not draw or attach placeholder photos."
        )

    def handle(self, *args, listings, users, seed, if_empty, no_images, verbosity, **options):
        try:
            report = seed_demo(
                listings=listings,
                users=users,
                seed=seed,
                images=not no_images,
                if_empty=if_empty,
                progress=verbosity >= 1,
            )
        except DemoDataError as error:
            raise CommandError(str(error)) from error
        if report is None:
            self.stdout.write("The database already has listings: no demo data loaded.")
            return
        for note in report.notes:
            self.stdout.write(self.style.WARNING(note))
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data (seed {report.seed}) loaded in {report.seconds:.1f} s: "
                f"{report.categories_created} new categories, {report.users:,} users "
                f"({report.sellers:,} sellers), {report.listings:,} listings, "
                f"{report.favorites:,} favorites, {report.images} new images."
            )
        )
        self.stdout.write(
            f"Log in as {DEMO_SELLER_EMAIL} (seller) or {DEMO_BUYER_EMAIL} (buyer), or as any demo user, "
            f"with the password: {DEMO_PASSWORD}"
        )
