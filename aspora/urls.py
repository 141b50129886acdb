from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from aspora import views
from aspora.api import api
from aspora.observability import views as observability_views

admin.site.site_header = "Aspora administration"
admin.site.site_title = "Aspora admin"
admin.site.index_title = "Skills, people and permissions"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("console/", views.console, name="console"),
    path("factory/", include("factory.urls")),
    path("usage/", include("usage.urls")),
    path("audit/", include("audit.urls")),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", observability_views.metrics, name="metrics"),
    path("ecm/", include("domains.ecm.urls")),
    path("fincrime/", include("domains.fincrime.urls")),
    path("fraud/", include("domains.fraud.urls")),
    path("oidc/", include("identity.urls")),
    path("admin/", admin.site.urls),
    path("", include("bridges.urls")),
    path("api/", api.urls),
]
