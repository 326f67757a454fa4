"""What happens to an offer, for the apps above (notifications). Each is called after commit
with the offer as committed."""

from marketplace.events import Hook

offer_made = Hook("offers.offer_made", "offer_made(offer): a buyer made an offer; the seller answers.")
offer_countered = Hook(
    "offers.offer_countered", "offer_countered(offer): the seller countered; the buyer answers."
)
offer_accepted = Hook(
    "offers.offer_accepted",
    "offer_accepted(offer): agreed at offer.agreed_cents; offer.transaction is the buyer's checkout.",
)
offer_declined = Hook(
    "offers.offer_declined",
    "offer_declined(offer, declined_by): declined by the party that had to answer (declined_by), "
    "or by the site because another offer on the listing was accepted (declined_by None).",
)
offer_expired = Hook("offers.offer_expired", "offer_expired(offer): nobody answered in time.")
offer_withdrawn = Hook("offers.offer_withdrawn", "offer_withdrawn(offer): the buyer took a live offer back.")
