import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Upper

from marketplace.db import CreatedAtField, TriggerManagedFieldsMixin, UpdatedAtField, choices_check


def no_stars() -> list[int]:
    """An empty star distribution: no review of 1, 2, 3, 4 or 5 stars."""
    return [0, 0, 0, 0, 0]


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


# Shown for a member who gave no name; documented in the README ("Names on public pages").
PUBLIC_NAME_FALLBACK = "Marketplace member"
# Shown for a member who deleted their account (README "Your data").
DELETED_MEMBER_NAME = "Deleted member"


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    BANNED = "banned", "Banned"


class User(TriggerManagedFieldsMixin, AbstractBaseUser, PermissionsMixin):
    """One account for buying and selling; seller fields stay empty until ``is_seller``."""

    AccountStatus = AccountStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=255)
    email_verified_at = models.DateTimeField(null=True, blank=True)

    # Profile
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    avatar = models.ImageField(upload_to="avatars/%Y/%m/", max_length=255, blank=True)
    bio = models.TextField(blank=True)

    # Roles: a member may be buyer and seller; staff replaces the seed's is_admin.
    is_seller = models.BooleanField(default=False)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    # Seller
    seller_display_name = models.CharField(
        max_length=80,
        blank=True,
        db_default="",
        help_text="The name buyers see on the seller's listings and profile.",
    )
    seller_verified_at = models.DateTimeField(null=True, blank=True)
    stripe_connect_id = models.CharField(max_length=255, blank=True, null=True)
    total_sales_count = models.PositiveIntegerField(default=0)

    # Ratings, kept exact by the reviews trigger from sum and count (never rescanned).
    seller_rating = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    seller_rating_sum = models.BigIntegerField(default=0)
    seller_rating_count = models.IntegerField(default=0)
    buyer_rating = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    buyer_rating_sum = models.BigIntegerField(default=0)
    buyer_rating_count = models.IntegerField(default=0)
    # Detailed ratings (communication, item as described, delivery) and the star distribution,
    # kept by the same trigger from published, counting reviews; averages are sum / count.
    seller_communication_sum = models.BigIntegerField(default=0, db_default=0)
    seller_communication_count = models.IntegerField(default=0, db_default=0)
    seller_quality_sum = models.BigIntegerField(default=0, db_default=0)
    seller_quality_count = models.IntegerField(default=0, db_default=0)
    seller_delivery_sum = models.BigIntegerField(default=0, db_default=0)
    seller_delivery_count = models.IntegerField(default=0, db_default=0)
    # Counts of 1 to 5 stars (index 0 is one star), for the distribution chart.
    seller_rating_distribution = ArrayField(models.IntegerField(), size=5, default=no_stars)
    buyer_communication_sum = models.BigIntegerField(default=0, db_default=0)
    buyer_communication_count = models.IntegerField(default=0, db_default=0)
    buyer_quality_sum = models.BigIntegerField(default=0, db_default=0)
    buyer_quality_count = models.IntegerField(default=0, db_default=0)
    buyer_delivery_sum = models.BigIntegerField(default=0, db_default=0)
    buyer_delivery_count = models.IntegerField(default=0, db_default=0)
    buyer_rating_distribution = ArrayField(models.IntegerField(), size=5, default=no_stars)

    # Trust and safety
    phone_number = models.CharField(max_length=20, blank=True)
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    kyc_verified_at = models.DateTimeField(null=True, blank=True)
    # Set when the member deleted their account: the row stays (orders, ledger, messages and
    # reviews point at it), its personal data is anonymised (``services.user_anonymise``).
    deleted_at = models.DateTimeField(null=True, blank=True)
    account_status = models.CharField(
        max_length=20, choices=AccountStatus.choices, default=AccountStatus.ACTIVE
    )

    created_at = CreatedAtField()
    updated_at = UpdatedAtField()

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    trigger_managed_fields = (
        "seller_rating",
        "seller_rating_sum",
        "seller_rating_count",
        "buyer_rating",
        "buyer_rating_sum",
        "buyer_rating_count",
        "seller_communication_sum",
        "seller_communication_count",
        "seller_quality_sum",
        "seller_quality_count",
        "seller_delivery_sum",
        "seller_delivery_count",
        "buyer_communication_sum",
        "buyer_communication_count",
        "buyer_quality_sum",
        "buyer_quality_count",
        "buyer_delivery_sum",
        "buyer_delivery_count",
        "seller_rating_distribution",
        "buyer_rating_distribution",
        "total_sales_count",
        "updated_at",
        "created_at",
    )

    class Meta:
        permissions = [
            ("moderate_user", "Can suspend, ban and reinstate accounts"),
            ("verify_user", "Can grant and withdraw the seller-verified and KYC badges"),
        ]
        constraints = [
            # Case-insensitive: Upper() matches what email__iexact compiles to.
            models.UniqueConstraint(Upper("email"), name="accounts_user_email_ci_unique"),
            choices_check("account_status", AccountStatus, "accounts_user_account_status_valid"),
            models.CheckConstraint(
                condition=models.Q(seller_rating_sum__gte=0, seller_rating_count__gte=0)
                & models.Q(buyer_rating_sum__gte=0, buyer_rating_count__gte=0),
                name="accounts_user_rating_totals_non_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(seller_rating__isnull=True)
                | models.Q(seller_rating__gte=1, seller_rating__lte=5),
                name="accounts_user_seller_rating_range",
            ),
            models.CheckConstraint(
                condition=models.Q(buyer_rating__isnull=True)
                | models.Q(buyer_rating__gte=1, buyer_rating__lte=5),
                name="accounts_user_buyer_rating_range",
            ),
            models.UniqueConstraint(
                fields=["stripe_connect_id"],
                condition=models.Q(stripe_connect_id__isnull=False),
                name="accounts_user_stripe_connect_unique",
            ),
        ]
        indexes = [
            # The admin's user list, newest first (ORDER BY created_at DESC, id DESC LIMIT 100).
            models.Index(models.F("created_at").desc(), models.F("id").desc(), name="accounts_user_created"),
            models.Index(
                fields=["created_at"], condition=models.Q(is_seller=True), name="accounts_user_sellers"
            ),
            models.Index(
                fields=["account_status"],
                condition=~models.Q(account_status="active"),
                name="accounts_user_not_active",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email)

    @property
    def display_name(self) -> str:
        """The name other people see: the seller name, else the member's name, else
        ``PUBLIC_NAME_FALLBACK``. Never any part of the email address, which only its owner
        and staff may see (``__str__`` is the address: for the admin only, never a page)."""
        if self.deleted_at is not None:
            return DELETED_MEMBER_NAME
        if self.is_seller and self.seller_display_name:
            return self.seller_display_name
        full = f"{self.first_name} {self.last_name}".strip()
        return full or PUBLIC_NAME_FALLBACK

    def get_full_name(self) -> str:
        return self.display_name

    def get_short_name(self) -> str:
        return self.first_name or self.display_name


class AccountStatusChange(models.Model):
    """One moderation decision: who moved which account from what status to what, and why.

    Append-only (a trigger refuses UPDATE and DELETE): a correction is a new decision. Both
    foreign keys PROTECT, so an account with a moderation history cannot be deleted and
    take its record with it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by accounts_status_history.
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="status_changes", db_index=False)
    actor = models.ForeignKey(User, on_delete=models.PROTECT, related_name="status_changes_made")
    from_status = models.CharField(max_length=20, choices=AccountStatus.choices)
    to_status = models.CharField(max_length=20, choices=AccountStatus.choices)
    reason = models.TextField()
    created_at = CreatedAtField()

    class Meta:
        constraints = [
            choices_check("from_status", AccountStatus, "accounts_statuschange_from_status_valid"),
            choices_check("to_status", AccountStatus, "accounts_statuschange_to_status_valid"),
            models.CheckConstraint(
                condition=~models.Q(reason__regex=r"^\s*$"), name="accounts_statuschange_reason_required"
            ),
        ]
        indexes = [
            models.Index(models.F("user"), models.F("created_at").desc(), name="accounts_status_history"),
        ]

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status}"
