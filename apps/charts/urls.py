"""Chart pages and workspace HTML routes."""

app_name = "charts"
urlpatterns: list = []
