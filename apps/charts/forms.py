"""HTMX forms of the workspace pages."""

from django import forms


class WorkspaceCreateForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    grid = forms.TypedChoiceField(
        choices=[(n, str(n)) for n in (1, 2, 3, 4, 6, 8)], coerce=int, initial=1, required=False
    )
    # Set when the chart page saves its single chart as a new workspace.
    from_chart = forms.IntegerField(required=False, widget=forms.HiddenInput)


class WorkspaceRenameForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
