from django.core.exceptions import ValidationError
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    # Cursor pagination never counts the table and stays stable while new jobs arrive.
    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        ordered_by = self.get_ordering(request, queryset, view)[0].lstrip("-")
        self._position_field = queryset.model._meta.get_field(ordered_by)
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """DRF's decoding, and a position that must be a value of the ordering field: DRF hands
        whatever a tampered cursor holds (`p=notadate`) to the query, which failed with a 500."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                self._position_field.to_python(cursor.position)
            except ValidationError:
                raise NotFound(self.invalid_cursor_message) from None
        return cursor
