from django.apps import AppConfig


class ChartsConfig(AppConfig):
    name = "apps.charts"
    label = "charts"

    def ready(self):
        from apps.charts import bundle  # noqa: F401 - registers the bundle's system check
