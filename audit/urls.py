from django.urls import path

from audit import views

urlpatterns = [
    path("", views.audit_list, name="audit"),
    path("export.csv", views.audit_export_csv, name="audit-export"),
]
