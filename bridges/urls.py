from django.urls import path

from bridges import views
from bridges.whatsapp.views import whatsapp_webhook

app_name = "bridges"

urlpatterns = [
    path("slack/events", views.slack_events, name="slack_events"),
    path("slack/install", views.slack_oauth, name="slack_install"),
    path("slack/oauth_redirect", views.slack_oauth, name="slack_oauth_redirect"),
    path("link/slack/<str:token>/", views.channel_link, {"provider": "slack"}, name="slack_link"),
    path("link/whatsapp/<str:token>/", views.channel_link, {"provider": "whatsapp"}, name="whatsapp_link"),
    path("whatsapp/webhook", whatsapp_webhook, name="whatsapp_webhook"),
]
