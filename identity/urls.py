from django.urls import path

from identity.oidc import SsoCallbackView, SsoStartView

# The names are mozilla-django-oidc's, which builds the redirect URI from them.
urlpatterns = [
    path("authenticate/", SsoStartView.as_view(), name="oidc_authentication_init"),
    path("callback/", SsoCallbackView.as_view(), name="oidc_authentication_callback"),
]
