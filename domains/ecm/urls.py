from django.urls import path

from domains.ecm import views

app_name = "ecm"
urlpatterns = [path("tickets/<int:number>/", views.ticket_detail, name="ticket-detail")]
