"""The one error type of the services, and the closed list of its codes."""

from enum import StrEnum


class ErrorCode(StrEnum):
    """Why a service refused. Views branch on these, never on message text.

    A ``StrEnum``: a code compares equal to its string (``ErrorCode.SOLD == "sold"``), so it can
    travel in JSON and form errors unchanged.
    """

    # Input
    INVALID = "invalid"
    INVALID_ATTRIBUTES = "invalid_attributes"
    INVALID_CATEGORY = "invalid_category"
    INCOMPLETE = "incomplete"
    UNCHANGED = "unchanged"
    UNIQUE = "unique"
    EMAIL_TAKEN = "email_taken"
    PHONE_INVALID = "phone_invalid"
    DISPLAY_NAME_INVALID = "display_name_invalid"
    PASSWORD_INCORRECT = "password_incorrect"  # noqa: S105 (an error code, not a password)
    # Links and tokens
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    # Who may act
    LOGIN_REQUIRED = "login_required"
    EMAIL_UNVERIFIED = "email_unverified"
    ACCOUNT_SUSPENDED = "account_suspended"
    ACCOUNT_BANNED = "account_banned"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    NOT_SELLER = "not_seller"
    OWN_ACCOUNT = "own_account"
    OWN_LISTING = "own_listing"
    RATE_LIMITED = "rate_limited"
    BLOCKED = "blocked"  # the other member blocked you (or you them): no new messages
    TOO_MANY_CHECKOUTS = "too_many_checkouts"
    COOLING_OFF = "cooling_off"
    # State
    INVALID_TRANSITION = "invalid_transition"
    NOT_EDITABLE = "not_editable"
    LOCKED = "locked"
    STALE = "stale"
    RESERVED = "reserved"
    SOLD = "sold"
    NOT_FIXED_PRICE = "not_fixed_price"
    NOT_NEGOTIABLE = "not_negotiable"  # offers: only on a negotiable listing
    OFFER_TOO_LOW = "offer_too_low"  # below the seller's (unseen) floor
    OFFER_CLOSED = "offer_closed"  # answered, withdrawn or expired meanwhile
    LIMIT_REACHED = "limit_reached"  # a count cap (saved searches per member)
    BELOW_MINIMUM_CHARGE = "below_minimum_charge"
    NOT_REVIEWABLE = "not_reviewable"  # the purchase is not completed, or was refunded in full
    ALREADY_REVIEWED = "already_reviewed"
    ALREADY_RESPONDED = "already_responded"
    ALREADY_FLAGGED = "already_flagged"
    ALREADY_REPORTED = "already_reported"  # a member reports a conversation once
    OWN_REVIEW = "own_review"  # an author may not flag their own review
    # Money
    AMOUNT_MISMATCH = "amount_mismatch"
    TOO_MUCH = "too_much"
    NOT_DUE = "not_due"
    NOT_CONNECTED = "not_connected"
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_REFUSED = "payment_refused"
    PAYMENT_UNAVAILABLE = "payment_unavailable"
    REVERSAL_REFUSED = "reversal_refused"  # the seller's payout could not be taken back
    # Files
    INVALID_IMAGE = "invalid_image"
    CORRUPT_IMAGE = "corrupt_image"
    EMPTY = "empty"
    FILE_TOO_LARGE = "file_too_large"
    TOO_MANY_PIXELS = "too_many_pixels"
    TOO_MANY_PHOTOS = "too_many_photos"
    PHOTO_NOT_FOUND = "photo_not_found"
    STORAGE_FAILED = "storage_failed"
    UNSUPPORTED_IMAGE = "unsupported_image"
    IMAGE_BUSY = "image_busy"  # no decode slot freed up in time: try again (429)
    # Members' data (privacy)
    ACCOUNT_DELETION_BLOCKED = "account_deletion_blocked"  # an order in progress or money owed


class ServiceError(Exception):
    """A business rule refused an action; ``message`` is safe to show to the user.

    ``code`` is one :class:`ErrorCode`; a string that names none raises ``ValueError``, so a
    typo fails where it is written instead of in a view's branch.
    """

    def __init__(self, message: str, *, code: ErrorCode):
        super().__init__(message)
        self.message = message
        self.code = ErrorCode(code)
