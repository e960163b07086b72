from django.urls import path

from payor.web import (
    audit_views,
    dataroom_views,
    finance_views,
    invoice_views,
    milestone_views,
    portal_views,
    vendor_views,
    views,
)

app_name = "web"

urlpatterns = [
    path("", finance_views.landing_view, name="home"),
    path("projects/", views.project_list_view, name="projects"),
    path("projects/<uuid:project_id>/", views.project_detail_view, name="project"),
    path("projects/<uuid:project_id>/finance/", finance_views.project_finance_view, name="project-finance"),
    path("projects/<uuid:project_id>/budget/", finance_views.project_budget_view, name="project-budget"),
    path("projects/<uuid:project_id>/budget/lines/", finance_views.budget_line_create_view, name="budget-line-create"),
    path("budget-lines/<uuid:line_id>/", finance_views.budget_line_update_view, name="budget-line-update"),
    path("contracts/<uuid:contract_id>/", finance_views.contract_detail_view, name="contract"),
    path(
        "contracts/<uuid:contract_id>/change-orders/",
        finance_views.change_order_create_view,
        name="contract-change-order-create",
    ),
    path("contracts/<uuid:contract_id>/<str:action>/", finance_views.contract_action_view, name="contract-action"),
    path(
        "change-orders/<uuid:change_order_id>/decide/",
        finance_views.change_order_decide_view,
        name="change-order-decide",
    ),
    path("vendors/", vendor_views.vendor_list_view, name="vendors"),
    path("vendors/new/", vendor_views.vendor_create_view, name="vendor-new"),
    path("vendors/<uuid:vendor_id>/", vendor_views.vendor_detail_view, name="vendor"),
    path("vendors/<uuid:vendor_id>/kyc/", vendor_views.vendor_kyc_view, name="vendor-kyc"),
    path(
        "vendors/<uuid:vendor_id>/documents/<uuid:document_id>/",
        vendor_views.vendor_document_download_view,
        name="vendor-document",
    ),
    path(
        "vendors/<uuid:vendor_id>/documents/<uuid:document_id>/review/",
        vendor_views.vendor_document_review_view,
        name="vendor-document-review",
    ),
    path("projects/<uuid:project_id>/dataroom/", dataroom_views.dataroom_view, name="project-dataroom"),
    path("dataroom/objects/<uuid:object_id>/", dataroom_views.dataroom_object_view, name="dataroom-object"),
    path("audit/", audit_views.audit_log_view, name="audit"),
    path("audit/export/", audit_views.audit_export_view, name="audit-export"),
    path("invoices/", invoice_views.invoice_list_view, name="invoices"),
    path("invoices/bulk-approve/", invoice_views.invoice_bulk_approve_view, name="invoices-bulk-approve"),
    path("invoices/<uuid:invoice_id>/", invoice_views.invoice_detail_view, name="invoice"),
    path("invoices/<uuid:invoice_id>/action/", invoice_views.invoice_action_view, name="invoice-action"),
    path(
        "invoices/<uuid:invoice_id>/attachments/<uuid:attachment_id>/",
        invoice_views.invoice_attachment_view,
        name="invoice-attachment",
    ),
    path("portal/", portal_views.portal_view, name="portal"),
    path(
        "portal/receipts/<uuid:receipt_id>/<str:fmt>/",
        portal_views.receipt_download_view,
        name="portal-receipt",
    ),
    path("portal/contracts/<uuid:contract_id>/invoices/new/", portal_views.invoice_new_view, name="portal-invoice-new"),
    path("portal/invoices/<uuid:invoice_id>/edit/", portal_views.invoice_edit_view, name="portal-invoice-edit"),
    path(
        "portal/contracts/<uuid:contract_id>/invoices/preview/",
        portal_views.invoice_preview_view,
        name="portal-invoice-preview",
    ),
    path("projects/<uuid:project_id>/milestones/", milestone_views.milestone_board_view, name="project-milestones"),
    path(
        "projects/<uuid:project_id>/milestones/new/",
        milestone_views.work_request_new_view,
        name="project-work-request-new",
    ),
    path("work-requests/<uuid:work_request_id>/", milestone_views.work_request_open_view, name="work-request"),
    path(
        "work-requests/<uuid:work_request_id>/edit/",
        milestone_views.work_request_edit_view,
        name="work-request-edit",
    ),
    path(
        "work-requests/<uuid:work_request_id>/<str:action>/",
        milestone_views.work_request_action_view,
        name="work-request-action",
    ),
    path("milestones/<uuid:milestone_id>/", milestone_views.milestone_open_view, name="milestone"),
    path("submissions/<uuid:submission_id>/review/", milestone_views.submission_review_view, name="submission-review"),
    path(
        "submissions/<uuid:submission_id>/files/<uuid:file_id>/",
        milestone_views.submission_file_view,
        name="submission-file",
    ),
    path("notifications/", milestone_views.notifications_view, name="notifications"),
    path(
        "notifications/<uuid:notification_id>/read/",
        milestone_views.notification_read_view,
        name="notification-read",
    ),
    path("portal/work-requests/", milestone_views.portal_work_requests_view, name="portal-work-requests"),
    path(
        "portal/work-requests/<uuid:work_request_id>/",
        milestone_views.portal_work_request_view,
        name="portal-work-request",
    ),
    path(
        "portal/work-requests/<uuid:work_request_id>/<str:action>/",
        milestone_views.portal_work_request_action_view,
        name="portal-work-request-action",
    ),
    path("portal/milestones/<uuid:milestone_id>/", milestone_views.portal_milestone_view, name="portal-milestone"),
]
