from django.urls import path

from domains.fraud import views

app_name = "fraud"

urlpatterns = [
    path("rules/<int:rule_id>/", views.rule_detail, name="rule-detail"),
]
