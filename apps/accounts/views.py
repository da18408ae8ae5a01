from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apps.accounts.forms import LoginForm, RegisterForm


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


@require_http_methods(["GET", "POST"])
def register(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="apps.accounts.backends.EmailBackend")
        return redirect("home")
    return render(
        request, "accounts/register.html", {"form": form}, status=400 if form.errors else 200
    )


def home(request):
    """The landing page: the symbol list for signed-in users, the login page otherwise."""
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    from apps.marketdata.selectors import symbol_list

    return render(request, "home.html", {"symbols": symbol_list()})
