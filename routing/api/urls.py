from console.api.routes import api_path
from routing.api import views

urlpatterns = [
    *api_path("imessage/triage-number", views.TriageNumberApi.as_view(), "imessage-triage"),
    *api_path("imessage/assignments", views.AssignmentListApi.as_view(), "imessage-assignments"),
    *api_path(
        "imessage/assignments/<str:assignment_id>",
        views.AssignmentReleaseApi.as_view(),
        "imessage-assignment-detail",
    ),
    *api_path("imessage/numbers", views.NumberListClaimApi.as_view(), "imessage-numbers"),
    *api_path(
        "imessage/contact-rules", views.OrgContactRuleListApi.as_view(), "imessage-contact-rules"
    ),
    *api_path(
        "imessage/identities/<str:handle>/contact-rules",
        views.ContactRuleListCreateApi.as_view(),
        "imessage-identity-contact-rules",
    ),
    *api_path(
        "imessage/identities/<str:handle>/contact-rules/<str:rule_id>",
        views.ContactRuleDetailApi.as_view(),
        "imessage-identity-contact-rule-detail",
    ),
]
