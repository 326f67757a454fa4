"""Account pages under /accounts/, and public profiles under /users/<id>/.

Mounted with ``path("", include("accounts.urls"))`` so that both prefixes share the
``accounts`` namespace (two includes of one namespace cannot both be reversed).
"""

from django.urls import include, path

from accounts import views

app_name = "accounts"

account_patterns = [
    path("signup/", views.signup, name="signup"),
    path("signup/sent/", views.signup_done, name="signup_done"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("profile/", views.profile_edit, name="profile_edit"),
    path("email/", views.email_change, name="email_change"),
    path("email/change/<str:token>/", views.email_change_confirm, name="email_change_confirm"),
    path("email/verify/resend/", views.verify_email_resend, name="verify_email_resend"),
    path("email/verify/<str:token>/", views.verify_email, name="verify_email"),
    path("password/change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password/change/done/", views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password/reset/done/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]

urlpatterns = [
    path("accounts/", include(account_patterns)),
    path("users/<uuid:user_id>/", views.profile, name="profile"),
]
