from django.core.management.base import BaseCommand

from listings.search.lexicon import lexicon_refresh


class Command(BaseCommand):
    help = (
        "Rebuild the spelling lexicon (the words of the searchable listings) that 'Did you mean' "
        "suggestions come from. Safe to run on a schedule and twice at once (one run skips)."
    )

    def handle(self, *args, **options):
        words = lexicon_refresh()
        if words is None:
            self.stdout.write("Another refresh of the search lexicon is running: nothing done.")
        else:
            self.stdout.write(f"Search lexicon refreshed: {words:,} words.")
