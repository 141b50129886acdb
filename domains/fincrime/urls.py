from django.urls import path

from domains.fincrime import views

app_name = "fincrime"
urlpatterns = [
    path("alerts/<int:number>/", views.alert_detail, name="alert-detail"),
    path("alerts/<int:number>/case/close/", views.case_close_view, name="case-close"),
    path("alerts/<int:number>/case/reopen/", views.case_reopen_view, name="case-reopen"),
]
