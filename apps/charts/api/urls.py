"""Workspace/chart/drawing API routes (DRF, for mobile)."""

urlpatterns: list = []
