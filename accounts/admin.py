from django.contrib import admin
from django.contrib.auth import admin as auth_admin

from accounts.forms import UserAdminChangeForm, UserAdminCreationForm
from accounts.models import User


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    form = UserAdminChangeForm
    add_form = UserAdminCreationForm

    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("first_name", "last_name", "avatar", "bio", "phone_number")}),
        ("Verification", {"fields": ("email_verified_at", "phone_verified_at", "kyc_verified_at")}),
        ("Seller", {"fields": ("is_seller", "seller_verified_at", "stripe_connect_id", "total_sales_count")}),
        (
            "Ratings (kept by the database)",
            {
                "fields": (
                    ("seller_rating", "seller_rating_sum", "seller_rating_count"),
                    ("buyer_rating", "buyer_rating_sum", "buyer_rating_count"),
                )
            },
        ),
        (
            "Permissions",
            {
                "fields": (
                    "account_status",
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Important dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
    )
    # Trigger-kept columns must never come back from a form. account_status changes through
    # the moderation services (a ban revokes sessions), stripe_connect_id through Connect
    # onboarding, last_login through login itself.
    readonly_fields = (
        *User.trigger_managed_fields,
        "account_status",
        "stripe_connect_id",
        "last_login",
    )

    list_display = (
        "email",
        "full_name",
        "is_seller",
        "account_status",
        "seller_rating",
        "buyer_rating",
        "total_sales_count",
        "is_staff",
        "created_at",
    )
    list_filter = (
        "account_status",
        "is_seller",
        "is_staff",
        "is_superuser",
        "is_active",
        ("email_verified_at", admin.EmptyFieldListFilter),
        ("kyc_verified_at", admin.EmptyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
        "groups",
    )
    search_fields = ("email", "first_name", "last_name", "=stripe_connect_id")
    search_help_text = "Part of the email address or name, or an exact Stripe Connect id."
    ordering = ("-created_at",)
    # A big table: no second COUNT of the whole table on every page, and no "Show counts",
    # which scans the table once per filter.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    @admin.display(description="Name", ordering="last_name")
    def full_name(self, obj: User) -> str:
        return f"{obj.first_name} {obj.last_name}".strip()
