"""Order-flow and profile API routes (SPEC section 4)."""

urlpatterns: list = []
