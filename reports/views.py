from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from reports import charts, selectors


# Session login through DRF's login page: the admin's would turn away users who are not staff.
@login_required(login_url="rest_framework:login")
def report_page(request, pk):
    """A report with its charts as inline SVG, for its owner and for staff."""
    report = selectors.report_get(user=request.user, report_id=pk)
    if report is None:
        raise Http404
    return render(
        request, "reports/report.html", {"report": report, "charts": charts.report_charts(report.data)}
    )
