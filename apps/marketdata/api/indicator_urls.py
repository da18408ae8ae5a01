"""Indicator API routes (SPEC section 4)."""

urlpatterns: list = []
