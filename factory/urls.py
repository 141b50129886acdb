from django.urls import path

from factory import views

# Not namespaced: the portal's navigation links to the queue by the plain name "factory".
urlpatterns = [
    path("", views.queue, name="factory"),
    path("preview/", views.spec_preview, name="factory-spec-preview"),
    path("policy/", views.policy, name="factory-policy"),
    path("runs/<uuid:run_id>/", views.run_detail, name="factory-run"),
    path("runs/<uuid:run_id>/approve/", views.run_approve, name="factory-run-approve"),
    path("runs/<uuid:run_id>/stop/", views.run_stop, name="factory-run-stop"),
    path(
        "runs/<uuid:run_id>/deployments/<int:deployment_id>/<str:action>/",
        views.deployment_action,
        name="factory-deployment-action",
    ),
]
