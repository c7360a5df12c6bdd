from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    # Cursor pagination never counts the table and stays stable while new jobs arrive.
    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 1000
