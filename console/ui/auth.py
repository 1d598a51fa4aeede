"""Login and logout with Django's session auth (CSRF stays on)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views


class ConsoleLoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True


class ConsoleLogoutView(auth_views.LogoutView):
    """POST only (Django 5), so a link or prefetch cannot log anyone out."""
