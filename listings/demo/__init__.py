"""Demo data: a believable marketplace, generated from word lists and bulk-loaded with COPY.

``seed_demo()`` builds a category tree with typed attribute schemas, buyers and sellers
(one shared password hash), listings whose attributes follow their category's merged
schema, placeholder photos and favorites. Everything random comes from one
``random.Random(seed)``, so a seed gives the same rows on every fresh database (timestamps
are relative to the time of the run).

- ``catalogue``: categories, schemas, word lists and odds;
- ``generator``: rows for users and listings (with their favorites);
- ``images``: placeholder photos (Pillow, default storage);
- ``loader``: the transaction, the COPY statements and the safety checks.
"""

from listings.demo.generator import DEMO_BUYER_EMAIL, DEMO_SELLER_EMAIL
from listings.demo.loader import DEMO_PASSWORD, DemoDataError, SeedReport, seed_demo

__all__ = [
    "DEMO_BUYER_EMAIL",
    "DEMO_PASSWORD",
    "DEMO_SELLER_EMAIL",
    "DemoDataError",
    "SeedReport",
    "seed_demo",
]
