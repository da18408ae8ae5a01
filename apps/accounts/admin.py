from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from rest_framework_api_key.admin import APIKeyModelAdmin

from apps.accounts.models import FeedKey, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = (
        "username",
        "email",
        "subscription_tier",
        "is_active",
        "is_staff",
        "date_joined",
    )
    list_filter = ("subscription_tier", "is_active", "is_staff")
    search_fields = ("username", "email")
    ordering = ("-date_joined",)
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("TradeFlow", {"fields": ("subscription_tier", "preferences")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "username", "subscription_tier", "password1", "password2"),
            },
        ),
    )


@admin.register(FeedKey)
class FeedKeyAdmin(APIKeyModelAdmin):
    list_display = (*APIKeyModelAdmin.list_display, "feed", "timezone")
    list_filter = ("revoked", "feed")
    search_fields = ("name", "feed", "prefix")
    actions = ["revoke"]

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked=False).update(revoked=True)
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)
