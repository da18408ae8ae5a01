from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect, render
from django.urls import path

from apps.marketdata.models import Symbol
from apps.marketdata.services import CSV_COLUMNS, symbols_import_csv


class SymbolCsvForm(forms.Form):
    csv_file = forms.FileField(help_text="Header: " + ",".join(CSV_COLUMNS))


@admin.register(Symbol)
class SymbolAdmin(admin.ModelAdmin):
    list_display = (
        "symbol",
        "exchange",
        "asset_type",
        "tick_size",
        "timezone",
        "session_start",
        "session_end",
        "is_active",
        "is_public",
        "is_simulated",
    )
    list_filter = ("asset_type", "exchange", "is_active", "is_public", "is_simulated")
    search_fields = ("symbol", "name", "exchange")
    change_list_template = "admin/marketdata/symbol/change_list.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "symbol",
                    "name",
                    "exchange",
                    "asset_type",
                    "is_active",
                    "is_public",
                    "is_simulated",
                )
            },
        ),
        (
            "Prices and time",
            {"fields": ("tick_size", "price_scale", "timezone", "session_start", "session_end")},
        ),
        (
            "Order flow defaults",
            {
                "fields": (
                    "footprint_row_ticks",
                    "imbalance_ratio",
                    "imbalance_min_volume",
                    "stacked_imbalance_rows",
                )
            },
        ),
    )

    def get_urls(self):
        extra = [
            path(
                "import-csv/",
                self.admin_site.admin_view(self.import_csv),
                name="marketdata_symbol_import_csv",
            )
        ]
        return extra + super().get_urls()

    def import_csv(self, request):
        if not self.has_add_permission(request):
            return redirect("admin:marketdata_symbol_changelist")
        form = SymbolCsvForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            raw = form.cleaned_data["csv_file"].read()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                form.add_error("csv_file", "The file is not UTF-8 text.")
            else:
                result = symbols_import_csv(text)
                if result.errors:
                    for error in result.errors[:50]:
                        form.add_error("csv_file", error)
                else:
                    self.message_user(
                        request,
                        f"Imported symbols: {result.created} created, {result.updated} updated.",
                        messages.SUCCESS,
                    )
                    return redirect("admin:marketdata_symbol_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "opts": self.model._meta,
            "title": "Import symbols from CSV",
        }
        return render(request, "admin/marketdata/symbol/import_csv.html", context)
