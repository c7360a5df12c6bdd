"""Admin base classes for the rows the services write: read-only lists that never count a big table."""

from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

# --- Lists that stay fast on a big table -----------------------------------------------------


class ResultCount(int):
    """A row count that is a lower bound or an estimate, and says so when printed.

    The changelist pages and compares with it as a number; its templates and messages print
    it with str(), so they show "10,000+" or "~1,000,000" rather than a falsely exact number.
    """

    text: str

    def __new__(cls, value: int, *, text: str):
        count = super().__new__(cls, value)
        count.text = text
        return count

    def __str__(self) -> str:
        return self.text


def table_row_estimate(queryset: QuerySet) -> int:
    """PostgreSQL's estimate of the rows in the queryset's table (kept fresh by autovacuum).

    -1 (never analyzed) and a missing table both read as 0.
    """
    connection = connections[queryset.db]
    table = connection.ops.quote_name(queryset.model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return max(row[0], 0) if row else 0


def _is_whole_table(queryset: QuerySet) -> bool:
    query = queryset.query
    return not (query.where or query.distinct or query.combinator or query.is_sliced)


class EstimatedCountPaginator(Paginator):
    """A paginator that never counts more than `cap` rows.

    The unfiltered list of a table bigger than `cap` takes PostgreSQL's row estimate
    (pg_class.reltuples), shown as "~1,000,000"; anything else counts at most cap + 1 rows
    (`SELECT count(*) FROM (... LIMIT 10001)`) and shows "10,000+" beyond the cap. Pages go up
    to the count: past the cap, narrow the list with a filter or a search.
    """

    cap = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        if _is_whole_table(queryset):
            estimate = table_row_estimate(queryset)
            if estimate > self.cap:
                return ResultCount(estimate, text=f"~{estimate:,}")
        # No ORDER BY: the database may stop at the first cap + 1 rows of any index.
        counted = queryset.order_by()[: self.cap + 1].count()
        if counted > self.cap:
            return ResultCount(self.cap, text=f"{self.cap:,}+")
        return counted


class IndexedChangeList(ChangeList):
    """A changelist that sorts only by the columns in `sortable_by`, which have an index.

    Django greys out the other column headers but still sorts by any column named in `?o=`,
    which on a big table sorts millions of rows for one page. Those columns are dropped from
    `?o=`, and with none left the list keeps its default order.
    """

    def get_ordering(self, request, queryset):
        if ORDER_VAR in self.params:
            sortable = [part for part in self.params[ORDER_VAR].split(".") if self._is_sortable(part)]
            if sortable:
                self.params[ORDER_VAR] = ".".join(sortable)
            else:
                del self.params[ORDER_VAR]
        return super().get_ordering(request, queryset)

    def _is_sortable(self, part: str) -> bool:
        index = part.removeprefix("-")
        if not index.isdigit() or int(index) >= len(self.list_display):
            return False
        return self.list_display[int(index)] in self.sortable_by


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the services: staff look, and act through admin actions."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False  # no COUNT(*) over a big table for the "N total" link
    show_facets = admin.ShowFacets.NEVER  # facet counts are COUNT(*)s over the filtered table
    sortable_by = ["created_at"]  # the lists' default order; any other column would sort the table

    def get_changelist(self, request, **kwargs):
        return IndexedChangeList

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Removal belongs to a pruning service that also removes the job's TaskResult and log.
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ExactValueFilter(admin.SimpleListFilter):
    """Filter a column by exact value, with choices from code: no SELECT DISTINCT over the table.

    A value that is not among the choices (a job type no longer registered) still filters.
    """

    def values(self) -> list[str]:
        raise NotImplementedError

    def lookups(self, request, model_admin):
        return [(value, value) for value in self.values()]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset
