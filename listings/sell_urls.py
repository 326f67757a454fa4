"""The seller's side, under /sell/: onboarding, dashboard, listing editor, photos."""

from django.urls import path  # noqa: F401 - used by the sections below as they fill in

app_name = "sell"

urlpatterns = [
    # --- onboarding and dashboard ---
    # --- listing editor ---
    # --- photos ---
]
