from django.core.management.base import BaseCommand, CommandError

from listings.attribute_check import attribute_mismatch_fix, attribute_mismatches


class Command(BaseCommand):
    help = (
        "List the listings whose details (attributes) do not match their category's schema, "
        "such as a number stored as text. With --fix, store the ones that have one unambiguous "
        "typed spelling; the others need an edit by a person. Exits non-zero while any remain."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="Store the fixable rows typed.")

    def handle(self, *args, fix, **options):
        found = fixed = 0
        left = []
        for mismatch in attribute_mismatches():
            found += 1
            where = f"{mismatch.listing_id} ({mismatch.slug}, {mismatch.category})"
            if fix and attribute_mismatch_fix(mismatch):
                fixed += 1
                self.stdout.write(f"Fixed {where}: {mismatch.stored} -> {mismatch.fixed}")
                continue
            left.append(mismatch)
            if mismatch.fixable:
                self.stdout.write(f"{where}: {mismatch.problem} --fix stores {mismatch.fixed}")
            else:
                self.stdout.write(f"{where}: {mismatch.problem} Needs an edit: {mismatch.stored}")
        if not found:
            self.stdout.write("Every listing's details match its category's schema.")
            return
        summary = f"{found} listing(s) did not match their category's schema"
        if fix:
            summary += f"; {fixed} fixed"
        if left:
            fixable = sum(1 for mismatch in left if mismatch.fixable)
            raise CommandError(
                f"{summary}; {len(left)} still do not ({fixable} fixable with --fix, "
                f"{len(left) - fixable} need an edit)."
            )
        self.stdout.write(summary + ".")
