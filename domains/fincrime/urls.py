from django.urls import path

from domains.fincrime import views

app_name = "fincrime"
urlpatterns = [path("alerts/<int:number>/", views.alert_detail, name="alert-detail")]
